// Bookmarks in Redis, in the collector's layout: one hash per owner, key = key prefix + owner
// ("wec:certificate:win01.corp.example"), field = subscription name, value = the <BookmarkList>.
// Redis is live: collectors keep writing while the tool runs, so a new bookmark is written with
// HSETNX (a collector's own newer one wins).
#pragma once

#include "redis-connection.hpp"
#include "target.hpp"

#include <memory>
#include <string>
#include <vector>

namespace wec::tool {

struct RedisOptions
{
  std::string host;
  int port = 6379;
  std::string username;
  std::string password;
  int db = 0;
  std::string key_prefix = "wec:";
  std::vector<std::string> sentinels; // host:port, asked in turn for the master's address
  std::string master_name;
  std::string sentinel_password;
};

class RedisTarget : public BookmarkTarget
{
public:
  explicit RedisTarget(const RedisOptions &options);

  std::vector<Record> list() override;
  std::optional<std::string> get(const std::string &owner, const std::string &subscription) override;
  bool put(const Record &record, bool only_if_absent) override;
  bool remove(const std::string &owner, const std::string &subscription) override;
  void commit() override {}
  std::string describe() const override;

private:
  RedisOptions options_;
  std::unique_ptr<RedisConnection> connection_;
};

} // namespace wec::tool
