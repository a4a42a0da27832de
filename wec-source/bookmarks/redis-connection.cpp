#include "bookmarks/redis-connection.hpp"

#include <hiredis/hiredis.h>

#include <cstdlib>

// TLS needs hiredis 1.0's hiredis_ssl; Debian 12 ships 0.14, which has none (see docs/configuration.md).
#if HIREDIS_MAJOR >= 1 && defined(WEC_HAVE_HIREDIS_SSL)
#include <hiredis/hiredis_ssl.h>
#define WEC_REDIS_TLS 1
#else
#define WEC_REDIS_TLS 0
#endif

namespace wec {

void RedisReplyDeleter::operator()(redisReply *reply) const { freeReplyObject(reply); }

RedisReplyKind reply_kind(const redisReply &reply)
{
  switch (reply.type)
    {
    case REDIS_REPLY_STRING: return RedisReplyKind::String;
    case REDIS_REPLY_STATUS: return RedisReplyKind::Status;
    case REDIS_REPLY_ERROR: return RedisReplyKind::Error;
    case REDIS_REPLY_INTEGER: return RedisReplyKind::Integer;
    case REDIS_REPLY_NIL: return RedisReplyKind::Nil;
    case REDIS_REPLY_ARRAY: return RedisReplyKind::Array;
    default: return RedisReplyKind::Other;
    }
}

std::string reply_text(const redisReply &reply)
{
  const bool has_text =
      reply.type == REDIS_REPLY_STRING || reply.type == REDIS_REPLY_STATUS || reply.type == REDIS_REPLY_ERROR;
  return has_text && reply.str ? std::string(reply.str, reply.len) : std::string();
}

long long reply_integer(const redisReply &reply) { return reply.type == REDIS_REPLY_INTEGER ? reply.integer : 0; }

std::size_t reply_elements(const redisReply &reply) { return reply.type == REDIS_REPLY_ARRAY ? reply.elements : 0; }

const redisReply &reply_element(const redisReply &reply, std::size_t index) { return *reply.element[index]; }

struct RedisConnection::Tls
{
#if WEC_REDIS_TLS
  redisSSLContext *context = nullptr;
  ~Tls() { redisFreeSSLContext(context); }
#endif
};

namespace {

timeval to_timeval(std::chrono::milliseconds timeout)
{
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
  return tv;
}

std::string context_error(const redisContext *context)
{
  std::string text = context->errstr;
  // A socket timeout surfaces as EAGAIN's text.
  if (text == "Resource temporarily unavailable")
    return "no answer within timeout()";
  return text.empty() ? "connection failed" : text;
}

} // namespace

RedisConnection::RedisConnection(redisContext *context, std::unique_ptr<Tls> tls)
    : context_(context), tls_(std::move(tls))
{}

RedisConnection::~RedisConnection() { redisFree(context_); }

std::unique_ptr<RedisConnection> RedisConnection::open(const std::string &host, int port,
                                                       std::chrono::milliseconds timeout, const RedisTlsFiles *tls,
                                                       std::string &error)
{
  const timeval tv = to_timeval(timeout);
  redisContext *context = redisConnectWithTimeout(host.c_str(), port, tv);
  if (!context)
    {
      error = "cannot allocate a connection";
      return nullptr;
    }
  std::unique_ptr<Tls> tls_state = std::make_unique<Tls>();
  std::unique_ptr<RedisConnection> connection(new RedisConnection(context, std::move(tls_state)));
  if (context->err)
    {
      error = context_error(context);
      return nullptr;
    }
  if (redisSetTimeout(context, tv) != REDIS_OK)
    {
      error = context_error(context);
      return nullptr;
    }
  redisEnableKeepAlive(context);
#if WEC_REDIS_TLS
  if (tls)
    {
      redisSSLContextError ssl_error = REDIS_SSL_CTX_NONE;
      auto text = [](const std::string &s) { return s.empty() ? nullptr : s.c_str(); };
      connection->tls_->context = redisCreateSSLContext(text(tls->ca_file), nullptr, text(tls->cert_file),
                                                        text(tls->key_file), host.c_str(), &ssl_error);
      if (!connection->tls_->context)
        {
          error = std::string("TLS set-up failed: ") + redisSSLContextGetError(ssl_error);
          return nullptr;
        }
      if (redisInitiateSSLWithContext(context, connection->tls_->context) != REDIS_OK)
        {
          error = "TLS handshake failed: " + context_error(context);
          return nullptr;
        }
    }
#else
  if (tls)
    {
      error = "TLS needs hiredis 1.0 or newer";
      return nullptr;
    }
#endif
  return connection;
}

void RedisConnection::append(const std::vector<std::string_view> &arguments)
{
  std::vector<const char *> pointers;
  std::vector<std::size_t> lengths;
  for (const auto &argument : arguments)
    {
      pointers.push_back(argument.data());
      lengths.push_back(argument.size());
    }
  redisAppendCommandArgv(context_, static_cast<int>(arguments.size()), pointers.data(), lengths.data());
}

RedisReply RedisConnection::next_reply(std::string &error)
{
  void *reply = nullptr;
  if (context_->err || redisGetReply(context_, &reply) != REDIS_OK || !reply)
    {
      error = context_error(context_);
      return nullptr;
    }
  return RedisReply(static_cast<redisReply *>(reply));
}

RedisReply RedisConnection::command(const std::vector<std::string_view> &arguments, std::string &error)
{
  append(arguments);
  return next_reply(error);
}

bool RedisConnection::tls_supported() { return WEC_REDIS_TLS != 0; }

std::string RedisConnection::library_version()
{
  return std::to_string(HIREDIS_MAJOR) + "." + std::to_string(HIREDIS_MINOR);
}

namespace {

using Kind = RedisFailure::Kind;

// Sends one command; its reply, or nothing and why when it got none or an error reply.
RedisReply accepted(RedisConnection &connection, const std::vector<std::string_view> &command, RedisFailure &failure)
{
  std::string error;
  RedisReply reply = connection.command(command, error);
  if (reply && reply_kind(*reply) != RedisReplyKind::Error)
    return reply;
  failure.kind = reply ? Kind::Refused : Kind::NoAnswer;
  failure.command = std::string(command.front());
  failure.reason = reply ? reply_text(*reply) : error;
  return nullptr;
}

std::unique_ptr<RedisConnection> open_and_login(const RedisAddress &at, const RedisOptions &options,
                                                const std::string &username, const std::string &password, int database,
                                                RedisFailure &failure)
{
  failure = {};
  failure.server = at;
  const RedisTlsFiles files{options.tls_ca_file, options.tls_cert_file, options.tls_key_file};
  std::unique_ptr<RedisConnection> connection =
      RedisConnection::open(at.host, at.port, options.timeout, options.tls ? &files : nullptr, failure.reason);
  if (!connection)
    return nullptr; // Kind::Connect
  if (!password.empty())
    {
      std::vector<std::string_view> auth{"AUTH"};
      if (!username.empty())
        auth.push_back(username);
      auth.push_back(password);
      if (!accepted(*connection, auth, failure))
        return nullptr;
    }
  if (database != 0 && !accepted(*connection, {"SELECT", std::to_string(database)}, failure))
    return nullptr;
  return connection;
}

// The master's address as `sentinel` knows it.
std::optional<RedisAddress> ask_sentinel(const RedisAddress &sentinel, const RedisOptions &options,
                                         RedisFailure &failure)
{
  std::unique_ptr<RedisConnection> connection =
      open_and_login(sentinel, options, {}, options.sentinel_password, 0, failure);
  failure.at_sentinel = true;
  if (!connection)
    return std::nullopt;
  RedisReply reply = accepted(*connection, {"SENTINEL", "get-master-addr-by-name", options.master_name}, failure);
  if (!reply)
    return std::nullopt;
  if (reply_kind(*reply) == RedisReplyKind::Nil)
    {
      failure.kind = Kind::UnknownMaster;
      return std::nullopt;
    }
  failure.kind = Kind::OddAnswer;
  failure.reason = reply_text(*reply);
  if (reply_elements(*reply) != 2)
    return std::nullopt;
  const std::string host = reply_text(reply_element(*reply, 0)), port = reply_text(reply_element(*reply, 1));
  failure.reason = host + " " + port;
  char *end = nullptr;
  const long number = std::strtol(port.c_str(), &end, 10);
  if (host.empty() || port.empty() || *end != '\0' || number < 1 || number > 65535)
    return std::nullopt;
  return RedisAddress{host, static_cast<int>(number)};
}

} // namespace

std::unique_ptr<RedisConnection> redis_login(const RedisAddress &at, const RedisOptions &options, RedisFailure &failure)
{
  return open_and_login(at, options, options.username, options.password, options.database, failure);
}

bool is_master(RedisConnection &connection, const RedisAddress &at, RedisFailure &failure)
{
  failure = {};
  failure.server = at;
  RedisReply reply = accepted(connection, {"ROLE"}, failure);
  if (!reply)
    return false;
  const std::string role = reply_elements(*reply) > 0 ? reply_text(reply_element(*reply, 0)) : std::string();
  if (role == "master")
    return true;
  failure.kind = Kind::NotMaster;
  failure.command = "ROLE";
  failure.reason = role;
  return false;
}

RedisMaster find_master(const RedisOptions &options, std::size_t first, const std::function<bool()> &stop)
{
  RedisMaster found;
  const std::vector<RedisAddress> &sentinels = options.sentinels;
  for (std::size_t n = 0; n < sentinels.size() && !(stop && stop()); ++n)
    {
      const std::size_t index = (first + n) % sentinels.size();
      RedisFailure failure;
      if (const std::optional<RedisAddress> master = ask_sentinel(sentinels[index], options, failure))
        {
          found.connection = redis_login(*master, options, failure);
          if (found.connection && is_master(*found.connection, *master, failure))
            {
              found.address = *master;
              found.sentinel = index;
              return found;
            }
          found.connection.reset();
        }
      failure.sentinel = sentinels[index];
      found.failures.push_back(std::move(failure));
    }
  return found;
}

} // namespace wec
