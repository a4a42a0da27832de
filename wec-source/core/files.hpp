// Reading a configured file (certificates, CRLs, keys, query files) whole.
#pragma once

#include <string>

namespace wec {

// The file's bytes, or false with errno left as the failed open set it.
bool read_whole_file(const std::string &path, std::string &out);

} // namespace wec
