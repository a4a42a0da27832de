// One synchronous hiredis connection, owned: the context and every reply are freed by their owners.
// Connecting and each reply wait at most the timeout given to open(); a connection that failed once
// is broken for good (hiredis cannot tell which pipelined commands took effect), open a new one.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace wec::detail {

struct RedisReplyDeleter
{
  void operator()(redisReply *reply) const;
};
using RedisReply = std::unique_ptr<redisReply, RedisReplyDeleter>;

// What a reply says, without hiredis' header: its kind and its text (status, error or string).
enum class RedisReplyKind
{
  String,
  Status,
  Error,
  Integer,
  Nil,
  Array,
  Other,
};
RedisReplyKind reply_kind(const redisReply &reply);
std::string reply_text(const redisReply &reply);
long long reply_integer(const redisReply &reply);
std::size_t reply_elements(const redisReply &reply);
const redisReply &reply_element(const redisReply &reply, std::size_t index);

struct RedisTlsFiles
{
  std::string ca_file, cert_file, key_file;
};

class RedisConnection
{
public:
  // Connects to host:port within `timeout` (then every reply is awaited at most that long), with TLS
  // when `tls` is given. Nothing and a one-line reason when it cannot.
  static std::unique_ptr<RedisConnection> open(const std::string &host, int port, std::chrono::milliseconds timeout,
                                               const RedisTlsFiles *tls, std::string &error);
  ~RedisConnection();
  RedisConnection(const RedisConnection &) = delete;
  RedisConnection &operator=(const RedisConnection &) = delete;

  // Queues a command (binary-safe arguments); nothing is sent before the next reply is asked for.
  void append(const std::vector<std::string_view> &arguments);
  // Sends what is queued and reads the next reply; nothing and a reason when the connection broke.
  RedisReply next_reply(std::string &error);
  // append() + next_reply().
  RedisReply command(const std::vector<std::string_view> &arguments, std::string &error);

  static bool tls_supported();          // built against hiredis 1.0 or newer with hiredis_ssl
  static std::string library_version(); // "0.14"

  struct Tls;

private:
  RedisConnection(redisContext *context, std::unique_ptr<Tls> tls);
  redisContext *context_;
  std::unique_ptr<Tls> tls_; // outlives the context that uses it
};

} // namespace wec::detail
