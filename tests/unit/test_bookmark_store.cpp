// ChunkedBookmarkStore over an in-memory PersistEntries: what wec-bookmarks relies on. Listing
// gives back owners and subscriptions whose characters the entry names escape, removal drops both
// slots of one bookmark only, and the persist-name()s present are found.
#include <criterion/criterion.h>

#include "bookmarks/chunked-bookmark-store.hpp"
#include "expect.hpp"

#include <map>
#include <memory>
#include <string>
#include <vector>

using namespace wec;

namespace {

// Entries as the persist file has them, without a file: allocations wait for run_main_thread().
class MemoryEntries : public PersistEntries
{
public:
  std::map<std::string, Handle> names;
  std::vector<std::vector<unsigned char>> blocks{{}}; // handle 0 is "no entry"
  std::vector<std::function<void()>> main_thread;

  std::vector<std::string> names_starting_with(const std::string &prefix) override
  {
    std::vector<std::string> found;
    for (const auto &[name, handle] : names)
      if (name.rfind(prefix, 0) == 0)
        found.push_back(name);
    return found;
  }
  Handle lookup(const std::string &name, std::size_t &size) override
  {
    const auto it = names.find(name);
    if (it == names.end())
      return 0;
    size = blocks[it->second].size();
    return it->second;
  }
  bool exists(const std::string &name) override { return names.count(name) > 0; }
  bool move(const std::string &from, const std::string &to) override
  {
    names[to] = names[from];
    names.erase(from);
    return true;
  }
  void remove(const std::string &name) override { names.erase(name); }
  Handle allocate(const std::string &name, std::size_t size, std::string &) override
  {
    blocks.emplace_back(size, 0);
    names[name] = static_cast<Handle>(blocks.size() - 1);
    return names[name];
  }
  void *map(Handle handle) override { return blocks[handle].data(); }
  void unmap(Handle) override {}
  void call_on_main_thread(std::function<void()> task) override { main_thread.push_back(std::move(task)); }
  void run_main_thread()
  {
    auto tasks = std::move(main_thread);
    main_thread.clear();
    for (auto &task : tasks)
      task();
  }
};

void ignore_log(LogLevel, const std::string &, const LogTags &) {}

std::unique_ptr<ChunkedBookmarkStore> open_store(MemoryEntries &entries, const std::string &base)
{
  auto store = std::make_unique<ChunkedBookmarkStore>(
      entries, base, [] {}, ignore_log);
  store->load_all(std::chrono::seconds(0));
  return store;
}

void save(ChunkedBookmarkStore &store, MemoryEntries &entries, const std::string &owner,
          const std::string &subscription, const std::string &bookmark)
{
  std::string error;
  for (int round = 0; round < 4; ++round)
    {
      const auto result = store.save(owner, subscription, bookmark, error);
      if (result == BookmarkStore::SaveResult::Committed)
        return;
      cr_assert(result == BookmarkStore::SaveResult::Pending, "save failed: %s", error.c_str());
      entries.run_main_thread();
    }
  cr_assert_fail("save still pending");
}

std::string bookmark(int record_id, std::size_t channels = 1)
{
  std::string list = "<BookmarkList>";
  for (std::size_t n = 0; n < channels; ++n)
    list += "<Bookmark Channel=\"Channel-" + std::to_string(n) + "\" RecordId=\"" + std::to_string(record_id) + "\"/>";
  return list + "</BookmarkList>";
}

} // namespace

Test(bookmark_store, lists_what_a_new_store_reads_back_with_escaped_names_restored)
{
  MemoryEntries entries;
  const std::string odd_owner = "certificate:odd,name (100%)";
  const std::string odd_subscription = "sub,with(parens)%";
  {
    auto store = open_store(entries, "wec");
    save(*store, entries, "kerberos:WIN01$@CORP.EXAMPLE", "security", bookmark(7));
    save(*store, entries, odd_owner, odd_subscription, bookmark(8));
    save(*store, entries, "certificate:win01.corp.example", "system", bookmark(9, 200));  // several chunks
    save(*store, entries, "certificate:win01.corp.example", "system", bookmark(10, 200)); // the other slot
  }
  auto store = open_store(entries, "wec");
  const auto listed = store->list();
  cr_assert_eq(listed.size(), 3);
  EXPECT_STR(listed[0].owner, "certificate:odd,name (100%)");
  EXPECT_STR(listed[0].subscription, odd_subscription);
  EXPECT_STR(listed[0].bookmark, bookmark(8));
  EXPECT_STR(listed[1].owner, "certificate:win01.corp.example");
  EXPECT_STR(listed[1].bookmark, bookmark(10, 200));
  EXPECT_STR(listed[2].owner, "kerberos:WIN01$@CORP.EXAMPLE");
  cr_assert(open_store(entries, "default")->list().empty(), "another persist-name sees nothing");
}

Test(bookmark_store, remove_drops_every_chunk_of_one_bookmark_only)
{
  MemoryEntries entries;
  auto store = open_store(entries, "default");
  save(*store, entries, "certificate:a", "security", bookmark(1, 200));
  save(*store, entries, "certificate:a", "security", bookmark(2, 200));
  save(*store, entries, "certificate:a", "system", bookmark(3));
  save(*store, entries, "certificate:b", "security", bookmark(4));
  auto count_of = [&](const std::string &key) {
    return entries.names_starting_with("windowsevent_bookmark(default," + key + ",").size();
  };
  cr_assert_gt(count_of("certificate:a,security"), 2, "two slots of several chunks");
  const std::size_t others = entries.names.size() - count_of("certificate:a,security");

  cr_assert(store->remove("certificate:a", "security"));
  cr_assert_not(store->remove("certificate:a", "security"), "already gone");
  cr_assert_not(store->remove("certificate:c", "security"), "never there");
  cr_assert_eq(count_of("certificate:a,security"), 0);
  cr_assert_eq(entries.names.size(), others, "the other bookmarks' entries are kept");
  cr_assert_eq(store->load("certificate:a", "security").status, BookmarkStore::LoadStatus::None);

  auto reopened = open_store(entries, "default");
  const auto listed = reopened->list();
  cr_assert_eq(listed.size(), 2);
  EXPECT_STR(listed[0].subscription, "system");
  EXPECT_STR(listed[1].owner, "certificate:b");
  save(*reopened, entries, "certificate:a", "security", bookmark(5)); // and can be stored again
  const BookmarkStore::LoadResult after_reopen = open_store(entries, "default")->load("certificate:a", "security");
  cr_assert_eq(after_reopen.status, BookmarkStore::LoadStatus::Found);
  EXPECT_STR(after_reopen.bookmark, bookmark(5));
}

Test(bookmark_store, persist_names_found_in_the_file)
{
  MemoryEntries entries;
  save(*open_store(entries, "default"), entries, "certificate:a", "s", bookmark(1));
  save(*open_store(entries, "wec,east"), entries, "certificate:a", "s", bookmark(1));
  entries.names["affile_sd_curpos(/var/log/messages)"] = 0; // another driver's entry
  const auto names = ChunkedBookmarkStore::persist_names(entries);
  cr_assert_eq(names.size(), 2);
  EXPECT_STR(names[0], "default");
  EXPECT_STR(names[1], "wec,east");
}
