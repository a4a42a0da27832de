// Room in syslog-ng's persist file: whether allocating one more entry would make the file grow,
// and whether its filesystem can take that. syslog-ng stops itself when the file cannot grow, so
// the bookmark store refuses an entry first (the machine gets 503 and retries) rather than let it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace wec {

// The allocation state of a persist file (persist-state.h's PersistState fields).
struct PersistFileLayout
{
  std::uint64_t value_offset;   // current_ofs
  std::uint64_t file_size;      // current_size
  std::uint64_t key_offset;     // current_key_ofs
  std::uint64_t key_block_size; // current_key_size
  std::uint64_t page_size;
};

// Bytes by which allocating an entry `name` of `size` bytes would grow the file.
std::uint64_t persist_growth_for(const PersistFileLayout &layout, const std::string &name, std::size_t size);

// Can the filesystem of the open file `fd` take `growth` bytes and one more growth step (for
// syslog-ng's own entries)? A one-line reason when it cannot; true when it cannot tell.
bool persist_can_grow(int fd, std::uint64_t growth, std::string &reason);

} // namespace wec
