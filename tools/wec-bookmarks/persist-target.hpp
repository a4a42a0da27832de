// Bookmarks in syslog-ng's persist file, read and written through syslog-ng's own persist-state
// code and the module's ChunkedBookmarkStore (the same entries, the same layout), with syslog-ng
// stopped. Reading works on a private copy of the file, so list and export also work while
// syslog-ng runs, and on a read-only backup.
#pragma once

#include "target.hpp"

#include <memory>
#include <string>
#include <vector>

namespace wec::tool {

class PersistFileTarget : public BookmarkTarget
{
public:
  enum class Mode
  {
    Read,  // a private copy is opened; the file is never written
    Write, // the file is rewritten by commit(); refused while a process has it open
  };

  PersistFileTarget(const std::string &path, const std::string &persist_name, Mode mode);
  ~PersistFileTarget() override;

  std::vector<Record> list() override;
  std::optional<std::string> get(const std::string &owner, const std::string &subscription) override;
  bool put(const Record &record, bool only_if_absent) override;
  bool remove(const std::string &owner, const std::string &subscription) override;
  void commit() override;
  std::string describe() const override;

  // The persist-name()s that have bookmarks in the file (to say which one was meant).
  std::vector<std::string> persist_names() const;

  struct Session;

private:
  std::string path_;
  std::string persist_name_;
  std::unique_ptr<Session> session_;
};

} // namespace wec::tool
