// UTF-16 <-> UTF-8 conversion of WS-Management bodies (hand-written, no iconv).
#include "utf16.hpp"

#include <cstdint>
#include <cstring>

namespace wec::codec {

namespace {

// U+FFFD REPLACEMENT CHARACTER in UTF-8.
constexpr char kReplacement[3] = {'\xEF', '\xBF', '\xBD'};

// XML 1.0 Char: #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF].
// Surrogates are handled separately (they are errors), so only C0 and FFFE/FFFF remain.
inline bool forbidden_c0(uint32_t c) { return c < 0x20 && c != 0x09 && c != 0x0A && c != 0x0D; }

inline char *put_replacement(char *o)
{
  o[0] = kReplacement[0];
  o[1] = kReplacement[1];
  o[2] = kReplacement[2];
  return o + 3;
}

// Writes one BMP (non-surrogate) code point.
inline char *put_bmp(char *o, uint32_t c)
{
  if (c < 0x80)
    {
      if (forbidden_c0(c))
        return put_replacement(o);
      *o++ = static_cast<char>(c);
    }
  else if (c < 0x800)
    {
      *o++ = static_cast<char>(0xC0 | (c >> 6));
      *o++ = static_cast<char>(0x80 | (c & 0x3F));
    }
  else
    {
      if (c >= 0xFFFE)
        return put_replacement(o);
      *o++ = static_cast<char>(0xE0 | (c >> 12));
      *o++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
      *o++ = static_cast<char>(0x80 | (c & 0x3F));
    }
  return o;
}

inline char *put_supplementary(char *o, uint32_t c)
{
  *o++ = static_cast<char>(0xF0 | (c >> 18));
  *o++ = static_cast<char>(0x80 | ((c >> 12) & 0x3F));
  *o++ = static_cast<char>(0x80 | ((c >> 6) & 0x3F));
  *o++ = static_cast<char>(0x80 | (c & 0x3F));
  return o;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
constexpr bool kLittleEndianHost = true;
#else
constexpr bool kLittleEndianHost = false;
#endif

template <bool BigEndian> inline uint32_t unit_at(const unsigned char *p)
{
  if (BigEndian)
    return (static_cast<uint32_t>(p[0]) << 8) | p[1];
  return (static_cast<uint32_t>(p[1]) << 8) | p[0];
}

// `data`/`size` exclude the BOM; `base` is the BOM length, added to offsets in error messages.
template <bool BigEndian>
bool decode_utf16(const unsigned char *data, size_t size, size_t base, std::string &utf8, std::string &error)
{
  // Worst case: one UTF-16 unit (2 bytes) -> 3 UTF-8 bytes; a pair (4 bytes) -> 4 bytes.
  utf8.resize(size / 2 * 3);
  char *const out_begin = utf8.data();
  char *o = out_begin;
  const unsigned char *p = data;
  const unsigned char *const end = data + size;

  while (p < end)
    {
      // Fast path: four ASCII, XML-legal units at a time (little-endian hosts, LE input).
      if (!BigEndian && kLittleEndianHost)
        {
          while (end - p >= 8)
            {
              uint64_t v;
              std::memcpy(&v, p, 8);
              // Any unit >= 0x80 (high byte or bit 7 of the low byte set)?
              if (v & 0xFF80FF80FF80FF80ULL)
                break;
              // Any unit < 0x20? (all units < 0x80 here, so no borrow crosses units)
              if ((v - 0x0020002000200020ULL) & 0x8000800080008000ULL)
                break;
              o[0] = static_cast<char>(v);
              o[1] = static_cast<char>(v >> 16);
              o[2] = static_cast<char>(v >> 32);
              o[3] = static_cast<char>(v >> 48);
              o += 4;
              p += 8;
            }
          if (p >= end)
            break;
        }

      uint32_t c = unit_at<BigEndian>(p);
      if (c < 0xD800 || c > 0xDFFF)
        {
          o = put_bmp(o, c);
          p += 2;
          continue;
        }
      if (c >= 0xDC00 || end - p < 4)
        {
          error = "lone surrogate at byte offset " + std::to_string(base + static_cast<size_t>(p - data));
          utf8.clear();
          return false;
        }
      uint32_t low = unit_at<BigEndian>(p + 2);
      if (low < 0xDC00 || low > 0xDFFF)
        {
          error = "lone surrogate at byte offset " + std::to_string(base + static_cast<size_t>(p - data));
          utf8.clear();
          return false;
        }
      o = put_supplementary(o, 0x10000 + ((c - 0xD800) << 10) + (low - 0xDC00));
      p += 4;
    }
  utf8.resize(static_cast<size_t>(o - out_begin));
  return true;
}

// Validates UTF-8 (no overlongs, no surrogates, <= U+10FFFF) and replaces XML-forbidden characters.
bool decode_utf8(const unsigned char *data, size_t size, size_t base, std::string &utf8, std::string &error)
{
  // Valid runs are copied in bulk; only replacements (rare) interrupt them.
  utf8.clear();
  utf8.reserve(size + 16);
  const unsigned char *p = data;
  const unsigned char *const end = data + size;
  const unsigned char *run = p; // start of bytes not yet copied

  auto fail = [&](const unsigned char *at) {
    error = "invalid UTF-8 at byte offset " + std::to_string(base + static_cast<size_t>(at - data));
    utf8.clear();
    return false;
  };

  while (p < end)
    {
      // Fast path: 8 ASCII bytes >= 0x20.
      while (end - p >= 8)
        {
          uint64_t v;
          std::memcpy(&v, p, 8);
          if (v & 0x8080808080808080ULL)
            break;
          if ((v - 0x2020202020202020ULL) & 0x8080808080808080ULL)
            break;
          p += 8;
        }
      if (p >= end)
        break;

      unsigned char b = *p;
      if (b < 0x80)
        {
          if (forbidden_c0(b))
            {
              utf8.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p - run));
              utf8.append(kReplacement, 3);
              ++p;
              run = p;
            }
          else
            ++p;
          continue;
        }
      if (b < 0xC2)
        return fail(p);
      if (b < 0xE0)
        {
          if (end - p < 2 || (p[1] & 0xC0) != 0x80)
            return fail(p);
          p += 2;
          continue;
        }
      if (b < 0xF0)
        {
          if (end - p < 3 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80)
            return fail(p);
          if (b == 0xE0 && p[1] < 0xA0) // overlong
            return fail(p);
          if (b == 0xED && p[1] >= 0xA0) // surrogate
            return fail(p);
          if (b == 0xEF && p[1] == 0xBF && (p[2] == 0xBE || p[2] == 0xBF)) // U+FFFE / U+FFFF
            {
              utf8.append(reinterpret_cast<const char *>(run), static_cast<size_t>(p - run));
              utf8.append(kReplacement, 3);
              p += 3;
              run = p;
              continue;
            }
          p += 3;
          continue;
        }
      if (b < 0xF5)
        {
          if (end - p < 4 || (p[1] & 0xC0) != 0x80 || (p[2] & 0xC0) != 0x80 || (p[3] & 0xC0) != 0x80)
            return fail(p);
          if (b == 0xF0 && p[1] < 0x90) // overlong
            return fail(p);
          if (b == 0xF4 && p[1] >= 0x90) // > U+10FFFF
            return fail(p);
          p += 4;
          continue;
        }
      return fail(p);
    }
  utf8.append(reinterpret_cast<const char *>(run), static_cast<size_t>(end - run));
  return true;
}

} // namespace

bool decode_body(std::string_view bytes, std::string &utf8, std::string &error)
{
  const auto *data = reinterpret_cast<const unsigned char *>(bytes.data());
  const size_t size = bytes.size();

  enum class Kind
  {
    Utf16Le,
    Utf16Be,
    Utf8
  } kind;
  size_t bom = 0;
  if (size >= 2 && data[0] == 0xFF && data[1] == 0xFE)
    {
      kind = Kind::Utf16Le;
      bom = 2;
    }
  else if (size >= 2 && data[0] == 0xFE && data[1] == 0xFF)
    {
      kind = Kind::Utf16Be;
      bom = 2;
    }
  else if (size >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF)
    {
      kind = Kind::Utf8;
      bom = 3;
    }
  else if (size >= 2 && data[1] == 0)
    kind = Kind::Utf16Le;
  else
    kind = Kind::Utf8;

  if (kind == Kind::Utf8)
    return decode_utf8(data + bom, size - bom, bom, utf8, error);

  if (size % 2 != 0)
    {
      error = "odd number of bytes (" + std::to_string(size) + ") in a UTF-16 body";
      utf8.clear();
      return false;
    }
  if (kind == Kind::Utf16Le)
    return decode_utf16<false>(data + bom, size - bom, bom, utf8, error);
  return decode_utf16<true>(data + bom, size - bom, bom, utf8, error);
}

std::string encode_utf16le_with_bom(std::string_view utf8)
{
  // Each UTF-8 byte yields at most 2 output bytes (1-3 byte sequences -> 1 unit, 4 -> 2 units).
  std::string out;
  out.resize(2 + utf8.size() * 2);
  char *o = out.data();
  *o++ = '\xFF';
  *o++ = '\xFE';

  const auto *p = reinterpret_cast<const unsigned char *>(utf8.data());
  const auto *const end = p + utf8.size();

  auto put_unit = [&o](uint32_t u) {
    o[0] = static_cast<char>(u & 0xFF);
    o[1] = static_cast<char>(u >> 8);
    o += 2;
  };

  while (p < end)
    {
      while (end - p >= 4)
        {
          uint32_t v;
          std::memcpy(&v, p, 4);
          if (v & 0x80808080U)
            break;
          o[0] = static_cast<char>(p[0]);
          o[1] = 0;
          o[2] = static_cast<char>(p[1]);
          o[3] = 0;
          o[4] = static_cast<char>(p[2]);
          o[5] = 0;
          o[6] = static_cast<char>(p[3]);
          o[7] = 0;
          o += 8;
          p += 4;
        }
      if (p >= end)
        break;

      unsigned char b = *p;
      if (b < 0x80)
        {
          put_unit(b);
          ++p;
          continue;
        }
      // Invalid input (should not happen: we encode our own UTF-8) becomes U+FFFD, one byte at a time.
      if (b >= 0xC2 && b < 0xE0 && end - p >= 2 && (p[1] & 0xC0) == 0x80)
        {
          put_unit(((b & 0x1Fu) << 6) | (p[1] & 0x3Fu));
          p += 2;
          continue;
        }
      if (b >= 0xE0 && b < 0xF0 && end - p >= 3 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80)
        {
          uint32_t c = ((b & 0x0Fu) << 12) | ((p[1] & 0x3Fu) << 6) | (p[2] & 0x3Fu);
          if (c >= 0x800 && (c < 0xD800 || c > 0xDFFF))
            {
              put_unit(c);
              p += 3;
              continue;
            }
        }
      else if (b >= 0xF0 && b < 0xF5 && end - p >= 4 && (p[1] & 0xC0) == 0x80 && (p[2] & 0xC0) == 0x80 &&
               (p[3] & 0xC0) == 0x80)
        {
          uint32_t c = ((b & 0x07u) << 18) | ((p[1] & 0x3Fu) << 12) | ((p[2] & 0x3Fu) << 6) | (p[3] & 0x3Fu);
          if (c >= 0x10000 && c <= 0x10FFFF)
            {
              c -= 0x10000;
              put_unit(0xD800 + (c >> 10));
              put_unit(0xDC00 + (c & 0x3FF));
              p += 4;
              continue;
            }
        }
      put_unit(0xFFFD);
      ++p;
    }
  out.resize(static_cast<size_t>(o - out.data()));
  return out;
}

} // namespace wec::codec
