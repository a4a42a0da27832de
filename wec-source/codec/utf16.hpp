// Text encodings of WS-Management bodies: Windows sends and expects UTF-16LE with a BOM.
#pragma once

#include <string>
#include <string_view>

namespace wec::codec {

// Body bytes -> UTF-8. Accepts UTF-16LE with or without BOM (no BOM and not UTF-8 → UTF-16LE
// is assumed when the second byte is 0), UTF-16BE with BOM, UTF-8 with or without BOM.
// Characters that XML 1.0 forbids (C0 controls other than TAB/LF/CR, U+FFFE/U+FFFF) are
// replaced by U+FFFD so that one bad character in an event does not lose a whole batch.
// Returns false with a one-line reason for odd length, lone surrogates or invalid UTF-8.
bool decode_body(std::string_view bytes, std::string &utf8, std::string &error);

// UTF-8 -> UTF-16LE prefixed with the FF FE byte order mark.
std::string encode_utf16le_with_bom(std::string_view utf8);

} // namespace wec::codec
