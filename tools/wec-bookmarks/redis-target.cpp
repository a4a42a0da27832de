#include "redis-target.hpp"

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <tuple>

namespace wec::tool {

namespace {

constexpr std::chrono::milliseconds kTimeout{5000};
constexpr std::size_t kMaxScanRounds = 1000000; // SCAN ends by itself; this only bounds a broken server

std::string text_of(const redisReply *reply) { return std::string(reply->str ? reply->str : "", reply->len); }

// SCAN's MATCH is a glob: the prefix is matched literally.
std::string glob_literal(const std::string &text)
{
  std::string out;
  for (char c : text)
    {
      if (c == '*' || c == '?' || c == '[' || c == ']' || c == '\\')
        out += '\\';
      out += c;
    }
  return out;
}

bool is_owner(const std::string &owner)
{
  return owner.rfind("certificate:", 0) == 0 || owner.rfind("kerberos:", 0) == 0;
}

std::pair<std::string, int> split_host_port(const std::string &address)
{
  const std::size_t colon = address.rfind(':');
  int port = 0;
  if (colon != std::string::npos)
    port = std::atoi(address.c_str() + colon + 1);
  if (colon == std::string::npos || colon == 0 || port <= 0 || port > 65535)
    throw ToolError("--sentinel " + address + " is not HOST:PORT (for example 10.0.0.5:26379)");
  return {address.substr(0, colon), port};
}

// Asks each sentinel in turn where the master is; the first answer counts.
std::pair<std::string, int> master_from_sentinels(const RedisOptions &options)
{
  std::string failures;
  for (const auto &sentinel : options.sentinels)
    {
      try
        {
          const auto [host, port] = split_host_port(sentinel);
          RedisConnection connection(host, port, kTimeout);
          connection.authenticate("", options.sentinel_password);
          RedisReply reply =
              connection.checked({"SENTINEL", "get-master-addr-by-name", options.master_name}, "SENTINEL");
          if (reply->type == REDIS_REPLY_ARRAY && reply->elements == 2)
            return {text_of(reply->element[0]), std::atoi(text_of(reply->element[1]).c_str())};
          failures += "; " + sentinel + " does not know a master named '" + options.master_name + "'";
        }
      catch (const ToolError &e)
        {
          failures += std::string("; ") + e.what();
        }
    }
  throw ToolError("no sentinel gave the address of master '" + options.master_name + "'" + failures +
                  " (check --sentinel and --master-name: the name of the sentinel's 'monitor' line)");
}

} // namespace

RedisTarget::RedisTarget(const RedisOptions &options) : options_(options)
{
  std::string host = options.host;
  int port = options.port;
  if (!options.sentinels.empty())
    std::tie(host, port) = master_from_sentinels(options);
  connection_ = std::make_unique<RedisConnection>(host, port, kTimeout);
  connection_->authenticate(options.username, options.password);
  if (options.db != 0)
    connection_->checked({"SELECT", std::to_string(options.db)}, "SELECT " + std::to_string(options.db));
  if (!options.sentinels.empty())
    {
      // a sentinel's answer can be stale during a failover: writes must go to the master
      RedisReply role = connection_->checked({"ROLE"}, "ROLE");
      if (role->type != REDIS_REPLY_ARRAY || role->elements == 0 || text_of(role->element[0]) != "master")
        throw ToolError("Redis at " + connection_->name() + ", named by the sentinels as master '" +
                        options.master_name + "', is not a master (a failover under way?); run this again");
    }
}

std::vector<Record> RedisTarget::list()
{
  std::vector<std::string> keys;
  std::string cursor = "0";
  for (std::size_t round = 0; round < kMaxScanRounds; ++round)
    {
      RedisReply reply = connection_->checked(
          {"SCAN", cursor, "MATCH", glob_literal(options_.key_prefix) + "*", "COUNT", "1000"}, "SCAN");
      if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2)
        throw ToolError("Redis at " + connection_->name() +
                        " answered SCAN with something else than a cursor and keys");
      cursor = text_of(reply->element[0]);
      for (std::size_t i = 0; i < reply->element[1]->elements; ++i)
        keys.push_back(text_of(reply->element[1]->element[i]));
      if (cursor == "0")
        break;
    }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end()); // SCAN may return a key twice

  std::vector<Record> records;
  for (const auto &key : keys)
    {
      const std::string owner = key.substr(options_.key_prefix.size());
      if (!is_owner(owner))
        continue; // not a bookmark hash
      RedisReply reply = connection_->command({"HGETALL", key});
      if (reply->type == REDIS_REPLY_ERROR)
        {
          std::cerr << "wec-bookmarks: warning: Redis key " << key << " skipped: " << text_of(reply.get()) << '\n';
          continue;
        }
      std::vector<Record> fields;
      for (std::size_t i = 0; i + 1 < reply->elements; i += 2)
        fields.push_back({owner, text_of(reply->element[i]), text_of(reply->element[i + 1])});
      std::sort(fields.begin(), fields.end(),
                [](const Record &a, const Record &b) { return a.subscription < b.subscription; });
      records.insert(records.end(), fields.begin(), fields.end());
    }
  return records;
}

std::optional<std::string> RedisTarget::get(const std::string &owner, const std::string &subscription)
{
  RedisReply reply = connection_->checked({"HGET", options_.key_prefix + owner, subscription}, "HGET");
  if (reply->type != REDIS_REPLY_STRING)
    return std::nullopt;
  return text_of(reply.get());
}

bool RedisTarget::put(const Record &record, bool only_if_absent)
{
  RedisReply reply = connection_->checked(
      {only_if_absent ? "HSETNX" : "HSET", options_.key_prefix + record.owner, record.subscription, record.bookmark},
      "writing the bookmark of " + record.owner + ", " + record.subscription);
  return !only_if_absent || reply->integer == 1;
}

bool RedisTarget::remove(const std::string &owner, const std::string &subscription)
{
  RedisReply reply = connection_->checked({"HDEL", options_.key_prefix + owner, subscription},
                                          "deleting the bookmark of " + owner + ", " + subscription);
  return reply->integer == 1;
}

std::string RedisTarget::describe() const
{
  return "Redis " + connection_->name() +
         (options_.master_name.empty() ? "" : " (master " + options_.master_name + ")") + " db " +
         std::to_string(options_.db) + " key prefix '" + options_.key_prefix + "'";
}

} // namespace wec::tool
