// SLDC (ECMA-321) decoder (the encoder is test code: tests/support/sldc-encoder.cpp). See sldc.hpp for the format summary.
#include "sldc.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

namespace wec::codec {

namespace {

// Control symbol codes (the 4 bits after the nine 1-bits).
constexpr unsigned kFlush = 0;
constexpr unsigned kScheme1 = 1;
constexpr unsigned kScheme2 = 2;
constexpr unsigned kFileMark = 3;
constexpr unsigned kEndOfRecord = 4;
constexpr unsigned kReset1 = 5;
constexpr unsigned kReset2 = 6;
constexpr unsigned kEndMarker = 15;

constexpr std::size_t kHistorySize = 1024;
constexpr std::size_t kHistoryMask = kHistorySize - 1;

// Largest possible expansion: a 271-byte copy costs 1 + 12 + 10 = 23 bits, i.e. < 95 output
// bytes per input byte. Used to bound the output buffer when max_output is generous.
constexpr std::size_t kMaxExpansion = 95;

inline bool valid_control_code(unsigned code) { return code <= kReset2 || code == kEndMarker; }

// The 13-bit symbol starting at byte `at` (byte aligned) is a control symbol with a valid code.
inline bool control_at(const uint8_t *data, std::size_t size, std::size_t at, unsigned *code)
{
  if (at + 2 > size)
    return false;
  const unsigned v = ((unsigned(data[at]) << 8) | data[at + 1]) >> 3;
  if ((v >> 4) != 0x1FF || !valid_control_code(v & 0xF))
    return false;
  *code = v & 0xF;
  return true;
}

inline std::size_t ceil_div(std::size_t a, std::size_t b) { return a / b + (a % b != 0); }

class Decoder
{
public:
  Decoder(std::string_view input, std::size_t max_output)
      : data_(reinterpret_cast<const uint8_t *>(input.data())), size_(input.size()), max_output_(max_output)
  {}

  SldcResult run(std::string &error);

  std::string take()
  {
    out_.resize(olen_);
    return std::move(out_);
  }

private:
  enum class Scheme
  {
    None,
    One,
    Two
  };
  enum class Step
  {
    Continue,
    Done,
    Fail
  };

  // ---- bit reader: 64-bit buffer, MSB-aligned; cnt_ valid bits ----
  void refill()
  {
    if (size_ - pos_ >= 8)
      {
        uint64_t w;
        std::memcpy(&w, data_ + pos_, 8);
        w = __builtin_bswap64(w);
        // The bits past the counted ones are the start of the next, uncounted byte; the next
        // refill ORs that same byte into the same place, so they never corrupt the buffer.
        buf_ |= w >> cnt_;
        const unsigned bytes = (63 - cnt_) >> 3;
        pos_ += bytes;
        cnt_ += bytes * 8;
      }
    else
      {
        while (cnt_ <= 56 && pos_ < size_)
          {
            buf_ |= uint64_t(data_[pos_++]) << (56 - cnt_);
            cnt_ += 8;
          }
      }
  }
  void consume(unsigned n)
  {
    buf_ <<= n;
    cnt_ -= n;
  }
  std::size_t bit_position() const { return pos_ * 8 - cnt_; }
  void seek_byte(std::size_t at)
  {
    pos_ = at;
    buf_ = 0;
    cnt_ = 0;
  }

  // ---- output ----
  void plan_buffer();
  bool reserve_more(std::size_t need);
  bool ensure(std::size_t n)
  {
    if (olen_ + n <= cap_)
      return true;
    return reserve_more(n);
  }

  bool copy(unsigned len, unsigned position);
  Step control(unsigned code, std::string &error);
  Step end_of_record();

  SldcResult fail(SldcResult r, std::string &error, const char *what)
  {
    error = std::string(what) + " at bit " + std::to_string(bit_position());
    return r;
  }

  const uint8_t *data_;
  std::size_t size_;
  std::size_t pos_ = 0;
  uint64_t buf_ = 0;
  unsigned cnt_ = 0;

  std::size_t max_output_;
  std::string out_;
  std::size_t olen_ = 0;
  std::size_t cap_ = 0;     // out_.size(): bytes usable without growing
  std::size_t cap_max_ = 0; // largest planned capacity

  Scheme scheme_ = Scheme::None;
  std::size_t reset_start_ = 0;  // output index where the history was last emptied
  std::size_t record_start_ = 0; // output index where the current record began
  bool too_large_ = false;
};

// The output buffer grows by exact doubling from a start size chosen so that the last doubling
// lands on `limit` (rounded up by fewer than 2^steps bytes). Exact doubling keeps libstdc++
// from rounding a request up to twice the old capacity, so the buffer never exceeds
// min(max_output, physical bound) by more than a few bytes.
void Decoder::plan_buffer()
{
  std::size_t limit = max_output_;
  if (size_ <= SIZE_MAX / kMaxExpansion)
    limit = std::min(limit, size_ * kMaxExpansion);
  if (limit == 0)
    {
      cap_ = cap_max_ = 0;
      return;
    }
  std::size_t guess = std::max<std::size_t>(4096, size_ <= SIZE_MAX / 4 ? size_ * 4 : SIZE_MAX);
  guess = std::min(guess, limit);
  unsigned steps = 0;
  while (steps < 48 && ceil_div(limit, std::size_t(1) << (steps + 1)) >= guess)
    ++steps;
  cap_ = ceil_div(limit, std::size_t(1) << steps);
  cap_max_ = cap_ << steps;
  out_.resize(cap_);
}

bool Decoder::reserve_more(std::size_t n)
{
  const std::size_t need = olen_ + n;
  if (need > max_output_ || need < olen_)
    {
      too_large_ = true;
      return false;
    }
  std::size_t next = cap_ ? cap_ : 1;
  while (next < need && next < cap_max_)
    next *= 2;
  if (next < need) // beyond the plan (cannot happen for valid bounds); grow to exactly what is needed
    next = need;
  // The plan's last doubling may overshoot max_output by a few bytes; cap_ must not, or
  // ensure() would let the output grow past max_output (need <= max_output_ here).
  next = std::min(next, max_output_);
  out_.resize(next);
  cap_ = next;
  return true;
}

// Copies `len` bytes starting at absolute history position `position`. The history is the
// output itself: position q was last written at output index base + q (q < current write
// position) or base - 1024 + q (q >= it), base being where the current lap of the circular
// buffer started. Walking the history from there is contiguous in the output, including the
// bytes this copy writes (overlap) and the wrap from 1023 to 0.
bool Decoder::copy(unsigned len, unsigned position)
{
  if (!ensure(len))
    return false;
  const std::size_t written = olen_ - reset_start_;
  const std::size_t cur = written & kHistoryMask;
  const std::size_t base = olen_ - cur;
  char *out = &out_[0];
  if (position < cur)
    {
      const std::size_t src = base + position;
      if (src + len <= olen_)
        std::memcpy(out + olen_, out + src, len);
      else
        for (unsigned i = 0; i < len; ++i)
          out[olen_ + i] = out[src + i];
    }
  else if (base >= reset_start_ + kHistorySize)
    {
      const std::size_t src = base - kHistorySize + position;
      if (src + len <= olen_)
        std::memcpy(out + olen_, out + src, len);
      else
        for (unsigned i = 0; i < len; ++i)
          out[olen_ + i] = out[src + i];
    }
  else
    {
      // First lap after a reset: positions >= cur were never written and read as zeros.
      // Virtual index v maps to out[v - kHistorySize] once it reaches reset_start_.
      std::size_t v = base + position; // = reset_start_ + position, offset by kHistorySize
      for (unsigned i = 0; i < len; ++i, ++v)
        out[olen_ + i] = (v < reset_start_ + kHistorySize) ? 0 : out[v - kHistorySize];
    }
  olen_ += len;
  return true;
}

Decoder::Step Decoder::end_of_record()
{
  const std::size_t bit = bit_position();
  std::size_t next = (bit + 7) / 8;
  // Windows: zero bits to a 16-bit boundary, then uint32 LE uncompressed length.
  const std::size_t trailer = (next + 1) & ~std::size_t(1);
  if (trailer + 4 <= size_)
    {
      bool zeros = true;
      for (std::size_t i = next; i < trailer; ++i)
        zeros = zeros && data_[i] == 0;
      const uint32_t value = uint32_t(data_[trailer]) | (uint32_t(data_[trailer + 1]) << 8) |
                             (uint32_t(data_[trailer + 2]) << 16) | (uint32_t(data_[trailer + 3]) << 24);
      if (zeros && (value == uint32_t(olen_ - record_start_) || value == uint32_t(olen_)))
        next = trailer + 4;
    }
  while (next < size_ && data_[next] == 0)
    ++next;
  unsigned code;
  if (next >= size_ || !control_at(data_, size_, next, &code))
    return Step::Done; // end of data, or trailing bytes that are not another record
  seek_byte(next);
  record_start_ = olen_;
  return Step::Continue;
}

Decoder::Step Decoder::control(unsigned code, std::string &error)
{
  switch (code)
    {
      case kFlush: {
        const std::size_t bit = bit_position();
        const unsigned pad = unsigned((16 - (bit & 15)) & 15);
        refill();
        if (pad > cnt_)
          {
            fail(SldcResult::Corrupt, error, "truncated FLUSH padding");
            return Step::Fail;
          }
        consume(pad);
        return Step::Continue;
      }
    case kScheme1: scheme_ = Scheme::One; return Step::Continue;
    case kScheme2: scheme_ = Scheme::Two; return Step::Continue;
    case kFileMark: return Step::Continue;
    case kEndOfRecord: return end_of_record();
    case kReset1:
    case kReset2:
      scheme_ = code == kReset1 ? Scheme::One : Scheme::Two;
      reset_start_ = olen_;
      return Step::Continue;
    case kEndMarker: return Step::Done;
    default:
      fail(SldcResult::Corrupt, error, ("reserved control symbol " + std::to_string(code)).c_str());
      return Step::Fail;
    }
}

SldcResult Decoder::run(std::string &error)
{
  unsigned first;
  if (!control_at(data_, size_, 0, &first) ||
      !(first == kReset1 || first == kReset2 || first == kScheme1 || first == kScheme2))
    {
      error = size_ < 2 ? "too short for SLDC" : "does not start with an SLDC reset/scheme symbol";
      return SldcResult::NotSldc;
    }
  plan_buffer();

  for (;;)
    {
      refill();
      const uint64_t b = buf_;
      unsigned code;
      if (scheme_ == Scheme::One)
        {
          if (!(b >> 63))
            {
              if (cnt_ < 9)
                return fail(SldcResult::Corrupt, error, "truncated literal");
              if (!ensure(1))
                return fail(SldcResult::TooLarge, error, "output exceeds the limit");
              out_[olen_++] = char(b >> 55);
              consume(9);
              continue;
            }
          // Copy pointer: `1`, match-count field, 10-bit position; or a control symbol.
          const uint64_t x = b << 1;
          unsigned len, field;
          if (!(x >> 63))
            {
              len = 2 + unsigned((x >> 62) & 1);
              field = 2;
            }
          else if (!((x >> 62) & 1))
            {
              len = 4 + unsigned((x >> 60) & 3);
              field = 4;
            }
          else if (!((x >> 61) & 1))
            {
              len = 8 + unsigned((x >> 58) & 7);
              field = 6;
            }
          else if (!((x >> 60) & 1))
            {
              len = 16 + unsigned((x >> 56) & 15);
              field = 8;
            }
          else
            {
              const unsigned v = unsigned((x >> 52) & 0xFF);
              if (v >= 0xF0)
                {
                  if (cnt_ < 13)
                    return fail(SldcResult::Corrupt, error, "truncated control symbol");
                  consume(13);
                  code = v & 0xF;
                  goto control_symbol;
                }
              len = 32 + v;
              field = 12;
            }
          const unsigned n = 1 + field + 10;
          if (cnt_ < n)
            return fail(SldcResult::Corrupt, error, "truncated copy pointer");
          const unsigned position = unsigned((b << (1 + field)) >> 54);
          consume(n);
          if (!copy(len, position))
            return fail(SldcResult::TooLarge, error, "output exceeds the limit");
          continue;
        }
      else if (scheme_ == Scheme::Two)
        {
          const unsigned byte = unsigned(b >> 56);
          if (byte != 0xFF)
            {
              if (cnt_ < 8)
                return fail(SldcResult::Corrupt, error, "truncated byte");
              if (!ensure(1))
                return fail(SldcResult::TooLarge, error, "output exceeds the limit");
              out_[olen_++] = char(byte);
              consume(8);
              continue;
            }
          if (!((b >> 55) & 1))
            {
              if (cnt_ < 9)
                return fail(SldcResult::Corrupt, error, "truncated byte");
              if (!ensure(1))
                return fail(SldcResult::TooLarge, error, "output exceeds the limit");
              out_[olen_++] = char(0xFF);
              consume(9);
              continue;
            }
          if (cnt_ < 13)
            return fail(SldcResult::Corrupt, error, "truncated control symbol");
          code = unsigned((b >> 51) & 0xF);
          consume(13);
        }
      else
        {
          // Start of stream or of a following record: a control symbol must come first.
          if ((b >> 55) != 0x1FF || cnt_ < 13)
            return fail(SldcResult::Corrupt, error, "expected a control symbol");
          code = unsigned((b >> 51) & 0xF);
          consume(13);
        }
    control_symbol:
      switch (control(code, error))
        {
        case Step::Continue: break;
        case Step::Done: return SldcResult::Ok;
        case Step::Fail: return SldcResult::Corrupt;
        }
      if (pos_ >= size_ && cnt_ == 0)
        return fail(SldcResult::Corrupt, error, "data ends without END_OF_RECORD");
    }
}

} // namespace

SldcResult sldc_decompress(std::string_view input, std::string &output, std::size_t max_output, std::string &error)
{
  error.clear();
  Decoder decoder(input, max_output);
  const SldcResult result = decoder.run(error);
  if (result == SldcResult::Ok)
    output = decoder.take();
  else
    output.clear();
  return result;
}

} // namespace wec::codec
