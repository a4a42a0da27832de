// libFuzzer target: SLDC decoder (and, as a round trip, the encoder).
//  * sldc_decompress() on the input with a 1 MiB bound: never more output than the bound; if it
//    decodes to n > 0 bytes, the same input with max_output n-1 is TooLarge and with n is Ok
//    with the same bytes (the bound is checked exactly, not approximately);
//  * sldc_compress(input) decompresses to the input. The encoder costs about ten decodes (it
//    clears a 512 KiB match table per call), so only one input in eight, chosen by a hash of its
//    bytes (deterministic, so a crash reproduces), takes this round trip.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "codec/sldc.hpp"
#include "sldc-encoder.hpp"

namespace {

constexpr std::size_t kMaxOutput = 1024 * 1024;

[[noreturn]] void fail(const char *what)
{
  std::fprintf(stderr, "fuzz_sldc: property violated: %s\n", what);
  std::abort();
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  using wec::codec::SldcResult;
  std::string_view input(reinterpret_cast<const char *>(data), size);
  std::string output, error;
  const SldcResult result = wec::codec::sldc_decompress(input, output, kMaxOutput, error);
  if (result == SldcResult::Ok)
    {
      if (output.size() > kMaxOutput)
        fail("output larger than max_output");
      if (!output.empty())
        {
          std::string exact, exact_error, smaller, smaller_error;
          if (wec::codec::sldc_decompress(input, exact, output.size(), exact_error) != SldcResult::Ok ||
              exact != output)
            fail("max_output == decoded size does not decode the same");
          if (wec::codec::sldc_decompress(input, smaller, output.size() - 1, smaller_error) != SldcResult::TooLarge)
            fail("max_output == decoded size - 1 is not TooLarge");
          if (!smaller.empty())
            fail("output not cleared on TooLarge");
        }
    }
  else
    {
      if (!output.empty())
        fail("output not cleared on failure");
      if (error.empty())
        fail("failure without a reason");
    }

  // Encoder round trip (inputs are small: libFuzzer's -max_len).
  uint32_t hash = 2166136261u; // FNV-1a
  for (size_t i = 0; i < size; ++i)
    hash = (hash ^ data[i]) * 16777619u;
  if (hash % 8 != 0)
    return 0;
  const std::string compressed = wec::codec::sldc_compress(input);
  std::string decoded;
  if (wec::codec::sldc_decompress(compressed, decoded, size, error) != SldcResult::Ok)
    fail("sldc_compress output does not decode");
  if (decoded != input)
    fail("sldc_compress -> sldc_decompress changed the data");
  return 0;
}
