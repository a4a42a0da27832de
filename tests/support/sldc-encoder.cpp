#include "sldc-encoder.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wec::codec {

namespace {

// ECMA-321 control codes and history size (as in wec-source/codec/sldc.cpp, the decoder).
constexpr unsigned kEndOfRecord = 4;
constexpr unsigned kReset1 = 5;
constexpr unsigned kReset2 = 6;
constexpr std::size_t kHistorySize = 1024;
constexpr std::size_t kHistoryMask = kHistorySize - 1;
constexpr unsigned kMinMatch = 2;
constexpr unsigned kMaxMatch = 271;

class BitWriter
{
public:
  explicit BitWriter(std::size_t reserve) { out_.reserve(reserve); }
  void put(uint32_t value, unsigned bits) // bits <= 32; acc keeps < 32 pending bits
  {
    acc_ = (acc_ << bits) | value;
    n_ += bits;
    if (n_ >= 32)
      {
        n_ -= 32;
        const uint32_t w = uint32_t(acc_ >> n_);
        const char bytes[4] = {char(w >> 24), char(w >> 16), char(w >> 8), char(w)};
        out_.append(bytes, 4);
      }
  }
  // Zero bits up to a 16-bit boundary, then the remaining whole bytes.
  void pad16()
  {
    put(0, (16 - n_ % 16) % 16);
    while (n_ >= 8)
      {
        n_ -= 8;
        out_ += char(acc_ >> n_);
      }
  }
  std::string &bytes() { return out_; }

private:
  std::string out_;
  uint64_t acc_ = 0;
  unsigned n_ = 0;
};

inline void put_control(BitWriter &w, unsigned code) { w.put((0x1FFu << 4) | code, 13); }

// Match-count field for len (2..271): value and width.
inline void match_field(unsigned len, uint32_t *value, unsigned *bits)
{
  if (len < 4)
    *value = len - 2, *bits = 2;
  else if (len < 8)
    *value = (0x2u << 2) | (len - 4), *bits = 4;
  else if (len < 16)
    *value = (0x6u << 3) | (len - 8), *bits = 6;
  else if (len < 32)
    *value = (0xEu << 4) | (len - 16), *bits = 8;
  else
    *value = (0xFu << 8) | (len - 32), *bits = 12;
}

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "common_prefix assumes little-endian");

inline unsigned common_prefix(const uint8_t *a, const uint8_t *b, unsigned max)
{
  unsigned n = 0;
  while (n + 8 <= max)
    {
      uint64_t x, y;
      std::memcpy(&x, a + n, 8);
      std::memcpy(&y, b + n, 8);
      if (x != y)
        return n + unsigned(__builtin_ctzll(x ^ y) >> 3); // little-endian: lowest byte first
      n += 8;
    }
  while (n < max && a[n] == b[n])
    ++n;
  return n;
}

constexpr unsigned kHashBits = 12;
constexpr unsigned kChainDepth = 16; // candidates with equal 3-byte prefix examined per position

inline uint32_t hash3(const uint8_t *p)
{
  const uint32_t v = (uint32_t(p[0]) << 16) | (uint32_t(p[1]) << 8) | p[2];
  return (v * 0x9E3779B1u) >> (32 - kHashBits);
}

inline bool same3(const uint8_t *a, const uint8_t *b) { return a[0] == b[0] && a[1] == b[1] && a[2] == b[2]; }

} // namespace

std::string sldc_compress(std::string_view input)
{
  const auto *in = reinterpret_cast<const uint8_t *>(input.data());
  const std::size_t n = input.size();
  BitWriter w(n / 2 + 64);
  put_control(w, kReset1);

  std::vector<int64_t> head3(std::size_t(1) << kHashBits, -1);
  std::vector<int64_t> prev3(kHistorySize, -1); // link for position j at j % 1024
  std::vector<int64_t> head2(65536, -1);

  auto insert = [&](std::size_t k) {
    if (k + 2 < n)
      {
        const uint32_t h = hash3(in + k);
        prev3[k & kHistoryMask] = head3[h];
        head3[h] = int64_t(k);
      }
    if (k + 1 < n)
      head2[(unsigned(in[k]) << 8) | in[k + 1]] = int64_t(k);
  };

  uint64_t scheme1_bits = 0;
  std::size_t i = 0;
  while (i < n)
    {
      const unsigned max_len = unsigned(std::min<std::size_t>(kMaxMatch, n - i));
      const int64_t lowest = int64_t(i) - int64_t(kHistorySize);
      unsigned best_len = 0;
      int64_t best_at = -1;
      if (max_len >= 3)
        {
          unsigned depth = kChainDepth;
          for (int64_t j = head3[hash3(in + i)]; j >= 0 && j >= lowest && depth > 0;
               j = prev3[std::size_t(j) & kHistoryMask])
            {
              if (!same3(in + j, in + i))
                continue; // hash collision: not a candidate, does not count
              --depth;
              if (best_len != 0 && in[j + best_len] != in[i + best_len])
                continue; // cannot be longer than the best so far
              const unsigned len = common_prefix(in + j, in + i, max_len);
              if (len > best_len)
                {
                  best_len = len;
                  best_at = j;
                  if (len == max_len)
                    break;
                }
            }
        }
      if (best_len < kMinMatch && max_len >= kMinMatch)
        {
          const int64_t j = head2[(unsigned(in[i]) << 8) | in[i + 1]];
          if (j >= 0 && j >= lowest)
            {
              best_len = common_prefix(in + j, in + i, max_len);
              best_at = j;
            }
        }
      if (best_len >= kMinMatch)
        {
          uint32_t field;
          unsigned field_bits;
          match_field(best_len, &field, &field_bits);
          const unsigned bits = 1 + field_bits + 10;
          w.put((1u << (bits - 1)) | (field << 10) | unsigned(std::size_t(best_at) & kHistoryMask), bits);
          scheme1_bits += bits;
          for (std::size_t k = i; k < i + best_len; ++k)
            insert(k);
          i += best_len;
        }
      else
        {
          w.put(in[i], 9);
          scheme1_bits += 9;
          insert(i);
          ++i;
        }
    }

  // Scheme 2 costs 8 bits a byte plus one per 0xFF; use it when it is smaller.
  const uint64_t scheme2_bits = uint64_t(n) * 8 + uint64_t(std::count(input.begin(), input.end(), char(0xFF)));
  if (scheme2_bits < scheme1_bits)
    {
      w = BitWriter(n + n / 64 + 16);
      put_control(w, kReset2);
      for (std::size_t k = 0; k < n; ++k)
        {
          if (in[k] == 0xFF)
            w.put(0xFFu << 1, 9);
          else
            w.put(in[k], 8);
        }
    }

  put_control(w, kEndOfRecord);
  w.pad16();
  const uint32_t length = uint32_t(n);
  const char trailer[4] = {char(length), char(length >> 8), char(length >> 16), char(length >> 24)};
  w.bytes().append(trailer, 4);
  return std::move(w.bytes());
}

} // namespace wec::codec
