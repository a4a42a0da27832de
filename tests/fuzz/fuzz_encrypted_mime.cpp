// libFuzzer target: the multipart/encrypted framing of Kerberos/SPNEGO-encrypted bodies.
// Input: the Content-Type header value, a '\n', then the body. An input that starts like a body
// ("--" or CRLF) or has no '\n' is all body, with the Content-Type this side writes.
//  * the slices parse() returns lie inside the body;
//  * build() of the parsed pieces parses back to the same pieces (with kBoundary).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "auth/encrypted-mime.hpp"

namespace mime = wec::auth::mime;

namespace {

[[noreturn]] void fail(const char *what)
{
  std::fprintf(stderr, "fuzz_encrypted_mime: property violated: %s\n", what);
  std::abort();
}

bool inside(std::string_view part, std::string_view whole)
{
  if (part.empty())
    return true;
  const auto p = reinterpret_cast<std::uintptr_t>(part.data());
  const auto w = reinterpret_cast<std::uintptr_t>(whole.data());
  return p >= w && part.size() <= whole.size() && p - w <= whole.size() - part.size();
}

// The parsed pieces framed again, as the specification lays a body out (indent "\t").
std::string rebuild(const mime::EncryptedBody &parts)
{
  const std::string boundary = "--Encrypted Boundary";
  const auto header_length = static_cast<std::uint32_t>(parts.token_header.size());
  std::string body = boundary + "\r\n\tContent-Type: " + std::string(mime::protocol_name(parts.protocol)) +
                     "\r\n\tOriginalContent: type=" + std::string(parts.original_type) +
                     ";Length=" + std::to_string(parts.original_length) + "\r\n" + boundary +
                     "\r\n\tContent-Type: application/octet-stream\r\n";
  for (int i = 0; i < 4; ++i)
    body += static_cast<char>((header_length >> (8 * i)) & 0xff);
  body.append(parts.token_header).append(parts.ciphertext).append(boundary + "--\r\n");
  return body;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  std::string_view input(reinterpret_cast<const char *>(data), size);
  std::string_view content_type = "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";"
                                  "boundary=\"Encrypted Boundary\"";
  std::string_view body = input;
  const bool starts_like_body = input.substr(0, 2) == "--" || input.substr(0, 2) == "\r\n";
  const std::size_t newline = input.find('\n');
  if (!starts_like_body && newline != std::string_view::npos)
    {
      content_type = input.substr(0, newline);
      body = input.substr(newline + 1);
    }
  // Exact-size copies, so that ASan sees any read past either end.
  const std::string ct_copy(content_type);
  const std::string body_copy(body);
  content_type = ct_copy;
  body = body_copy;

  (void) mime::is_encrypted_content_type(content_type);

  mime::EncryptedBody parts;
  std::string error;
  mime::ParseError kind = mime::ParseError::None;
  if (!mime::parse(content_type, body, parts, error, kind))
    {
      if (error.empty() || kind == mime::ParseError::None)
        fail("failure without a reason or kind");
      return 0;
    }
  if (kind != mime::ParseError::None)
    fail("success with an error kind");
  if (!mime::is_encrypted_content_type(content_type))
    fail("parse() accepted a Content-Type that is_encrypted_content_type() refuses");
  if (!inside(parts.original_type, body) || !inside(parts.token_header, body) || !inside(parts.ciphertext, body))
    fail("a slice points outside the body");
  if (parts.token_header.empty() || parts.token_header.size() > mime::kMaxTokenHeaderLength)
    fail("token header length out of range");

  const std::string rebuilt = rebuild(parts);
  mime::EncryptedBody again;
  if (!mime::parse(mime::content_type(parts.protocol), rebuilt, again, error, kind))
    fail("the parsed pieces, framed again, do not parse");
  if (again.protocol != parts.protocol || again.original_type != parts.original_type ||
      again.original_length != parts.original_length || again.token_header != parts.token_header ||
      again.ciphertext != parts.ciphertext)
    fail("build() -> parse() does not give the same pieces");
  return 0;
}
