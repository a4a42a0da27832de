#include "auth/base64.hpp"

#include <cstdint>

namespace wec::auth {

std::string base64_encode(std::string_view bytes)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3)
    {
      std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.push_back(alphabet[(v >> 6) & 63]);
      out.push_back(alphabet[v & 63]);
    }
  std::size_t rest = bytes.size() - i;
  if (rest == 1)
    {
      std::uint32_t v = p[i] << 16;
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.append("==");
    }
  else if (rest == 2)
    {
      std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.push_back(alphabet[(v >> 6) & 63]);
      out.push_back('=');
    }
  return out;
}

bool base64_decode(std::string_view text, std::string &bytes)
{
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && ws(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && ws(text.back()))
    text.remove_suffix(1);
  bytes.clear();
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 3)
    {
      text.remove_suffix(1);
      ++padding;
    }
  if (padding > 2 || (padding && (text.size() + padding) % 4 != 0) || text.size() % 4 == 1)
    return false;
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text)
    {
      int v;
      if (c >= 'A' && c <= 'Z')
        v = c - 'A';
      else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 26;
      else if (c >= '0' && c <= '9')
        v = c - '0' + 52;
      else if (c == '+')
        v = 62;
      else if (c == '/')
        v = 63;
      else
        return false;
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return false;
  return true;
}

} // namespace wec::auth
