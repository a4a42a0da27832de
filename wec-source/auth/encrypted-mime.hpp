// The MIME framing of WS-Management message encryption ([MS-WSMV] 2.2.9.1.1.2.2): a
// multipart/encrypted body with one descriptive part (OriginalContent type and length) and one
// application/octet-stream part holding `le32 header length | GSS wrap token header | ciphertext`.
// Pure byte handling, no GSSAPI: the Kerberos code decrypts the slices this parser finds.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace wec::auth::mime {

enum class Protocol
{
  Kerberos, // application/HTTP-Kerberos-session-encrypted ("Authorization: Kerberos")
  Spnego,   // application/HTTP-SPNEGO-session-encrypted ("Authorization: Negotiate")
};

// The boundary this side writes.
inline constexpr std::string_view kBoundary = "Encrypted Boundary";

// What precedes each part header line this side writes. [MS-WSMV] and pywinrm use a TAB, the
// Windows capture and openwec none; Windows accepts both. Change here and only here.
inline constexpr std::string_view kPartHeaderIndent = "\t";

// Upper bound of the GSS wrap token header length accepted in a body (AES: 60, RC4: 45-ish).
inline constexpr std::uint32_t kMaxTokenHeaderLength = 4096;

std::string_view protocol_name(Protocol protocol);

// The Content-Type header value of an encrypted body this side writes:
// multipart/encrypted;protocol="application/HTTP-Kerberos-session-encrypted";boundary="Encrypted Boundary"
std::string content_type(Protocol protocol);

// Returns true when the Content-Type header value announces a WS-Management encrypted body
// (multipart/encrypted with one of the two protocols), whatever its boundary.
bool is_encrypted_content_type(std::string_view content_type);

// The slices of one parsed encrypted body. The views point into the body passed to parse().
struct EncryptedBody
{
  Protocol protocol = Protocol::Kerberos;
  std::string_view original_type;  // "application/soap+xml;charset=UTF-16"
  std::size_t original_length = 0; // OriginalContent Length (plaintext bytes)
  std::string_view token_header;   // the L bytes after the le32 length
  std::string_view ciphertext;     // everything up to the closing boundary
};

enum class ParseError
{
  None,
  BadContentType, // not multipart/encrypted, unknown protocol, no boundary
  Malformed,      // framing missing, truncated or inconsistent
};

// Parses a body. On failure returns false, sets `error` to one line and `kind`.
// Every length in the body is treated as hostile: nothing is read outside `body`.
bool parse(std::string_view content_type, std::string_view body, EncryptedBody &out, std::string &error,
           ParseError &kind);

// Layout of a body this side writes, so that the caller can let GSSAPI encrypt in place:
//   prefix | le32(header_length) | header | data | padding | suffix
struct Layout
{
  std::size_t header_length_offset = 0; // where the le32 goes
  std::size_t header_offset = 0;
  std::size_t data_offset = 0;
  std::size_t padding_offset = 0;
  std::size_t suffix_offset = 0;
  std::size_t total = 0;
};

// Sizes `body` to the full message and writes the fixed MIME text, the le32 header length and the
// plaintext at data_offset; the header and padding slots are left for the caller to fill.
Layout frame(std::string &body, Protocol protocol, std::string_view original_type, std::string_view plaintext,
             std::size_t header_length, std::size_t padding_length);

// Shrinks the padding slot of a framed body to `padding_length` (<= the reserved length),
// moving the closing boundary. Used when GSSAPI wrote less padding than it announced.
void shrink_padding(std::string &body, Layout &layout, std::size_t padding_length);

} // namespace wec::auth::mime
