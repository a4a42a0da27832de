#include "bookmarks/persist-file-room.hpp"

#include <sys/statvfs.h>

namespace wec {

namespace {

// syslog-ng 3.38's persist-state.c keeps at least PERSIST_FILE_MAX_ENTRY_SIZE bytes free at the
// end of the mapped file: an allocation that leaves less makes _alloc_value() grow the file by
// PERSIST_FILE_INITIAL_SIZE. When that write fails (filesystem full) it logs "Can't preallocate
// space for persist file" and runs the persist state's error handler, main_loop_exit(): syslog-ng
// shuts down, with exit status 0 (systemd's Restart=on-failure does not restart it). The entry
// itself is still returned (that batch is stored and acknowledged correctly); the next ones find
// no room ("No more free space exhausted in persist file") and get 503 from a collector that is
// stopping. These constants are private to persist-state.c; 3.38.1 and 4.11 have the same values.
constexpr std::uint64_t kPersistMaxEntrySize = 8448; // PERSIST_FILE_MAX_ENTRY_SIZE
constexpr std::uint64_t kPersistGrowStep = 16384;    // PERSIST_FILE_INITIAL_SIZE
constexpr std::uint64_t kPersistKeyBlockSize = 4096; // PERSIST_STATE_KEY_BLOCK_SIZE
constexpr std::uint64_t kPersistValueHeader = 8;     // sizeof(PersistValueHeader)

} // namespace

// Bytes by which persist_state_alloc_entry(state, name, size) would grow the file: the value,
// then, if the name no longer fits into the current key block, a new key block (_add_key()).
std::uint64_t persist_growth_for(const PersistFileLayout &layout, const std::string &name, std::size_t size)
{
  const std::uint64_t page = layout.page_size;
  std::uint64_t offset = layout.value_offset;
  std::uint64_t file_size = layout.file_size;
  std::uint64_t growth = 0;
  auto allocate = [&](std::uint64_t bytes) {
    offset += (bytes + 7) / 8 * 8 + kPersistValueHeader;
    if (offset + kPersistMaxEntrySize >= file_size)
      {
        const std::uint64_t grown = (file_size + kPersistGrowStep + page - 1) / page * page;
        growth += grown - file_size;
        file_size = grown;
      }
  };
  allocate(size);
  // a key record is a length-prefixed name and a 4-byte handle; 8 bytes of each key block stay
  // reserved for the link to the next block
  if (layout.key_offset + 4 + name.size() + 4 + 8 > layout.key_block_size)
    allocate(kPersistKeyBlockSize);
  return growth;
}

// Whether the persist file's filesystem can take this allocation and still one more growth step
// (for syslog-ng's own entries). Counted with f_bavail: conservative for root on filesystems
// with reserved blocks, but a refused entry only delays a new machine (503, it retries), whereas
// a failed growth stops syslog-ng.
bool persist_can_grow(int fd, std::uint64_t growth, std::string &reason)
{
  struct statvfs fs;
  if (fd < 0 || fstatvfs(fd, &fs) != 0)
    return true; // unknown: let syslog-ng try
  const std::uint64_t available = static_cast<std::uint64_t>(fs.f_bavail) * fs.f_frsize;
  const std::uint64_t wanted = growth + kPersistGrowStep;
  if (available >= wanted)
    return true;
  reason = "cannot create an entry in the persist file: its filesystem is full (" + std::to_string(available) +
           " bytes available, " + std::to_string(wanted) +
           " needed; syslog-ng stops when the persist file cannot grow, so no entry was allocated)";
  return false;
}

} // namespace wec
