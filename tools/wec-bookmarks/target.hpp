// Where bookmarks are kept: a persist file or Redis, behind one interface so that every command
// works on both the same way.
#pragma once

#include "records.hpp"

#include <optional>
#include <string>
#include <vector>

namespace wec::tool {

class BookmarkTarget
{
public:
  virtual ~BookmarkTarget() = default;
  // Every bookmark, ordered by owner and subscription.
  virtual std::vector<Record> list() = 0;
  virtual std::optional<std::string> get(const std::string &owner, const std::string &subscription) = 0;
  // Stores `record.bookmark` (canonical already). With `only_if_absent`, false when another
  // bookmark turned up meanwhile (a running collector wrote one) and nothing was written.
  virtual bool put(const Record &record, bool only_if_absent) = 0;
  virtual bool remove(const std::string &owner, const std::string &subscription) = 0;
  // Makes the changes durable (the persist file is replaced as a whole here).
  virtual void commit() = 0;
  // "persist file /var/lib/syslog-ng/syslog-ng.persist (persist-name 'default')", "Redis 10.0.0.5:6379 ..."
  virtual std::string describe() const = 0;
};

} // namespace wec::tool
