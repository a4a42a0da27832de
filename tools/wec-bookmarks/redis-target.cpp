#include "redis-target.hpp"

#include "bookmarks/bookmark-store.hpp"

#include <algorithm>
#include <iostream>

namespace wec::tool {

namespace {

constexpr std::chrono::milliseconds kTimeout{5000};
constexpr std::size_t kMaxScanRounds = 1000000; // SCAN ends by itself; this only bounds a broken server

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

// "<what> failed on Redis at <server>: <error>", with what to do about the usual refusals.
std::string refusal_text(const std::string &what, const std::string &server, const std::string &error)
{
  std::string hint;
  if (error.rfind("NOAUTH", 0) == 0 || error.rfind("WRONGPASS", 0) == 0)
    hint = " (give --redis-password, and --redis-username for an ACL user, or WEC_REDIS_PASSWORD)";
  else if (error.rfind("NOPERM", 0) == 0)
    hint = " (the Redis user needs the hash commands, SCAN and SELECT on these keys)";
  return what + " failed on Redis at " + server + ": " + error + hint;
}

// How the tool words a failure to reach Redis, in its options' terms.
std::string failure_text(const RedisFailure &failure, const RedisOptions &options)
{
  using Kind = RedisFailure::Kind;
  const std::string server = failure.server.text();
  switch (failure.kind)
    {
    case Kind::Connect:
      return "cannot connect to Redis at " + server + ": " + failure.reason +
             " (check --redis-host/--redis-port, or --sentinel, and that Redis listens there)";
    case Kind::NoAnswer: return "Redis at " + server + " did not answer " + failure.command + ": " + failure.reason;
      case Kind::Refused: {
        std::string what = failure.command;
        if (what == "AUTH" && !failure.at_sentinel && !options.username.empty())
          what += " as " + options.username;
        else if (what == "SELECT")
          what += " " + std::to_string(options.database);
        return refusal_text(what, server, failure.reason);
      }
    case Kind::UnknownMaster:
    case Kind::OddAnswer:
      return failure.sentinel.text() + " does not know a master named '" + options.master_name + "'";
    case Kind::NotMaster:
      return "Redis at " + server + ", named by the sentinels as master '" + options.master_name +
             "', is not a master (a failover under way?); run this again";
    }
  return failure.reason;
}

} // namespace

RedisTarget::RedisTarget(const RedisOptions &options) : options_(options)
{
  options_.timeout = kTimeout;
  if (options_.sentinels.empty())
    {
      server_ = {options_.host, options_.host_port()};
      RedisFailure failure;
      connection_ = redis_login(server_, options_, failure);
      if (!connection_)
        throw ToolError(failure_text(failure, options_));
      return;
    }
  RedisMaster found = find_master(options_);
  if (!found.connection)
    {
      // A master was named but not usable (down, AUTH, not a master any more): that is the news.
      for (const RedisFailure &failure : found.failures)
        if (!failure.at_sentinel)
          throw ToolError(failure_text(failure, options_));
      std::string failures;
      for (const RedisFailure &failure : found.failures)
        failures += "; " + failure_text(failure, options_);
      throw ToolError("no sentinel gave the address of master '" + options_.master_name + "'" + failures +
                      " (check --sentinel and --master-name: the name of the sentinel's 'monitor' line)");
    }
  server_ = found.address;
  connection_ = std::move(found.connection);
}

RedisReply RedisTarget::command(const std::vector<std::string_view> &arguments)
{
  std::string error;
  RedisReply reply = connection_->command(arguments, error);
  if (!reply)
    throw ToolError("Redis at " + server_.text() + " did not answer " + std::string(arguments.front()) + ": " + error);
  return reply;
}

RedisReply RedisTarget::checked(const std::vector<std::string_view> &arguments, const std::string &what)
{
  RedisReply reply = command(arguments);
  if (reply_kind(*reply) == RedisReplyKind::Error)
    throw ToolError(refusal_text(what, server_.text(), reply_text(*reply)));
  return reply;
}

std::vector<Record> RedisTarget::list()
{
  std::vector<std::string> keys;
  std::string cursor = "0";
  for (std::size_t round = 0; round < kMaxScanRounds; ++round)
    {
      RedisReply reply =
          checked({"SCAN", cursor, "MATCH", glob_literal(options_.key_prefix) + "*", "COUNT", "1000"}, "SCAN");
      if (reply_kind(*reply) != RedisReplyKind::Array || reply_elements(*reply) != 2)
        throw ToolError("Redis at " + server_.text() + " answered SCAN with something else than a cursor and keys");
      cursor = reply_text(reply_element(*reply, 0));
      const redisReply &found = reply_element(*reply, 1);
      for (std::size_t i = 0; i < reply_elements(found); ++i)
        keys.push_back(reply_text(reply_element(found, i)));
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
      RedisReply reply = command({"HGETALL", key});
      if (reply_kind(*reply) == RedisReplyKind::Error)
        {
          std::cerr << "wec-bookmarks: warning: Redis key " << key << " skipped: " << reply_text(*reply) << '\n';
          continue;
        }
      std::vector<Record> fields;
      for (std::size_t i = 0; i + 1 < reply_elements(*reply); i += 2)
        fields.push_back({owner, reply_text(reply_element(*reply, i)), reply_text(reply_element(*reply, i + 1))});
      std::sort(fields.begin(), fields.end(),
                [](const Record &a, const Record &b) { return a.subscription < b.subscription; });
      records.insert(records.end(), fields.begin(), fields.end());
    }
  return records;
}

std::optional<std::string> RedisTarget::get(const std::string &owner, const std::string &subscription)
{
  RedisReply reply = checked({"HGET", options_.key_of(owner), subscription}, "HGET");
  if (reply_kind(*reply) != RedisReplyKind::String)
    return std::nullopt;
  return reply_text(*reply);
}

bool RedisTarget::put(const Record &record, bool only_if_absent)
{
  RedisReply reply =
      checked({only_if_absent ? "HSETNX" : "HSET", options_.key_of(record.owner), record.subscription, record.bookmark},
              "writing the bookmark of " + record.owner + ", " + record.subscription);
  return !only_if_absent || reply_integer(*reply) == 1;
}

bool RedisTarget::remove(const std::string &owner, const std::string &subscription)
{
  RedisReply reply = checked({"HDEL", options_.key_of(owner), subscription},
                             "deleting the bookmark of " + owner + ", " + subscription);
  return reply_integer(*reply) == 1;
}

std::string RedisTarget::describe() const
{
  return "Redis " + server_.text() + (options_.master_name.empty() ? "" : " (master " + options_.master_name + ")") +
         " db " + std::to_string(options_.database) + " key prefix '" + options_.key_prefix + "'";
}

} // namespace wec::tool
