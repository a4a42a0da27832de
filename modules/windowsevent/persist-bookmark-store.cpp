#include "persist-bookmark-store.hpp"

#include "wsman/bookmark.hpp"

#include <sys/statvfs.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>

#include "cpp-start.h"
#include "mainloop-call.h"
#include "persist-state.h"
#include "persistable-state-header.h"
#include "cpp-end.h"

namespace wec::module {

namespace {

constexpr guint8 kChunkVersion = 1;
constexpr std::size_t kMaxEntryBytes = 8192;   // persist-state allows at most ~8440 per entry
// A chunk is allocated in one of these sizes and reallocated only when it moves up a class: the
// persist file only grows (a replaced entry's space is reclaimed at the next start), so a bookmark
// that changes size on every batch must not allocate on every batch.
constexpr std::size_t kChunkSizeClasses[] = {512, 2048, kMaxEntryBytes};

struct ChunkHeader
{
  PersistableStateHeader header;
  guint8 reserved[6];
  guint64 generation;
  guint32 total_length;  // bytes of the whole bookmark
  guint32 checksum;      // CRC-32 of the whole bookmark
  guint32 chunk_index;
  guint32 chunk_count;
  guint32 used;          // bytes of the bookmark in this chunk
  guint32 saved_at;      // seconds since the epoch of the write (chunk 0 counts); 0: before expiry existed
};
static_assert(sizeof(ChunkHeader) == 40, "persisted layout");

constexpr std::size_t kChunkPayload = kMaxEntryBytes - sizeof(ChunkHeader);

std::size_t chunk_size_for(std::size_t payload)
{
  for (std::size_t size : kChunkSizeClasses)
    if (sizeof(ChunkHeader) + payload <= size)
      return size;
  return kMaxEntryBytes;
}

// Components of entry names are escaped so that the name splits back unambiguously.
std::string escape_component(const std::string &text)
{
  std::string out;
  for (unsigned char c : text)
    {
      if (c == ',' || c == '(' || c == ')' || c == '%' || c < 0x20)
        {
          char buf[4];
          std::snprintf(buf, sizeof(buf), "%%%02X", c);
          out += buf;
        }
      else
        out += static_cast<char>(c);
    }
  return out;
}

std::string chunk_name(const std::string &key, int slot, std::size_t chunk)
{
  return key + "," + std::to_string(slot) + "," + std::to_string(chunk) + ")";
}

guint32 crc_of(const std::string &data)
{
  return static_cast<guint32>(crc32(0L, reinterpret_cast<const Bytef *>(data.data()), static_cast<uInt>(data.size())));
}

// syslog-ng 3.38's persist-state.c keeps at least PERSIST_FILE_MAX_ENTRY_SIZE bytes free at the
// end of the mapped file: an allocation that leaves less makes _alloc_value() grow the file by
// PERSIST_FILE_INITIAL_SIZE. When that write fails (filesystem full) it logs "Can't preallocate
// space for persist file" and runs the persist state's error handler, main_loop_exit(): syslog-ng
// shuts down, with exit status 0 (systemd's Restart=on-failure does not restart it). The entry
// itself is still returned (that batch is stored and acknowledged correctly); the next ones find
// no room ("No more free space exhausted in persist file") and get 503 from a collector that is
// stopping. These constants are private to persist-state.c; the values are 3.38.1's.
constexpr std::uint64_t kPersistMaxEntrySize = 8448;   // PERSIST_FILE_MAX_ENTRY_SIZE
constexpr std::uint64_t kPersistGrowStep = 16384;      // PERSIST_FILE_INITIAL_SIZE
constexpr std::uint64_t kPersistKeyBlockSize = 4096;   // PERSIST_STATE_KEY_BLOCK_SIZE
constexpr std::uint64_t kPersistValueHeader = 8;       // sizeof(PersistValueHeader)

// Bytes by which persist_state_alloc_entry(state, name, size) would grow the file: the value,
// then, if the name no longer fits into the current key block, a new key block (_add_key()).
// Main thread only (the fields change only there).
std::uint64_t persist_growth_for(const PersistState *state, const std::string &name, std::size_t size)
{
  const std::uint64_t page = static_cast<std::uint64_t>(getpagesize());
  std::uint64_t offset = state->current_ofs;
  std::uint64_t file_size = state->current_size;
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
  if (static_cast<std::uint64_t>(state->current_key_ofs) + 4 + name.size() + 4 + 8 >
      static_cast<std::uint64_t>(state->current_key_size))
    allocate(kPersistKeyBlockSize);
  return growth;
}

// Whether the persist file's filesystem can take this allocation and still one more growth step
// (for syslog-ng's own entries). Counted with f_bavail: conservative for root on filesystems
// with reserved blocks, but a refused entry only delays a new machine (503, it retries), whereas
// a failed growth stops syslog-ng.
bool persist_can_grow(const PersistState *state, std::uint64_t growth, std::string &reason)
{
  struct statvfs fs;
  if (state->fd < 0 || fstatvfs(state->fd, &fs) != 0)
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

} // namespace

struct PersistBookmarkStore::Slot
{
  std::vector<std::pair<PersistEntryHandle, std::size_t>> chunks; // handle, entry size
};

struct PersistBookmarkStore::Entry
{
  Slot slots[2];
  int current = -1;         // slot holding the newest valid bookmark
  guint64 generation = 0;
  std::string bookmark;
  bool allocating = false;
  bool allocation_failed = false;
  std::string allocation_error;
};

// What the worker and the main thread share: allocation requests and their results.
struct PersistBookmarkStore::Shared
{
  struct Allocation
  {
    std::string key;
    int slot = 0;
    std::vector<std::pair<std::size_t, std::size_t>> chunks; // chunk index, wanted entry size
    std::vector<PersistEntryHandle> handles;                  // result per request, 0 on failure
    std::string error;                                         // why a chunk is 0
  };

  std::mutex lock;
  bool alive = true;
  bool in_flight = false;
  std::optional<Allocation> finished;
  PersistState *state = nullptr;
  std::function<void()> wake;
};

namespace {

struct AllocationTask
{
  std::shared_ptr<PersistBookmarkStore::Shared> shared;
  PersistBookmarkStore::Shared::Allocation allocation;
};

// Runs on the main thread through main_loop_call().
gpointer allocate_on_main_thread(gpointer user_data)
{
  std::unique_ptr<AllocationTask> task(static_cast<AllocationTask *>(user_data));
  auto &shared = *task->shared;
  {
    std::lock_guard<std::mutex> guard(shared.lock);
    if (!shared.alive)
      return nullptr;
  }
  auto &a = task->allocation;
  for (const auto &[index, size] : a.chunks)
    {
      const std::string name = chunk_name(a.key, a.slot, index);
      // Refuse before syslog-ng would have to grow a file it cannot grow (see persist_growth_for()).
      if (!persist_can_grow(shared.state, persist_growth_for(shared.state, name, size), a.error))
        {
          a.handles.push_back(0);
          break;
        }
      PersistEntryHandle handle = persist_state_alloc_entry(shared.state, name.c_str(), size);
      if (handle)
        {
          auto *chunk = static_cast<ChunkHeader *>(persist_state_map_entry(shared.state, handle));
          std::memset(chunk, 0, size); // an empty chunk never validates
          persist_state_unmap_entry(shared.state, handle);
        }
      else if (a.error.empty())
        a.error = "cannot create an entry in the persist file (see syslog-ng's messages before this one)";
      a.handles.push_back(handle);
      if (!handle)
        break;
    }
  std::function<void()> wake;
  {
    std::lock_guard<std::mutex> guard(shared.lock);
    shared.finished = std::move(a);
    shared.in_flight = false;
    wake = shared.wake;
  }
  wake();
  return nullptr;
}

constexpr std::string_view kOwnerMethods[] = {"certificate:", "kerberos:"};

// Entries written before bookmarks were keyed by authentication method name the identity alone.
// A principal has a realm ('@'); anything else was a certificate CN.
std::optional<std::string> migrated_owner(const std::string &escaped_owner)
{
  for (std::string_view method : kOwnerMethods)
    if (escaped_owner.compare(0, method.size(), method) == 0)
      return std::nullopt;
  return std::string(escaped_owner.find('@') != std::string::npos ? "kerberos:" : "certificate:") + escaped_owner;
}

guint32 now_seconds()
{
  return static_cast<guint32>(g_get_real_time() / G_USEC_PER_SEC);
}

} // namespace

PersistBookmarkStore::PersistBookmarkStore(PersistState *state, std::string base_name, std::function<void()> wake,
                                           LogFunction log)
  : state_(state), base_name_(std::move(base_name)), log_(std::move(log)), shared_(std::make_shared<Shared>())
{
  shared_->state = state;
  shared_->wake = std::move(wake);
}

PersistBookmarkStore::~PersistBookmarkStore()
{
  std::lock_guard<std::mutex> guard(shared_->lock);
  shared_->alive = false;
}

std::string PersistBookmarkStore::entry_key(const std::string &owner, const std::string &subscription) const
{
  return "windowsevent_bookmark(" + escape_component(base_name_) + "," + escape_component(owner) + "," +
         escape_component(subscription);
}

std::vector<std::string> PersistBookmarkStore::entry_names() const
{
  // Collected first: looking entries up while iterating would touch the table being walked.
  std::vector<std::string> names;
  const std::string prefix = "windowsevent_bookmark(" + escape_component(base_name_) + ",";
  struct Walk
  {
    const std::string *prefix;
    std::vector<std::string> *names;
  } walk{&prefix, &names};
  persist_state_foreach_entry(state_, [](gchar *name, gint, gpointer, gpointer user_data) {
    auto *w = static_cast<Walk *>(user_data);
    if (std::strncmp(name, w->prefix->c_str(), w->prefix->size()) == 0)
      w->names->emplace_back(name);
  }, &walk);
  return names;
}

void PersistBookmarkStore::migrate_legacy_names(std::vector<std::string> &names)
{
  const std::size_t owner_at = ("windowsevent_bookmark(" + escape_component(base_name_) + ",").size();
  std::size_t migrated = 0;
  for (auto &name : names)
    {
      const std::size_t comma = name.find(',', owner_at);
      if (comma == std::string::npos)
        continue;
      const std::optional<std::string> owner = migrated_owner(name.substr(owner_at, comma - owner_at));
      if (!owner)
        continue;
      const std::string renamed = name.substr(0, owner_at) + *owner + name.substr(comma);
      if (persist_state_entry_exists(state_, renamed.c_str()))
        persist_state_remove_entry(state_, name.c_str()); // a newer entry exists already
      else if (!persist_state_move_entry(state_, name.c_str(), renamed.c_str()))
        continue; // keep it under its old name; it is simply not found
      name = renamed;
      ++migrated;
    }
  if (migrated)
    log_(LogLevel::Notice, "windowsevent: bookmark entries renamed to include the authentication method",
         {{"entries", std::to_string(migrated)}});
}

void PersistBookmarkStore::load_all(std::chrono::seconds expiry)
{
  std::vector<std::string> names = entry_names();
  migrate_legacy_names(names);
  std::map<std::string, std::vector<std::string>> names_by_key;
  for (const auto &name : names)
    {
      // name = <key>,<slot>,<chunk>)
      std::size_t close = name.rfind(')');
      std::size_t comma2 = name.rfind(',', close);
      std::size_t comma1 = comma2 == std::string::npos ? std::string::npos : name.rfind(',', comma2 - 1);
      if (close == std::string::npos || comma1 == std::string::npos)
        continue;
      std::string key = name.substr(0, comma1);
      int slot = std::atoi(name.substr(comma1 + 1, comma2 - comma1 - 1).c_str());
      std::size_t chunk = static_cast<std::size_t>(std::atol(name.substr(comma2 + 1, close - comma2 - 1).c_str()));
      if ((slot != 0 && slot != 1) || chunk > 1024)
        continue;
      gsize size = 0;
      guint8 version = 0;
      PersistEntryHandle handle = persist_state_lookup_entry(state_, name.c_str(), &size, &version);
      if (!handle)
        continue;
      names_by_key[key].push_back(name);
      auto &entry = entries_[key];
      if (!entry)
        entry = std::make_unique<Entry>();
      auto &chunks = entry->slots[slot].chunks;
      if (chunks.size() <= chunk)
        chunks.resize(chunk + 1, {0, 0});
      chunks[chunk] = {handle, size};
    }

  const guint32 now = now_seconds();
  std::size_t restored = 0, expired = 0;
  for (auto it = entries_.begin(); it != entries_.end();)
    {
      const std::optional<std::uint32_t> saved_at = read_current(*it->second);
      if (saved_at && *saved_at == 0)
        stamp_saved_at(*it->second, now); // written before expiry existed: its age starts now
      if (saved_at && *saved_at && expiry.count() > 0 && now > *saved_at &&
          std::chrono::seconds(now - *saved_at) > expiry)
        {
          // Removed entries are dropped from the file at syslog-ng's next start.
          for (const auto &name : names_by_key[it->first])
            persist_state_remove_entry(state_, name.c_str());
          it = entries_.erase(it);
          ++expired;
          continue;
        }
      restored += it->second->current >= 0;
      ++it;
    }
  if (restored)
    log_(LogLevel::Info, "windowsevent: bookmarks restored from the persist file",
         {{"count", std::to_string(restored)}});
  if (expired)
    log_(LogLevel::Notice, "windowsevent: bookmarks of forwarders not heard from within bookmark-expiry() removed",
         {{"count", std::to_string(expired)}, {"bookmark_expiry", std::to_string(expiry.count())}});
}

std::optional<std::uint32_t> PersistBookmarkStore::read_current(Entry &entry)
{
  std::optional<std::uint32_t> saved_at;
  for (int slot = 0; slot < 2; ++slot)
    {
      auto &chunks = entry.slots[slot].chunks;
      if (chunks.empty() || !chunks[0].first)
        continue;
      auto *first = static_cast<ChunkHeader *>(persist_state_map_entry(state_, chunks[0].first));
      ChunkHeader head = *first;
      persist_state_unmap_entry(state_, chunks[0].first);
      if (head.header.version != kChunkVersion || head.chunk_count == 0 || head.chunk_count > chunks.size())
        continue;
      std::string data;
      bool valid = true;
      for (guint32 i = 0; i < head.chunk_count && valid; ++i)
        {
          if (!chunks[i].first)
            {
              valid = false;
              break;
            }
          auto *chunk = static_cast<ChunkHeader *>(persist_state_map_entry(state_, chunks[i].first));
          valid = chunk->generation == head.generation && chunk->chunk_index == i &&
                  chunk->used <= chunks[i].second - sizeof(ChunkHeader);
          if (valid)
            data.append(reinterpret_cast<const char *>(chunk + 1), chunk->used);
          persist_state_unmap_entry(state_, chunks[i].first);
        }
      if (!valid || data.size() != head.total_length || crc_of(data) != head.checksum)
        continue;
      if (entry.current < 0 || head.generation > entry.generation)
        {
          entry.current = slot;
          entry.generation = head.generation;
          entry.bookmark = std::move(data);
          saved_at = head.saved_at;
        }
    }
  return saved_at;
}

void PersistBookmarkStore::stamp_saved_at(Entry &entry, std::uint32_t when)
{
  const PersistEntryHandle handle = entry.slots[entry.current].chunks[0].first;
  auto *chunk = static_cast<ChunkHeader *>(persist_state_map_entry(state_, handle));
  chunk->saved_at = when; // not covered by the checksum
  persist_state_unmap_entry(state_, handle);
}

std::optional<std::string> PersistBookmarkStore::load(const std::string &owner, const std::string &subscription)
{
  auto it = entries_.find(entry_key(owner, subscription));
  if (it == entries_.end() || it->second->current < 0)
    return std::nullopt;
  return it->second->bookmark;
}

void PersistBookmarkStore::take_finished_allocations()
{
  std::optional<Shared::Allocation> done;
  {
    std::lock_guard<std::mutex> guard(shared_->lock);
    done.swap(shared_->finished);
  }
  if (!done)
    return;
  auto &entry = entries_[done->key];
  if (!entry)
    entry = std::make_unique<Entry>();
  entry->allocating = false;
  auto &chunks = entry->slots[done->slot].chunks;
  for (std::size_t i = 0; i < done->chunks.size(); ++i)
    {
      const auto [index, size] = done->chunks[i];
      const PersistEntryHandle handle = i < done->handles.size() ? done->handles[i] : 0;
      if (!handle)
        {
          entry->allocation_failed = true;
          break;
        }
      if (chunks.size() <= index)
        chunks.resize(index + 1, {0, 0});
      chunks[index] = {handle, size};
    }
  if (entry->allocation_failed)
    entry->allocation_error = std::move(done->error);
}

BookmarkStore::SaveResult PersistBookmarkStore::save(const std::string &owner, const std::string &subscription,
                                                     const std::string &bookmark, std::string &error)
{
  take_finished_allocations();
  if (bookmark.size() > wsman::kMaxBookmarkBytes)
    {
      error = "bookmark of " + std::to_string(bookmark.size()) + " bytes is larger than the persist store takes";
      return SaveResult::Failed;
    }
  const std::string key = entry_key(owner, subscription);
  auto &entry = entries_[key];
  if (!entry)
    entry = std::make_unique<Entry>();
  if (entry->current >= 0 && entry->bookmark == bookmark)
    return SaveResult::Committed;

  const int target = entry->current == 0 ? 1 : 0;
  const std::size_t chunk_count = std::max<std::size_t>(1, (bookmark.size() + kChunkPayload - 1) / kChunkPayload);
  auto payload_of = [&](std::size_t i) {
    return bookmark.empty() ? 0 : std::min(kChunkPayload, bookmark.size() - i * kChunkPayload);
  };

  // Only the chunks that are missing or too small are allocated, each in its size class.
  Slot &slot = entry->slots[target];
  std::vector<std::pair<std::size_t, std::size_t>> wanted;
  for (std::size_t i = 0; i < chunk_count; ++i)
    {
      const std::size_t need = chunk_size_for(payload_of(i));
      if (i >= slot.chunks.size() || !slot.chunks[i].first || slot.chunks[i].second < sizeof(ChunkHeader) + payload_of(i))
        wanted.emplace_back(i, need);
    }

  if (!wanted.empty())
    {
      if (entry->allocation_failed)
        {
          entry->allocation_failed = false; // the next batch tries again
          error = entry->allocation_error.empty()
                    ? "cannot create an entry in the persist file (disk full or not writable?)"
                    : entry->allocation_error;
          entry->allocation_error.clear();
          return SaveResult::Failed;
        }
      if (entry->allocating)
        return SaveResult::Pending;
      {
        std::lock_guard<std::mutex> guard(shared_->lock);
        if (shared_->in_flight || shared_->finished)
          return SaveResult::Pending; // one allocation at a time keeps main_loop_call() from ever blocking
        shared_->in_flight = true;
      }
      entry->allocating = true;
      auto *task = new AllocationTask{shared_, Shared::Allocation{key, target, std::move(wanted), {}, {}}};
      main_loop_call(allocate_on_main_thread, task, FALSE);
      return SaveResult::Pending;
    }

  // Write the other chunks first and chunk 0 last: chunk 0's generation makes the slot current.
  const guint64 generation = entry->generation + 1;
  const guint32 checksum = crc_of(bookmark);
  const guint32 saved_at = now_seconds();
  for (std::size_t n = chunk_count; n-- > 0;)
    {
      const PersistEntryHandle handle = slot.chunks[n].first;
      auto *chunk = static_cast<ChunkHeader *>(persist_state_map_entry(state_, handle));
      const std::size_t used = payload_of(n);
      std::memcpy(chunk + 1, bookmark.data() + n * kChunkPayload, used);
      chunk->chunk_index = static_cast<guint32>(n);
      chunk->chunk_count = static_cast<guint32>(chunk_count);
      chunk->used = static_cast<guint32>(used);
      chunk->total_length = static_cast<guint32>(bookmark.size());
      chunk->checksum = checksum;
      chunk->saved_at = saved_at;
      chunk->header.version = kChunkVersion;
      chunk->header.big_endian = G_BYTE_ORDER == G_BIG_ENDIAN;
      __atomic_thread_fence(__ATOMIC_RELEASE);
      chunk->generation = generation;
      persist_state_unmap_entry(state_, handle);
    }
  entry->current = target;
  entry->generation = generation;
  entry->bookmark = bookmark;
  return SaveResult::Committed;
}

} // namespace wec::module
