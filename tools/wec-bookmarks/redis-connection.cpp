#include "redis-connection.hpp"

#include "records.hpp"

#include <sys/time.h>

namespace wec::tool {

namespace {

timeval to_timeval(std::chrono::milliseconds timeout)
{
  return timeval{static_cast<time_t>(timeout.count() / 1000), static_cast<suseconds_t>(timeout.count() % 1000 * 1000)};
}

} // namespace

RedisConnection::RedisConnection(const std::string &host, int port, std::chrono::milliseconds timeout)
    : context_(redisConnectWithTimeout(host.c_str(), port, to_timeval(timeout))),
      name_(host + ":" + std::to_string(port))
{
  if (!context_)
    throw ToolError("cannot connect to Redis at " + name_ + ": out of memory");
  if (context_->err)
    throw ToolError("cannot connect to Redis at " + name_ + ": " + context_->errstr +
                    " (check --redis-host/--redis-port, or --sentinel, and that Redis listens there)");
  redisSetTimeout(context_.get(), to_timeval(timeout));
}

RedisReply RedisConnection::command(const std::vector<std::string> &arguments)
{
  std::vector<const char *> argv;
  std::vector<std::size_t> lengths;
  for (const auto &argument : arguments)
    {
      argv.push_back(argument.data());
      lengths.push_back(argument.size());
    }
  RedisReply reply(static_cast<redisReply *>(
      redisCommandArgv(context_.get(), static_cast<int>(argv.size()), argv.data(), lengths.data())));
  if (!reply)
    throw ToolError("Redis at " + name_ + " did not answer " + arguments.front() + ": " + context_->errstr);
  return reply;
}

RedisReply RedisConnection::checked(const std::vector<std::string> &arguments, const std::string &what)
{
  RedisReply reply = command(arguments);
  if (reply->type == REDIS_REPLY_ERROR)
    {
      const std::string error(reply->str, reply->len);
      std::string hint;
      if (error.rfind("NOAUTH", 0) == 0 || error.rfind("WRONGPASS", 0) == 0)
        hint = " (give --redis-password, and --redis-username for an ACL user, or WEC_REDIS_PASSWORD)";
      else if (error.rfind("NOPERM", 0) == 0)
        hint = " (the Redis user needs the hash commands, SCAN and SELECT on these keys)";
      throw ToolError(what + " failed on Redis at " + name_ + ": " + error + hint);
    }
  return reply;
}

void RedisConnection::authenticate(const std::string &username, const std::string &password)
{
  if (password.empty())
    return;
  if (username.empty())
    checked({"AUTH", password}, "AUTH");
  else
    checked({"AUTH", username, password}, "AUTH as " + username);
}

} // namespace wec::tool
