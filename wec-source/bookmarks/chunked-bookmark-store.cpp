#include "bookmarks/chunked-bookmark-store.hpp"

#include "wsman/bookmark.hpp"

#include <zlib.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <optional>
#include <tuple>

namespace wec {

namespace {

constexpr std::uint8_t kChunkVersion = 1;
constexpr std::size_t kMaxEntryBytes = 8192; // persist-state allows at most ~8440 per entry
// A chunk is allocated in one of these sizes and reallocated only when it moves up a class: the
// persist file only grows (a replaced entry's space is reclaimed at the next start), so a bookmark
// that changes size on every batch must not allocate on every batch.
constexpr std::size_t kChunkSizeClasses[] = {512, 2048, kMaxEntryBytes};

struct ChunkHeader
{
  std::uint8_t version; // syslog-ng's PersistableStateHeader: version, then the byte order flag
  std::uint8_t big_endian;
  std::uint8_t reserved[6];
  std::uint64_t generation;
  std::uint32_t total_length; // bytes of the whole bookmark
  std::uint32_t checksum;     // CRC-32 of the whole bookmark
  std::uint32_t chunk_index;
  std::uint32_t chunk_count;
  std::uint32_t used;     // bytes of the bookmark in this chunk
  std::uint32_t saved_at; // seconds since the epoch of the write (chunk 0 counts); 0: before expiry existed
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

std::string unescape_component(const std::string &text)
{
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i)
    {
      if (text[i] == '%' && i + 2 < text.size() && std::isxdigit(static_cast<unsigned char>(text[i + 1])) &&
          std::isxdigit(static_cast<unsigned char>(text[i + 2])))
        {
          out += static_cast<char>(std::stoi(text.substr(i + 1, 2), nullptr, 16));
          i += 2;
        }
      else
        out += text[i];
    }
  return out;
}

constexpr const char *kEntryPrefix = "windowsevent_bookmark(";

std::string chunk_name(const std::string &key, int slot, std::size_t chunk)
{
  return key + "," + std::to_string(slot) + "," + std::to_string(chunk) + ")";
}

std::uint32_t crc_of(const std::string &data)
{
  return static_cast<std::uint32_t>(
      crc32(0L, reinterpret_cast<const Bytef *>(data.data()), static_cast<uInt>(data.size())));
}

} // namespace

struct ChunkedBookmarkStore::Slot
{
  std::vector<std::pair<PersistEntries::Handle, std::size_t>> chunks; // handle, entry size
};

struct ChunkedBookmarkStore::Entry
{
  Slot slots[2];
  int current = -1; // slot holding the newest valid bookmark
  std::uint64_t generation = 0;
  std::string bookmark;
  bool allocating = false;
  bool allocation_failed = false;
  std::string allocation_error;
};

// What the worker and the main thread share: allocation requests and their results.
struct ChunkedBookmarkStore::Shared
{
  struct Allocation
  {
    std::string key;
    int slot = 0;
    std::vector<std::pair<std::size_t, std::size_t>> chunks; // chunk index, wanted entry size
    std::vector<PersistEntries::Handle> handles;             // result per request, 0 on failure
    std::string error;                                       // why a chunk is 0
  };

  std::mutex lock;
  bool alive = true;
  bool in_flight = false;
  std::optional<Allocation> finished;
  PersistEntries *entries = nullptr;
  std::function<void()> wake;
};

namespace {

struct AllocationTask
{
  std::shared_ptr<ChunkedBookmarkStore::Shared> shared;
  ChunkedBookmarkStore::Shared::Allocation allocation;
};

// Runs on the main thread (persist-state allocates only there).
void allocate_on_main_thread(AllocationTask &task)
{
  auto &shared = *task.shared;
  {
    std::lock_guard<std::mutex> guard(shared.lock);
    if (!shared.alive)
      return; // the store is gone (both run on the main thread: it cannot go during this call)
  }
  auto &a = task.allocation;
  for (const auto &[index, size] : a.chunks)
    {
      const PersistEntries::Handle handle = shared.entries->allocate(chunk_name(a.key, a.slot, index), size, a.error);
      a.handles.push_back(handle); // an allocated chunk is zero-filled: it never validates
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
}

// Entries written before bookmarks were keyed by authentication method name the identity alone.
// A principal has a realm ('@'); anything else was a certificate CN.
std::optional<std::string> migrated_owner(const std::string &escaped_owner)
{
  if (is_owner(escaped_owner))
    return std::nullopt;
  return std::string(escaped_owner.find('@') != std::string::npos ? "kerberos:" : "certificate:") + escaped_owner;
}

std::uint32_t now_seconds()
{
  return static_cast<std::uint32_t>(
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count());
}

} // namespace

ChunkedBookmarkStore::ChunkedBookmarkStore(PersistEntries &entries, std::string base_name, std::function<void()> wake,
                                           LogFunction log)
    : file_(entries), base_name_(std::move(base_name)), log_(std::move(log)), shared_(std::make_shared<Shared>())
{
  shared_->entries = &entries;
  shared_->wake = std::move(wake);
}

ChunkedBookmarkStore::~ChunkedBookmarkStore()
{
  std::lock_guard<std::mutex> guard(shared_->lock);
  shared_->alive = false;
}

std::string ChunkedBookmarkStore::entry_key(const std::string &owner, const std::string &subscription) const
{
  return std::string(kEntryPrefix) + escape_component(base_name_) + "," + escape_component(owner) + "," +
         escape_component(subscription);
}

std::vector<std::string> ChunkedBookmarkStore::entry_names() const
{
  return file_.names_starting_with(std::string(kEntryPrefix) + escape_component(base_name_) + ",");
}

void ChunkedBookmarkStore::migrate_legacy_names(std::vector<std::string> &names)
{
  const std::size_t owner_at = (std::string(kEntryPrefix) + escape_component(base_name_) + ",").size();
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
      if (file_.exists(renamed))
        file_.remove(name); // a newer entry exists already
      else if (!file_.move(name, renamed))
        continue; // keep it under its old name; it is simply not found
      name = renamed;
      ++migrated;
    }
  if (migrated)
    log_(LogLevel::Notice, "windowsevent: bookmark entries renamed to include the authentication method",
         {{"entries", std::to_string(migrated)}});
}

void ChunkedBookmarkStore::load_all(std::chrono::seconds expiry)
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
      std::size_t size = 0;
      const PersistEntries::Handle handle = file_.lookup(name, size);
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

  const std::uint32_t now = now_seconds();
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
            file_.remove(name);
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

std::optional<std::uint32_t> ChunkedBookmarkStore::read_current(Entry &entry)
{
  std::optional<std::uint32_t> saved_at;
  for (int slot = 0; slot < 2; ++slot)
    {
      auto &chunks = entry.slots[slot].chunks;
      if (chunks.empty() || !chunks[0].first)
        continue;
      auto *first = static_cast<ChunkHeader *>(file_.map(chunks[0].first));
      ChunkHeader head = *first;
      file_.unmap(chunks[0].first);
      if (head.version != kChunkVersion || head.chunk_count == 0 || head.chunk_count > chunks.size())
        continue;
      std::string data;
      bool valid = true;
      for (std::uint32_t i = 0; i < head.chunk_count && valid; ++i)
        {
          if (!chunks[i].first)
            {
              valid = false;
              break;
            }
          auto *chunk = static_cast<ChunkHeader *>(file_.map(chunks[i].first));
          valid = chunk->generation == head.generation && chunk->chunk_index == i &&
                  chunk->used <= chunks[i].second - sizeof(ChunkHeader);
          if (valid)
            data.append(reinterpret_cast<const char *>(chunk + 1), chunk->used);
          file_.unmap(chunks[i].first);
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

void ChunkedBookmarkStore::stamp_saved_at(Entry &entry, std::uint32_t when)
{
  const PersistEntries::Handle handle = entry.slots[entry.current].chunks[0].first;
  auto *chunk = static_cast<ChunkHeader *>(file_.map(handle));
  chunk->saved_at = when; // not covered by the checksum
  file_.unmap(handle);
}

BookmarkStore::LoadResult ChunkedBookmarkStore::load(const std::string &owner, const std::string &subscription)
{
  auto it = entries_.find(entry_key(owner, subscription));
  if (it == entries_.end() || it->second->current < 0)
    return {};
  return {LoadStatus::Found, it->second->bookmark, {}};
}

void ChunkedBookmarkStore::take_finished_allocations()
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
      const PersistEntries::Handle handle = i < done->handles.size() ? done->handles[i] : 0;
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

BookmarkStore::SaveResult ChunkedBookmarkStore::save(const std::string &owner, const std::string &subscription,
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
      if (i >= slot.chunks.size() || !slot.chunks[i].first ||
          slot.chunks[i].second < sizeof(ChunkHeader) + payload_of(i))
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
          return SaveResult::Pending; // one allocation at a time keeps the main thread's queue short
        shared_->in_flight = true;
      }
      entry->allocating = true;
      auto task = std::make_shared<AllocationTask>(
          AllocationTask{shared_, Shared::Allocation{key, target, std::move(wanted), {}, {}}});
      file_.call_on_main_thread([task]() { allocate_on_main_thread(*task); });
      return SaveResult::Pending;
    }

  // Write the other chunks first and chunk 0 last: chunk 0's generation makes the slot current.
  const std::uint64_t generation = entry->generation + 1;
  const std::uint32_t checksum = crc_of(bookmark);
  const std::uint32_t saved_at = now_seconds();
  for (std::size_t n = chunk_count; n-- > 0;)
    {
      const PersistEntries::Handle handle = slot.chunks[n].first;
      auto *chunk = static_cast<ChunkHeader *>(file_.map(handle));
      const std::size_t used = payload_of(n);
      std::memcpy(chunk + 1, bookmark.data() + n * kChunkPayload, used);
      chunk->chunk_index = static_cast<std::uint32_t>(n);
      chunk->chunk_count = static_cast<std::uint32_t>(chunk_count);
      chunk->used = static_cast<std::uint32_t>(used);
      chunk->total_length = static_cast<std::uint32_t>(bookmark.size());
      chunk->checksum = checksum;
      chunk->saved_at = saved_at;
      chunk->version = kChunkVersion;
      chunk->big_endian = __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__;
      __atomic_thread_fence(__ATOMIC_RELEASE);
      chunk->generation = generation;
      file_.unmap(handle);
    }
  entry->current = target;
  entry->generation = generation;
  entry->bookmark = bookmark;
  return SaveResult::Committed;
}

std::vector<ChunkedBookmarkStore::Stored> ChunkedBookmarkStore::list() const
{
  // key = windowsevent_bookmark(<base>,<owner>,<subscription>: escaped components hold no ','
  const std::size_t owner_at = (kEntryPrefix + escape_component(base_name_) + ",").size();
  std::vector<Stored> result;
  for (const auto &[key, entry] : entries_)
    {
      const std::size_t comma = key.find(',', owner_at);
      if (entry->current < 0 || comma == std::string::npos)
        continue;
      result.push_back({unescape_component(key.substr(owner_at, comma - owner_at)),
                        unescape_component(key.substr(comma + 1)), entry->bookmark});
    }
  std::sort(result.begin(), result.end(), [](const Stored &a, const Stored &b) {
    return std::tie(a.owner, a.subscription) < std::tie(b.owner, b.subscription);
  });
  return result;
}

bool ChunkedBookmarkStore::remove(const std::string &owner, const std::string &subscription)
{
  const auto it = entries_.find(entry_key(owner, subscription));
  if (it == entries_.end())
    return false;
  const bool existed = it->second->current >= 0;
  for (int slot = 0; slot < 2; ++slot)
    for (std::size_t chunk = 0; chunk < it->second->slots[slot].chunks.size(); ++chunk)
      if (it->second->slots[slot].chunks[chunk].first)
        file_.remove(chunk_name(it->first, slot, chunk));
  entries_.erase(it);
  return existed;
}

std::vector<std::string> ChunkedBookmarkStore::persist_names(PersistEntries &file)
{
  std::vector<std::string> bases;
  for (const auto &name : file.names_starting_with(kEntryPrefix))
    {
      const std::size_t start = std::string(kEntryPrefix).size();
      const std::size_t comma = name.find(',', start);
      if (comma != std::string::npos)
        bases.push_back(unescape_component(name.substr(start, comma - start)));
    }
  std::sort(bases.begin(), bases.end());
  bases.erase(std::unique(bases.begin(), bases.end()), bases.end());
  return bases;
}

} // namespace wec
