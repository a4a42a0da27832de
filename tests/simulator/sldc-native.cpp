// C ABI over the project's SLDC encoder, loaded by the simulator through ctypes: the pure-Python
// encoder manages about 2 MB/s, too slow to compress benchmark traffic the way Windows does.
#include "codec/sldc.hpp"

#include <cstddef>
#include <cstring>

extern "C" __attribute__((visibility("default"))) std::size_t wec_sldc_compress(const char *input, std::size_t length,
                                                                                 char *output, std::size_t capacity)
{
  const std::string compressed = wec::codec::sldc_compress(std::string_view(input, length));
  if (compressed.size() > capacity)
    return compressed.size(); // tell the caller how much room it needs
  std::memcpy(output, compressed.data(), compressed.size());
  return compressed.size();
}
