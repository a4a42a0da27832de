// Bookmarks in a file of fixed-size entries (syslog-ng's persist file): one set of entries per
// (owner, subscription), the canonical <BookmarkList>. Two slots written alternately, each guarded
// by a generation number and a checksum, so a crash in the middle of a write leaves the previous
// bookmark readable. Entries are created on the main thread (persist-state requires it) and
// written from the worker thread (mapping entries is thread safe).
#pragma once

#include "bookmarks/bookmark-store.hpp"
#include "bookmarks/persist-entries.hpp"
#include "core/log.hpp"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace wec {

class ChunkedBookmarkStore : public BookmarkStore
{
public:
  // `wake` is called (from the main thread) when an entry allocation finished.
  ChunkedBookmarkStore(PersistEntries &entries, std::string base_name, std::function<void()> wake, LogFunction log);
  ~ChunkedBookmarkStore() override;

  // Main thread, at init: finds this source's entries and keeps them alive in the file; renames
  // entries of older versions; removes those not written for longer than `expiry` (0: never).
  void load_all(std::chrono::seconds expiry);

  LoadResult load(const std::string &owner, const std::string &subscription) override;
  SaveResult save(const std::string &owner, const std::string &subscription, const std::string &bookmark,
                  std::string &error) override;

  // For the offline tool (wec-bookmarks), after load_all(): every readable bookmark of this source,
  // ordered by owner and subscription; removing one (both slots, every chunk; main thread; the space
  // is reclaimed at syslog-ng's next start), false when there is none; the persist-name()s that
  // have bookmarks in a file.
  struct Stored
  {
    std::string owner;
    std::string subscription;
    std::string bookmark;
  };
  std::vector<Stored> list() const;
  bool remove(const std::string &owner, const std::string &subscription);
  static std::vector<std::string> persist_names(PersistEntries &file);

  struct Shared;
  struct Slot;
  struct Entry;

private:
  std::string entry_key(const std::string &owner, const std::string &subscription) const;
  std::vector<std::string> entry_names() const;
  void migrate_legacy_names(std::vector<std::string> &names);
  std::optional<std::uint32_t> read_current(Entry &entry); // the newest valid slot; its write time
  void stamp_saved_at(Entry &entry, std::uint32_t when);
  void take_finished_allocations();

  PersistEntries &file_;
  std::string base_name_;
  LogFunction log_;
  std::shared_ptr<Shared> shared_;
  std::map<std::string, std::unique_ptr<Entry>> entries_;
};

} // namespace wec
