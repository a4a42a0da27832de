// C ABI over the project's SLDC codec, loaded through ctypes by the simulator (the pure-Python
// encoder manages about 2 MB/s, too slow to compress benchmark traffic the way Windows does)
// and by the compression benchmark.
#include "codec/sldc.hpp"
#include "sldc-encoder.hpp"

#include <cstddef>
#include <cstring>

namespace {

std::size_t copy_out(const std::string &data, char *output, std::size_t capacity)
{
  if (data.size() <= capacity)
    std::memcpy(output, data.data(), data.size());
  return data.size(); // larger than capacity: the room the caller needs
}

} // namespace

extern "C" __attribute__((visibility("default"))) std::size_t wec_sldc_compress(const char *input, std::size_t length,
                                                                                char *output, std::size_t capacity)
{
  return copy_out(wec::codec::sldc_compress(std::string_view(input, length)), output, capacity);
}

// Returns the decompressed size, or (size_t)-1 when the input is not a valid SLDC stream.
extern "C" __attribute__((visibility("default"))) std::size_t wec_sldc_decompress(const char *input, std::size_t length,
                                                                                  char *output, std::size_t capacity)
{
  std::string plain, error;
  if (wec::codec::sldc_decompress(std::string_view(input, length), plain, capacity, error) !=
      wec::codec::SldcResult::Ok)
    return static_cast<std::size_t>(-1);
  return copy_out(plain, output, capacity);
}
