#include "bookmarks/redis-connection.hpp"

#include <hiredis/hiredis.h>

// TLS needs hiredis 1.0's hiredis_ssl; Debian 12 ships 0.14, which has none (see docs/configuration.md).
#if HIREDIS_MAJOR >= 1 && defined(WEC_HAVE_HIREDIS_SSL)
#include <hiredis/hiredis_ssl.h>
#define WEC_REDIS_TLS 1
#else
#define WEC_REDIS_TLS 0
#endif

namespace wec::detail {

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

} // namespace wec::detail
