// What the Kerberos unit tests share, with or without a KDC: multipart/encrypted bodies laid out
// by hand (Windows' framing and the specification's), the content types, sample payloads.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace kerberos_fixtures {

inline std::string le32(std::uint32_t v)
{
  std::string s(4, '\0');
  s[0] = static_cast<char>(v & 0xff);
  s[1] = static_cast<char>((v >> 8) & 0xff);
  s[2] = static_cast<char>((v >> 16) & 0xff);
  s[3] = static_cast<char>((v >> 24) & 0xff);
  return s;
}

inline const std::string kKrbContentType =
    "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\"";
inline const std::string kSoapType = "application/soap+xml;charset=UTF-16";

// A body laid out by hand, the way Windows (indent "") or the spec/pywinrm (indent "\t") write it.
inline std::string hand_body(const std::string &indent, const std::string &boundary, std::size_t original_length,
                             const std::string &header, const std::string &cipher, const std::string &before_close = "")
{
  return "--" + boundary + "\r\n" + indent + "Content-Type: application/HTTP-Kerberos-session-encrypted\r\n" + indent +
         "OriginalContent: type=" + kSoapType + ";Length=" + std::to_string(original_length) + "\r\n--" + boundary +
         "\r\n" + indent + "Content-Type: application/octet-stream\r\n" +
         le32(static_cast<std::uint32_t>(header.size())) + header + cipher + before_close + "--" + boundary + "--\r\n";
}

// A UTF-16LE-ish SOAP payload with every byte value in it.
inline std::string sample_plaintext(std::size_t size)
{
  std::string s = std::string("\xff\xfe", 2);
  for (std::size_t i = 0; s.size() < size; ++i)
    s.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  s.resize(size);
  return s;
}

} // namespace kerberos_fixtures
