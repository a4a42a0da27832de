// A file of named, fixed-size entries that survives restarts: syslog-ng's persist file. Names are
// listed, looked up, moved, removed and allocated on the host's main thread only; a mapped entry
// may be read and written from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace wec {

class PersistEntries
{
public:
  using Handle = std::uint32_t; // 0: no entry

  virtual ~PersistEntries() = default;
  virtual std::vector<std::string> names_starting_with(const std::string &prefix) = 0;
  virtual Handle lookup(const std::string &name, std::size_t &size) = 0;
  virtual bool exists(const std::string &name) = 0;
  virtual bool move(const std::string &from, const std::string &to) = 0;
  virtual void remove(const std::string &name) = 0; // the space is reclaimed at the next start
  // A zero-filled entry, or 0 and a one-line reason when the file cannot take it.
  virtual Handle allocate(const std::string &name, std::size_t size, std::string &error) = 0;
  virtual void *map(Handle handle) = 0;
  virtual void unmap(Handle handle) = 0;
  // Runs `task` later on the main thread (never inside this call); any thread may call it.
  virtual void call_on_main_thread(std::function<void()> task) = 0;
};

} // namespace wec
