#include "core/files.hpp"

#include <fstream>
#include <sstream>

namespace wec {

bool read_whole_file(const std::string &path, std::string &out)
{
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream bytes;
  bytes << in.rdbuf();
  out = bytes.str();
  return true;
}

} // namespace wec
