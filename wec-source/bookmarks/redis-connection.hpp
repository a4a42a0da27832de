// One synchronous hiredis connection, owned: the context and every reply are freed by their owners.
// Connecting and each reply wait at most the timeout given to open(); a connection that failed once
// is broken for good (hiredis cannot tell which pipelined commands took effect), open a new one.
// And the way to a usable Redis that the collector and wec-bookmarks share: the login (AUTH,
// SELECT) and the master named by Sentinels.
#pragma once

#include "bookmarks/redis-options.hpp"

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

struct redisContext;
struct redisReply;

namespace wec {

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

// Why a Redis could not be used, in parts: the collector's log line and wec-bookmarks' error word
// it each their own way.
struct RedisFailure
{
  enum class Kind
  {
    Connect,       // no connection to `server` (refused, timed out, TLS): `reason`
    NoAnswer,      // `command` got no reply, the connection broke or timed out: `reason`
    Refused,       // `command` got an error reply: `reason`
    UnknownMaster, // the Sentinel does not monitor master_name (it answered nil)
    OddAnswer,     // the Sentinel answered neither an address nor nil: `reason`
    NotMaster,     // ROLE answered `reason` ("slave"), not "master"
  };
  Kind kind = Kind::Connect;
  RedisAddress server; // where it failed: a Redis, or the Sentinel asked
  std::string command; // AUTH, SELECT, SENTINEL or ROLE
  std::string reason;
  RedisAddress sentinel;    // through Sentinels: the one asked (port 0: none)
  bool at_sentinel = false; // it failed at that Sentinel, not at the master the Sentinel named
};

// Connects to `at` with options.timeout and options.tls, and logs in: AUTH when password is set
// (with username: a Redis 6 ACL user), SELECT when database is not 0. Nothing and why when it cannot.
std::unique_ptr<RedisConnection> redis_login(const RedisAddress &at, const RedisOptions &options,
                                             RedisFailure &failure);

// Does ROLE call the Redis at `at` the master? (A Sentinel may still name a demoted one during a failover.)
bool is_master(RedisConnection &connection, const RedisAddress &at, RedisFailure &failure);

struct RedisMaster
{
  std::unique_ptr<RedisConnection> connection; // logged in to the master; nothing when no Sentinel led to one
  RedisAddress address;
  std::size_t sentinel = 0;           // the index of the Sentinel that named it
  std::vector<RedisFailure> failures; // one per Sentinel that did not lead to it, in the order asked
};

// Asks options.sentinels in turn, from index `first`, for the address of options.master_name (AUTH
// with options.sentinel_password when set), logs in to that Redis and checks with ROLE that it is
// the master; on any failure it asks the next Sentinel. `stop`, when given, is asked before each.
RedisMaster find_master(const RedisOptions &options, std::size_t first = 0, const std::function<bool()> &stop = {});

} // namespace wec
