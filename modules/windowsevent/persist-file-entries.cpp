#include "persist-file-entries.hpp"

#include "bookmarks/persist-file-room.hpp"

#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <memory>

#include "cpp-start.h"
#include "mainloop-call.h"
#include "persist-state.h"
#include "cpp-end.h"

namespace wec::module {

namespace {

gpointer run_task(gpointer user_data)
{
  std::unique_ptr<std::function<void()>> task(static_cast<std::function<void()> *>(user_data));
  (*task)();
  return nullptr;
}

} // namespace

std::vector<std::string> PersistFileEntries::names_starting_with(const std::string &prefix)
{
  // Collected first: looking entries up while iterating would touch the table being walked.
  std::vector<std::string> names;
  auto collect = [](gchar *name, gint, gpointer, gpointer names) {
    static_cast<std::vector<std::string> *>(names)->emplace_back(name);
  };
  persist_state_foreach_entry(state_, collect, &names);
  names.erase(std::remove_if(names.begin(), names.end(), [&](const std::string &n) { return n.rfind(prefix, 0) != 0; }),
              names.end());
  return names;
}

PersistEntries::Handle PersistFileEntries::lookup(const std::string &name, std::size_t &size)
{
  gsize entry_size = 0;
  guint8 version = 0;
  const Handle handle = persist_state_lookup_entry(state_, name.c_str(), &entry_size, &version);
  size = entry_size;
  return handle;
}

bool PersistFileEntries::exists(const std::string &name) { return persist_state_entry_exists(state_, name.c_str()); }

bool PersistFileEntries::move(const std::string &from, const std::string &to)
{
  // persist_state_rename_entry() only renames in memory; move writes the new key to the file.
  return persist_state_move_entry(state_, from.c_str(), to.c_str());
}

void PersistFileEntries::remove(const std::string &name) { persist_state_remove_entry(state_, name.c_str()); }

PersistEntries::Handle PersistFileEntries::allocate(const std::string &name, std::size_t size, std::string &error)
{
  // Refuse before syslog-ng would have to grow a file it cannot grow (see persist-file-room.hpp).
  const PersistFileLayout layout{
      state_->current_ofs, state_->current_size, static_cast<std::uint64_t>(state_->current_key_ofs),
      static_cast<std::uint64_t>(state_->current_key_size), static_cast<std::uint64_t>(getpagesize())};
  if (!persist_can_grow(state_->fd, persist_growth_for(layout, name, size), error))
    return 0;
  const Handle handle = persist_state_alloc_entry(state_, name.c_str(), size);
  if (!handle)
    {
      error = "cannot create an entry in the persist file (see syslog-ng's messages before this one)";
      return 0;
    }
  std::memset(persist_state_map_entry(state_, handle), 0, size);
  persist_state_unmap_entry(state_, handle);
  return handle;
}

void *PersistFileEntries::map(Handle handle) { return persist_state_map_entry(state_, handle); }

void PersistFileEntries::unmap(Handle handle) { persist_state_unmap_entry(state_, handle); }

void PersistFileEntries::call_on_main_thread(std::function<void()> task)
{
  main_loop_call(run_task, new std::function<void()>(std::move(task)), FALSE);
}

} // namespace wec::module
