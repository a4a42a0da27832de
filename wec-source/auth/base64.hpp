// Base64 as HTTP authentication headers use it (RFC 4648 alphabet, padded).
#pragma once

#include <string>
#include <string_view>

namespace wec::auth {

std::string base64_encode(std::string_view bytes);

// Surrounding whitespace is ignored and missing padding tolerated; anything else that is not
// canonical base64 (stray characters, non-zero trailing bits) fails.
bool base64_decode(std::string_view text, std::string &bytes);

} // namespace wec::auth
