// Bookmarks in Redis, in the collector's layout: one hash per owner, key = key prefix + owner
// ("wec:certificate:win01.corp.example"), field = subscription name, value = the <BookmarkList>.
// Redis is live: collectors keep writing while the tool runs, so a new bookmark is written with
// HSETNX (a collector's own newer one wins). The connection, the login and the Sentinel lookup
// are the collector's own (bookmarks/redis-connection.hpp).
#pragma once

#include "target.hpp"

#include "bookmarks/redis-connection.hpp"

#include <memory>
#include <string>
#include <vector>

namespace wec::tool {

class RedisTarget : public BookmarkTarget
{
public:
  // Connects to options.host, or to the master that options.sentinels name; a ToolError when it cannot.
  explicit RedisTarget(const RedisOptions &options);

  std::vector<Record> list() override;
  std::optional<std::string> get(const std::string &owner, const std::string &subscription) override;
  bool put(const Record &record, bool only_if_absent) override;
  bool remove(const std::string &owner, const std::string &subscription) override;
  void commit() override {}
  std::string describe() const override;

private:
  // The reply, an error reply included; a ToolError when the server did not answer.
  RedisReply command(const std::vector<std::string_view> &arguments);
  // The same, and a ToolError for an error reply: "<what> failed on Redis at <server>: <error>".
  RedisReply checked(const std::vector<std::string_view> &arguments, const std::string &what);

  RedisOptions options_;
  RedisAddress server_;
  std::unique_ptr<RedisConnection> connection_;
};

} // namespace wec::tool
