// A blocking hiredis connection with RAII for the context and every reply, bounded by timeouts;
// failures are ToolErrors that name the server. (Minimal: what wec-bookmarks needs.)
#pragma once

#include <hiredis/hiredis.h>

#include <chrono>
#include <memory>
#include <string>
#include <vector>

namespace wec::tool {

struct ReplyDeleter
{
  void operator()(redisReply *reply) const { freeReplyObject(reply); }
};
using RedisReply = std::unique_ptr<redisReply, ReplyDeleter>;

class RedisConnection
{
public:
  RedisConnection(const std::string &host, int port, std::chrono::milliseconds timeout);

  // The reply, an error reply included; a ToolError when the server cannot be reached.
  RedisReply command(const std::vector<std::string> &arguments);
  // The same, and a ToolError for an error reply: "<what> failed on <server>: <error>".
  RedisReply checked(const std::vector<std::string> &arguments, const std::string &what);
  // AUTH with a password, and the user name when there is one (Redis 6 ACLs).
  void authenticate(const std::string &username, const std::string &password);

  const std::string &name() const { return name_; } // "host:port"

private:
  struct ContextDeleter
  {
    void operator()(redisContext *context) const { redisFree(context); }
  };
  std::unique_ptr<redisContext, ContextDeleter> context_;
  std::string name_;
};

} // namespace wec::tool
