#include "encrypted-mime.hpp"

#include <cstring>

namespace wec::auth::mime {

namespace {

constexpr std::string_view kKerberosProtocol = "application/HTTP-Kerberos-session-encrypted";
constexpr std::string_view kSpnegoProtocol = "application/HTTP-SPNEGO-session-encrypted";
constexpr std::string_view kOctetStream = "application/octet-stream";
constexpr std::size_t kMaxPartHeaderLines = 16;
constexpr std::size_t kMaxTrailingBlanks = 64;

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool iequals(std::string_view a, std::string_view b)
{
  if (a.size() != b.size())
    return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != lower(b[i]))
      return false;
  return true;
}

bool istarts_with(std::string_view s, std::string_view prefix)
{
  return s.size() >= prefix.size() && iequals(s.substr(0, prefix.size()), prefix);
}

bool is_space(char c) { return c == ' ' || c == '\t'; }

std::string_view trim(std::string_view s)
{
  while (!s.empty() && is_space(s.front()))
    s.remove_prefix(1);
  while (!s.empty() && is_space(s.back()))
    s.remove_suffix(1);
  return s;
}

bool protocol_from_name(std::string_view name, Protocol &protocol)
{
  name = trim(name);
  if (iequals(name, kKerberosProtocol))
    protocol = Protocol::Kerberos;
  else if (iequals(name, kSpnegoProtocol))
    protocol = Protocol::Spnego;
  else
    return false;
  return true;
}

// Splits a Content-Type value into its media type and the protocol/boundary parameters.
// Parameter values may be quoted ("..." with backslash escapes) or plain tokens.
bool parse_content_type(std::string_view value, std::string_view &media_type, std::string &protocol,
                        std::string &boundary, bool &have_protocol, bool &have_boundary)
{
  have_protocol = have_boundary = false;
  std::size_t pos = value.find(';');
  media_type = trim(value.substr(0, pos));
  while (pos != std::string_view::npos && pos < value.size())
    {
      ++pos; // past ';'
      while (pos < value.size() && is_space(value[pos]))
        ++pos;
      std::size_t eq = pos;
      while (eq < value.size() && value[eq] != '=' && value[eq] != ';')
        ++eq;
      std::string_view name = trim(value.substr(pos, eq - pos));
      if (eq >= value.size() || value[eq] == ';')
        {
          pos = eq < value.size() ? eq : std::string_view::npos;
          continue; // a parameter without value: ignore
        }
      pos = eq + 1;
      while (pos < value.size() && is_space(value[pos]))
        ++pos;
      std::string param;
      if (pos < value.size() && value[pos] == '"')
        {
          ++pos;
          bool closed = false;
          while (pos < value.size())
            {
              char c = value[pos++];
              if (c == '\\' && pos < value.size())
                c = value[pos++];
              else if (c == '"')
                {
                  closed = true;
                  break;
                }
              param.push_back(c);
            }
          if (!closed)
            return false;
          while (pos < value.size() && value[pos] != ';')
            ++pos;
        }
      else
        {
          std::size_t end = value.find(';', pos);
          param = std::string(trim(value.substr(pos, end == std::string_view::npos ? end : end - pos)));
          pos = end;
        }
      if (iequals(name, "protocol"))
        {
          protocol = std::move(param);
          have_protocol = true;
        }
      else if (iequals(name, "boundary"))
        {
          boundary = std::move(param);
          have_boundary = true;
        }
      if (pos != std::string_view::npos && pos >= value.size())
        break;
    }
  return true;
}

// Reads one CRLF-terminated line starting at `pos`; false when no CRLF follows.
bool read_line(std::string_view body, std::size_t &pos, std::string_view &line)
{
  if (pos > body.size())
    return false;
  std::size_t end = body.find("\r\n", pos);
  if (end == std::string_view::npos)
    return false;
  line = body.substr(pos, end - pos);
  pos = end + 2;
  return true;
}

bool is_delimiter(std::string_view line, std::string_view boundary)
{
  line = trim(line); // transport padding after a delimiter is allowed
  return line.size() == boundary.size() + 2 && line.substr(0, 2) == "--" && line.substr(2) == boundary;
}

// "Name: value" of a part header line, with optional leading whitespace (the spec's TAB).
bool split_header(std::string_view line, std::string_view &name, std::string_view &value)
{
  line = trim(line);
  std::size_t colon = line.find(':');
  if (colon == std::string_view::npos || colon == 0)
    return false;
  name = trim(line.substr(0, colon));
  value = trim(line.substr(colon + 1));
  return true;
}

// "type=application/soap+xml;charset=UTF-16;Length=1234": the type may itself contain ';',
// so Length is the last ";Length=" parameter.
bool parse_original_content(std::string_view value, std::string_view &type, std::size_t &length, std::string &error)
{
  std::size_t at = std::string_view::npos;
  for (std::size_t i = value.size(); i-- > 0;)
    if (value[i] == ';' && istarts_with(trim(value.substr(i + 1)), "length="))
      {
        at = i;
        break;
      }
  std::string_view before = value;
  std::string_view number;
  if (at == std::string_view::npos)
    {
      if (!istarts_with(trim(value), "length="))
        {
          error = "encrypted body: OriginalContent has no Length";
          return false;
        }
      before = {};
      number = trim(value).substr(7);
    }
  else
    {
      before = value.substr(0, at);
      number = trim(trim(value.substr(at + 1)).substr(7));
    }
  if (number.empty() || number.size() > 12)
    {
      error = "encrypted body: OriginalContent Length is not a number";
      return false;
    }
  std::uint64_t n = 0;
  for (char c : number)
    {
      if (c < '0' || c > '9')
        {
          error = "encrypted body: OriginalContent Length is not a number";
          return false;
        }
      n = n * 10 + static_cast<unsigned>(c - '0');
    }
  length = static_cast<std::size_t>(n);
  before = trim(before);
  if (istarts_with(before, "type="))
    before = trim(before.substr(5));
  type = before;
  return true;
}

void put_le32(char *out, std::uint32_t v)
{
  out[0] = static_cast<char>(v & 0xff);
  out[1] = static_cast<char>((v >> 8) & 0xff);
  out[2] = static_cast<char>((v >> 16) & 0xff);
  out[3] = static_cast<char>((v >> 24) & 0xff);
}

std::string prefix_text(Protocol protocol, std::string_view original_type, std::size_t length)
{
  std::string p;
  p.reserve(256);
  p.append("--").append(kBoundary).append("\r\n");
  p.append(kPartHeaderIndent).append("Content-Type: ").append(protocol_name(protocol)).append("\r\n");
  p.append(kPartHeaderIndent).append("OriginalContent: type=").append(original_type);
  p.append(";Length=").append(std::to_string(length)).append("\r\n");
  p.append("--").append(kBoundary).append("\r\n");
  p.append(kPartHeaderIndent).append("Content-Type: ").append(kOctetStream).append("\r\n");
  return p;
}

std::string suffix_text()
{
  std::string s;
  s.append("--").append(kBoundary).append("--\r\n");
  return s;
}

} // namespace

std::string_view protocol_name(Protocol protocol)
{
  return protocol == Protocol::Spnego ? kSpnegoProtocol : kKerberosProtocol;
}

std::string content_type(Protocol protocol)
{
  std::string ct = "multipart/encrypted;protocol=\"";
  ct.append(protocol_name(protocol)).append("\";boundary=\"").append(kBoundary).append("\"");
  return ct;
}

bool is_encrypted_content_type(std::string_view value)
{
  std::string_view media;
  std::string protocol, boundary;
  bool have_protocol, have_boundary;
  Protocol p;
  return parse_content_type(value, media, protocol, boundary, have_protocol, have_boundary) &&
         iequals(media, "multipart/encrypted") && have_protocol && protocol_from_name(protocol, p);
}

bool parse(std::string_view content_type, std::string_view body, EncryptedBody &out, std::string &error,
           ParseError &kind)
{
  kind = ParseError::BadContentType;
  std::string_view media;
  std::string protocol_param, boundary;
  bool have_protocol = false, have_boundary = false;
  if (!parse_content_type(content_type, media, protocol_param, boundary, have_protocol, have_boundary))
    {
      error = "encrypted body: unterminated quote in Content-Type";
      return false;
    }
  if (!iequals(media, "multipart/encrypted"))
    {
      error = "encrypted body expected (multipart/encrypted), got Content-Type `" + std::string(media) + "`";
      return false;
    }
  if (!have_protocol || !protocol_from_name(protocol_param, out.protocol))
    {
      error = "encrypted body: unsupported protocol `" + protocol_param +
              "` (want application/HTTP-Kerberos-session-encrypted or application/HTTP-SPNEGO-session-encrypted)";
      return false;
    }
  if (!have_boundary || boundary.empty() || boundary.size() > 200)
    {
      error = "encrypted body: Content-Type has no usable boundary";
      return false;
    }

  kind = ParseError::Malformed;
  std::size_t pos = 0;
  std::size_t blanks = 0;
  while (body.substr(pos, 2) == "\r\n" && blanks++ < kMaxTrailingBlanks)
    pos += 2;

  std::string_view line;
  if (!read_line(body, pos, line) || !is_delimiter(line, boundary))
    {
      error = "encrypted body: does not start with the boundary `--" + boundary + "`";
      return false;
    }

  // First part: Content-Type (the protocol) and OriginalContent, up to the next delimiter.
  bool have_original = false, have_part_type = false;
  std::size_t lines = 0;
  for (;;)
    {
      if (!read_line(body, pos, line))
        {
          error = "encrypted body: truncated in the first part";
          return false;
        }
      if (is_delimiter(line, boundary))
        break;
      if (trim(line).empty())
        continue;
      if (++lines > kMaxPartHeaderLines)
        {
          error = "encrypted body: too many header lines in the first part";
          return false;
        }
      std::string_view name, value;
      if (!split_header(line, name, value))
        {
          error = "encrypted body: bad header line in the first part";
          return false;
        }
      if (iequals(name, "Content-Type"))
        {
          Protocol part_protocol;
          if (!protocol_from_name(value, part_protocol))
            {
              error = "encrypted body: first part has Content-Type `" + std::string(value) +
                      "`, not an HTTP session-encrypted protocol";
              return false;
            }
          have_part_type = true;
        }
      else if (iequals(name, "OriginalContent"))
        {
          if (!parse_original_content(value, out.original_type, out.original_length, error))
            return false;
          have_original = true;
        }
    }
  if (!have_part_type)
    {
      error = "encrypted body: first part has no Content-Type";
      return false;
    }
  if (!have_original)
    {
      error = "encrypted body: first part has no OriginalContent";
      return false;
    }

  // Second part: exactly one header line, then the binary directly (no blank line).
  if (!read_line(body, pos, line))
    {
      error = "encrypted body: truncated before the second part";
      return false;
    }
  std::string_view name, value;
  if (!split_header(line, name, value) || !iequals(name, "Content-Type") || !iequals(value, kOctetStream))
    {
      error = "encrypted body: second part is not `Content-Type: application/octet-stream`";
      return false;
    }

  std::string_view rest = body.substr(pos);
  if (rest.size() < 4)
    {
      error = "encrypted body: truncated before the token header length";
      return false;
    }
  const auto *b = reinterpret_cast<const unsigned char *>(rest.data());
  std::uint32_t header_length = static_cast<std::uint32_t>(b[0]) | (static_cast<std::uint32_t>(b[1]) << 8) |
                                (static_cast<std::uint32_t>(b[2]) << 16) | (static_cast<std::uint32_t>(b[3]) << 24);
  rest.remove_prefix(4);
  if (header_length == 0 || header_length > kMaxTokenHeaderLength)
    {
      error = "encrypted body: token header length " + std::to_string(header_length) + " is out of range";
      return false;
    }
  if (header_length > rest.size())
    {
      error = "encrypted body: token header length " + std::to_string(header_length) + " exceeds the " +
              std::to_string(rest.size()) + " bytes left";
      return false;
    }
  out.token_header = rest.substr(0, header_length);
  rest.remove_prefix(header_length);

  // Closing delimiter at the very end (possibly followed by CRLF / blanks); never searched for
  // inside the ciphertext, which may contain anything.
  std::string_view closing_tail = rest;
  std::size_t stripped = 0;
  while (!closing_tail.empty() &&
         (closing_tail.back() == '\r' || closing_tail.back() == '\n' || is_space(closing_tail.back())) &&
         stripped < kMaxTrailingBlanks)
    {
      closing_tail.remove_suffix(1);
      ++stripped;
    }
  const std::size_t closing_size = boundary.size() + 4;
  if (closing_tail.size() < closing_size || closing_tail.substr(closing_tail.size() - closing_size, 2) != "--" ||
      closing_tail.substr(closing_tail.size() - boundary.size() - 2, boundary.size()) != boundary ||
      closing_tail.substr(closing_tail.size() - 2) != "--")
    {
      error = "encrypted body: no closing boundary `--" + boundary + "--` (truncated?)";
      return false;
    }
  std::string_view cipher = closing_tail.substr(0, closing_tail.size() - closing_size);
  // Some writers put CRLF before the closing delimiter; the spec and Windows do not. The
  // ciphertext may end in CRLF itself, so strip only when that makes the size fit exactly.
  if (cipher.size() == out.original_length + 2 && cipher.substr(cipher.size() - 2) == "\r\n")
    cipher.remove_suffix(2);
  out.ciphertext = cipher;
  kind = ParseError::None;
  return true;
}

Layout frame(std::string &body, Protocol protocol, std::string_view original_type, std::string_view plaintext,
             std::size_t header_length, std::size_t padding_length)
{
  const std::string prefix = prefix_text(protocol, original_type, plaintext.size());
  const std::string suffix = suffix_text();
  Layout l;
  l.header_length_offset = prefix.size();
  l.header_offset = l.header_length_offset + 4;
  l.data_offset = l.header_offset + header_length;
  l.padding_offset = l.data_offset + plaintext.size();
  l.suffix_offset = l.padding_offset + padding_length;
  l.total = l.suffix_offset + suffix.size();
  body.resize(l.total);
  char *p = &body[0];
  std::memcpy(p, prefix.data(), prefix.size());
  put_le32(p + l.header_length_offset, static_cast<std::uint32_t>(header_length));
  if (!plaintext.empty())
    std::memcpy(p + l.data_offset, plaintext.data(), plaintext.size());
  std::memcpy(p + l.suffix_offset, suffix.data(), suffix.size());
  return l;
}

void shrink_padding(std::string &body, Layout &layout, std::size_t padding_length)
{
  std::size_t reserved = layout.suffix_offset - layout.padding_offset;
  if (padding_length >= reserved)
    return;
  body.erase(layout.padding_offset + padding_length, reserved - padding_length);
  layout.suffix_offset = layout.padding_offset + padding_length;
  layout.total = body.size();
}

} // namespace wec::auth::mime
