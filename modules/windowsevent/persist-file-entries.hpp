// PersistEntries on syslog-ng's persist file (persist-state.h): what the engine's bookmark store
// needs, plus the disk-space check that keeps a full filesystem from stopping syslog-ng.
#pragma once

#include "bookmarks/persist-entries.hpp"

typedef struct _PersistState PersistState;

namespace wec::module {

class PersistFileEntries : public PersistEntries
{
public:
  explicit PersistFileEntries(PersistState *state) : state_(state) {}

  std::vector<std::string> names_starting_with(const std::string &prefix) override;
  Handle lookup(const std::string &name, std::size_t &size) override;
  bool exists(const std::string &name) override;
  bool move(const std::string &from, const std::string &to) override;
  void remove(const std::string &name) override;
  Handle allocate(const std::string &name, std::size_t size, std::string &error) override;
  void *map(Handle handle) override;
  void unmap(Handle handle) override;
  void call_on_main_thread(std::function<void()> task) override;

private:
  PersistState *state_;
};

} // namespace wec::module
