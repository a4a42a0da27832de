#include "listener.hpp"

#include "auth/authenticator.hpp"
#include "http/mhd-log.hpp"
#include "http/proxy-acceptor.hpp"
#include "http/sockets.hpp"

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include <chrono>
#include <cstring>
#include <memory>
#include <unordered_map>

namespace wec::http {

namespace {

struct ConnectionState
{
  std::string peer;
  std::string address; // peer without the port: the per-address count
  gnutls_session_t session = nullptr;
  std::unique_ptr<auth::ConnectionAuth> auth; // who the client is, per the listener's authenticator
  MHD_Connection *connection = nullptr;
  std::chrono::steady_clock::time_point since; // connection start or end of the previous request
  bool request_started = false;                // the request line has arrived
  bool request_received = false;               // headers and body are complete
  bool closing = false;                        // shut down for missing its deadline
  bool tls_hello = false;                      // the client's TLS ClientHello arrived
  bool tls_finished = false;                   // the client's TLS Finished arrived: handshake done
  bool tls_refused = false;                    // its certificate was refused (and that was logged)
  std::uint64_t bytes_at_since = 0;            // TCP bytes received at `since` (TLS: at the handshake's end)
  std::size_t proxy_header_bytes = 0;          // the balancer's PROXY header, read before the client's bytes
};

struct RequestState
{
  std::uint64_t id = 0;
  std::string body;
  bool too_large = false;
  std::uint64_t received = 0;    // body bytes so far
  std::optional<Response> ready; // set by answer() while the connection is suspended
  MHD_Connection *connection = nullptr;
};

} // namespace

struct Listener::Impl
{
  ListenerOptions options;
  RequestHandler &handler;
  LogFunction log;
  MHD_Daemon *daemon = nullptr;
  std::uint64_t next_request_id = 1;
  std::unordered_map<std::uint64_t, RequestState *> suspended;
  std::unordered_map<gnutls_session_t, ConnectionState *> tls_sessions;
  std::unordered_map<MHD_Connection *, ConnectionState *> connections;
  std::unordered_map<std::string, unsigned> connections_per_address;
  std::chrono::steady_clock::time_point next_deadline_check;
  MhdLog mhd_log;
  std::unique_ptr<ProxyAcceptor> proxy; // proxy-protocol(yes): accepts in place of libmicrohttpd
  std::size_t handing_over_header_bytes = 0;
  bool stopping = false; // shutting down: no request may be suspended any more

  Impl(const ListenerOptions &o, RequestHandler &h, LogFunction l) : options(o), handler(h), log(std::move(l))
  {
    mhd_log.log = log;
    mhd_log.listener = description();
  }

  bool tls() const { return !options.cert_pem.empty(); }

  std::string description() const
  {
    return std::string(tls() ? "https://" : "http://") + options.address + ":" + std::to_string(options.port);
  }
};

namespace {

// The verify callback of GnuTLS carries no user pointer of ours; handshakes only run inside
// Listener::run(), on this thread, so the running listener is known here.
thread_local Listener::Impl *running_listener = nullptr;

Response plain_status(unsigned status)
{
  Response r;
  r.status = status;
  return r;
}

ConnectionState *connection_state(MHD_Connection *connection)
{
  const MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return info ? static_cast<ConnectionState *>(info->socket_context) : nullptr;
}

Response from_answer(const auth::Answer &answer)
{
  Response r = plain_status(answer.status);
  r.headers = answer.headers;
  return r;
}

// Sends a response, its body sealed by the connection's authentication (Kerberos encrypts it).
// `answers_request`: it answers the request proper, not a refusal of its size or method, and so
// carries the authenticator's headers for the request (the Kerberos AP-REP).
MHD_Result queue(MHD_Connection *connection, Response response, bool answers_request = false)
{
  ConnectionState *conn = connection_state(connection);
  if (conn && !conn->auth->seal_body(response.body, response.content_type))
    response = plain_status(MHD_HTTP_INTERNAL_SERVER_ERROR);
  MHD_Response *r = MHD_create_response_from_buffer(response.body.size(), const_cast<char *>(response.body.data()),
                                                    MHD_RESPMEM_MUST_COPY);
  if (!r)
    return MHD_NO;
  if (!response.content_type.empty())
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, response.content_type.c_str());
  for (const auto &[name, value] : response.headers)
    MHD_add_response_header(r, name.c_str(), value.c_str());
  if (conn && answers_request)
    for (const auto &[name, value] : conn->auth->answer_headers())
      MHD_add_response_header(r, name.c_str(), value.c_str());
  MHD_Result result = MHD_queue_response(connection, response.status, r);
  MHD_destroy_response(r);
  return result;
}

// GnuTLS, during the handshake: the authenticator decides on the client's certificate chain.
int verify_client_certificate(gnutls_session_t session)
{
  Listener::Impl *self = running_listener;
  if (!self)
    return GNUTLS_E_CERTIFICATE_ERROR;
  auto it = self->tls_sessions.find(session);
  if (it == self->tls_sessions.end())
    return GNUTLS_E_CERTIFICATE_ERROR;
  ConnectionState *state = it->second;

  unsigned int count = 0;
  const gnutls_datum_t *peers = gnutls_certificate_get_peers(session, &count);
  std::vector<std::string_view> chain;
  for (unsigned int i = 0; peers && i < count; ++i)
    chain.emplace_back(reinterpret_cast<const char *>(peers[i].data), peers[i].size);

  if (!state->auth->accept_certificate_chain(chain))
    {
      state->tls_refused = true; // and logged
      return GNUTLS_E_CERTIFICATE_ERROR;
    }
  return 0;
}

// TCP bytes received on the connection so far (a FIN counts as one); nothing if unknown.
std::optional<std::uint64_t> connection_bytes_received(MHD_Connection *connection)
{
  const MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
  return fd ? tcp_bytes_received(fd->connect_fd) : std::nullopt;
}

// Notes the handshake steps that tell, when a handshake fails, how far it came.
int on_handshake_message(gnutls_session_t session, unsigned int type, unsigned int, unsigned int incoming,
                         const gnutls_datum_t *)
{
  Listener::Impl *self = running_listener;
  if (!self || !incoming)
    return 0;
  auto it = self->tls_sessions.find(session);
  if (it == self->tls_sessions.end())
    return 0;
  if (type == GNUTLS_HANDSHAKE_CLIENT_HELLO || type == GNUTLS_HANDSHAKE_CLIENT_HELLO_V2)
    it->second->tls_hello = true;
  else if (type == GNUTLS_HANDSHAKE_FINISHED)
    {
      it->second->tls_finished = true;
      it->second->bytes_at_since = connection_bytes_received(it->second->connection).value_or(0);
    }
  return 0;
}

// A TLS connection closes before its handshake completed. libmicrohttpd reports that only at debug
// level and without the peer. A client that sent nothing at all (port probe, idle) is not logged;
// its FIN counts as one received byte.
void log_failed_handshake(Listener::Impl *self, MHD_Connection *connection, const ConnectionState &state)
{
  if (state.tls_finished || state.tls_refused)
    return;
  std::optional<std::uint64_t> received = connection_bytes_received(connection);
  if (received && *received <= state.proxy_header_bytes + 1)
    return;
  const char *reason = state.closing ? (state.tls_hello ? "the handshake did not complete within request-timeout()"
                                                        : "no complete TLS ClientHello within request-timeout()")
                       : state.tls_hello
                           ? "the handshake stopped after the ClientHello: no TLS version (1.2, 1.3) or cipher "
                             "suite in common, the client does not trust the server certificate, or it gave up"
                           : "no TLS ClientHello received: not a TLS client (plain HTTP sent to the HTTPS port?)";
  self->log(LogLevel::Warning, "windowsevent: TLS handshake failed",
            {{"peer", state.peer}, {"listener", self->description()}, {"reason", reason}});
}

// Before a connection is accepted: one address may hold at most max-connections-per-ip() of them, so
// that clients that never authenticate cannot take every slot from the others.
MHD_Result accept_policy(void *cls, const sockaddr *addr, socklen_t)
{
  auto *self = static_cast<Listener::Impl *>(cls);
  const unsigned limit = self->options.max_connections_per_ip;
  if (limit == 0)
    return MHD_YES;
  const std::string address = format_address(addr);
  auto count = self->connections_per_address.find(address);
  if (count == self->connections_per_address.end() || count->second < limit)
    return MHD_YES;
  self->log(LogLevel::Warning, "windowsevent: connection refused, too many connections from one address",
            {{"peer", address},
             {"listener", self->description()},
             {"limit", std::to_string(limit)},
             {"hint", "raise max-connections-per-ip() when many machines share this address (NAT)"}});
  return MHD_NO;
}

void on_connection(void *cls, MHD_Connection *connection, void **socket_context,
                   enum MHD_ConnectionNotificationCode code)
{
  auto *self = static_cast<Listener::Impl *>(cls);
  if (code == MHD_CONNECTION_NOTIFY_STARTED)
    {
      auto *state = new ConnectionState();
      state->connection = connection;
      state->since = std::chrono::steady_clock::now();
      // Called from within MHD_add_connection() for a connection the proxy acceptor hands over.
      state->proxy_header_bytes = self->handing_over_header_bytes;
      state->bytes_at_since = state->proxy_header_bytes;
      self->connections[connection] = state;
      const MHD_ConnectionInfo *addr = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
      state->peer = format_peer(addr ? addr->client_addr : nullptr);
      state->address = format_address(addr ? addr->client_addr : nullptr);
      state->auth = self->options.authenticator->open(state->peer, self->description());
      ++self->connections_per_address[state->address];
      if (const MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD))
        send_without_delay(fd->connect_fd);
      if (self->tls())
        {
          const MHD_ConnectionInfo *info = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_GNUTLS_SESSION);
          if (info && info->tls_session)
            {
              state->session = static_cast<gnutls_session_t>(info->tls_session);
              gnutls_session_set_verify_function(state->session, verify_client_certificate);
              gnutls_handshake_set_hook_function(state->session, GNUTLS_HANDSHAKE_ANY, GNUTLS_HOOK_PRE,
                                                 on_handshake_message);
              self->tls_sessions[state->session] = state;
            }
        }
      *socket_context = state;
    }
  else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
    {
      auto *state = static_cast<ConnectionState *>(*socket_context);
      if (state)
        {
          if (state->session)
            {
              log_failed_handshake(self, connection, *state);
              self->tls_sessions.erase(state->session);
            }
          self->connections.erase(state->connection);
          auto count = self->connections_per_address.find(state->address);
          if (count != self->connections_per_address.end() && --count->second == 0)
            self->connections_per_address.erase(count);
          delete state;
        }
      *socket_context = nullptr;
    }
}

// The request line has arrived: from now on a missed deadline is worth a log line.
void *on_request_line(void *, const char *, MHD_Connection *connection)
{
  if (ConnectionState *conn = connection_state(connection))
    conn->request_started = true;
  return nullptr;
}

void on_completed(void *cls, MHD_Connection *connection, void **request_context, enum MHD_RequestTerminationCode code)
{
  auto *self = static_cast<Listener::Impl *>(cls);
  if (ConnectionState *conn = connection_state(connection))
    {
      // The headers arrived, the rest did not: the client went away (libmicrohttpd says so only at
      // debug level, without the peer). A missed deadline was logged where it closed the connection.
      const auto *request = static_cast<const RequestState *>(*request_context);
      if (request && !conn->request_received && !conn->closing &&
          (code == MHD_REQUEST_TERMINATED_CLIENT_ABORT || code == MHD_REQUEST_TERMINATED_READ_ERROR))
        {
          LogTags tags = {{"peer", conn->peer},
                          {"identity", clip(conn->auth->identity().name)},
                          {"received", std::to_string(request->received)}};
          if (const char *length =
                  MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH))
            tags.push_back({"content_length", clip(length, 40)});
          self->log(LogLevel::Warning, "windowsevent: request incomplete, the client closed the connection", tags);
        }
      conn->request_started = conn->request_received = false;
      conn->since = std::chrono::steady_clock::now();
      conn->bytes_at_since = connection_bytes_received(connection).value_or(0);
    }
  auto *state = static_cast<RequestState *>(*request_context);
  if (state)
    {
      self->suspended.erase(state->id);
      delete state;
    }
  *request_context = nullptr;
}

MHD_Result on_access(void *cls, MHD_Connection *connection, const char *url, const char *method, const char *,
                     const char *upload_data, size_t *upload_data_size, void **request_context)
{
  auto *self = static_cast<Listener::Impl *>(cls);
  auto *state = static_cast<RequestState *>(*request_context);
  ConnectionState *conn = connection_state(connection);
  const std::string peer = conn ? conn->peer : std::string("?");

  if (!state)
    {
      state = new RequestState();
      state->id = self->next_request_id++;
      *request_context = state;
      const char *length = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
      if (length && std::strtoull(length, nullptr, 10) > self->options.max_body_bytes)
        {
          self->log(LogLevel::Error, "windowsevent: request body too large, answered 413",
                    {{"peer", peer},
                     {"content_length", clip(length, 40)},
                     {"limit", std::to_string(self->options.max_body_bytes)},
                     {"hint", "raise max-envelope-size() if forwarders legitimately send more"}});
          return queue(connection, plain_status(MHD_HTTP_CONTENT_TOO_LARGE));
        }
      // The authenticator may answer from the headers alone, before any body byte is read.
      if (conn)
        if (std::optional<auth::Answer> answer = conn->auth->authenticate_request(
                MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION)))
          return queue(connection, from_answer(*answer), true);
      return MHD_YES;
    }

  if (state->ready)
    return queue(connection, std::move(*state->ready), true); // resumed after answer()

  if (*upload_data_size)
    {
      state->received += *upload_data_size;
      if (state->body.size() + *upload_data_size > self->options.max_body_bytes)
        state->too_large = true; // keep reading (and discarding) so that the reply can be sent
      else
        state->body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }

  if (conn)
    conn->request_received = true;

  if (state->too_large)
    {
      self->log(LogLevel::Error, "windowsevent: request body too large, answered 413",
                {{"peer", peer}, {"limit", std::to_string(self->options.max_body_bytes)}});
      return queue(connection, plain_status(MHD_HTTP_CONTENT_TOO_LARGE));
    }
  if (std::strcmp(method, "POST") != 0)
    {
      self->log(LogLevel::Warning, "windowsevent: only POST is served, answered 405",
                {{"peer", peer}, {"method", clip(method, 40)}, {"path", clip(url)}});
      Response r = plain_status(MHD_HTTP_METHOD_NOT_ALLOWED);
      r.headers.emplace_back("Allow", "POST");
      return queue(connection, std::move(r));
    }

  Request request;
  request.id = state->id;
  request.method = method;
  request.path = url;
  request.peer = peer;
  request.auth_method = self->options.authenticator->method();
  if (const char *v = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_TYPE))
    request.content_type = v;
  if (const char *v = MHD_lookup_connection_value(connection, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_ENCODING))
    request.content_encoding = v;
  if (conn)
    {
      request.identity = conn->auth->identity().name;
      request.identity_names = conn->auth->identity().match_names;
    }
  request.body = std::move(state->body);
  state->body.clear();

  // The authenticator may decrypt the body, or refuse it.
  if (conn)
    if (std::optional<auth::Answer> answer = conn->auth->open_body(request.content_type, request.body))
      return queue(connection, from_answer(*answer), true);

  // While stopping, libmicrohttpd must not be left with a suspended connection (it aborts).
  std::optional<Response> response = self->stopping
                                         ? std::optional<Response>(plain_status(MHD_HTTP_SERVICE_UNAVAILABLE))
                                         : self->handler.on_request(request);
  if (response)
    return queue(connection, std::move(*response), true);

  state->connection = connection;
  self->suspended[state->id] = state;
  MHD_suspend_connection(connection);
  return MHD_YES;
}

// proxy-protocol(yes): libmicrohttpd has bound the socket; the acceptor takes it over, reads each
// connection's PROXY header and hands the connection back with the client's address, which the
// accept policy (max-connections-per-ip()) and everything after it see.
bool take_over_accepting(Listener::Impl *self, std::string &error)
{
  const MHD_DaemonInfo *epoll = MHD_get_daemon_info(self->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  UniqueFd listen_fd(MHD_quiesce_daemon(self->daemon));
  if (!epoll || listen_fd.get() < 0)
    {
      error = "cannot take over the listening socket of " + self->description();
      return false;
    }
  self->proxy = ProxyAcceptor::create(std::move(listen_fd), epoll->epoll_fd, self->options.proxy_from,
                                      std::chrono::seconds(self->options.request_timeout_seconds), self->description(),
                                      self->log, error);
  return self->proxy != nullptr;
}

void hand_over(Listener::Impl *self, const ProxiedConnection &connection)
{
  self->handing_over_header_bytes = connection.header_bytes;
  // Closes the socket when it refuses it (connection limit, accept policy).
  MHD_add_connection(self->daemon, connection.fd, reinterpret_cast<const sockaddr *>(&connection.client),
                     connection.client_length);
  self->handing_over_header_bytes = 0;
}

} // namespace

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Listener::~Listener()
{
  if (impl_->daemon)
    {
      answer_all_pending(plain_status(MHD_HTTP_SERVICE_UNAVAILABLE));
      MHD_stop_daemon(impl_->daemon);
    }
}

std::unique_ptr<Listener> Listener::start(const ListenerOptions &options, RequestHandler &handler, LogFunction log,
                                          std::string &error)
{
  if (!options.authenticator)
    {
      error = "no authenticator for the listener on port " + std::to_string(options.port);
      return nullptr;
    }
  auto impl = std::make_unique<Impl>(options, handler, std::move(log));
  Impl *self = impl.get();

  sockaddr_storage storage;
  if (!listen_address(options.address, options.port, storage, error))
    return nullptr;

  unsigned int flags = MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ERROR_LOG;
  if (storage.ss_family == AF_INET6)
    flags |= MHD_USE_IPv6;
  if (self->tls())
    flags |= MHD_USE_TLS;

  std::vector<MHD_OptionItem> items = {
      {MHD_OPTION_EXTERNAL_LOGGER, reinterpret_cast<intptr_t>(&MhdLog::callback),
       &self->mhd_log}, // first: it logs the others
      {MHD_OPTION_SOCK_ADDR, 0, &storage},
      {MHD_OPTION_NOTIFY_CONNECTION, reinterpret_cast<intptr_t>(&on_connection), self},
      {MHD_OPTION_NOTIFY_COMPLETED, reinterpret_cast<intptr_t>(&on_completed), self},
      {MHD_OPTION_URI_LOG_CALLBACK, reinterpret_cast<intptr_t>(&on_request_line), self},
      {MHD_OPTION_CONNECTION_LIMIT, static_cast<intptr_t>(options.max_connections), nullptr},
      {MHD_OPTION_CONNECTION_TIMEOUT, static_cast<intptr_t>(options.idle_timeout_seconds), nullptr},
      {MHD_OPTION_CONNECTION_MEMORY_LIMIT, static_cast<intptr_t>(options.connection_memory_bytes), nullptr},
  };
  if (self->tls())
    {
      items.push_back({MHD_OPTION_HTTPS_MEM_KEY, 0, const_cast<char *>(self->options.key_pem.c_str())});
      items.push_back({MHD_OPTION_HTTPS_MEM_CERT, 0, const_cast<char *>(self->options.cert_pem.c_str())});
      items.push_back(
          {MHD_OPTION_HTTPS_PRIORITIES, 0, const_cast<char *>("NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2")});
      if (!self->options.client_ca_pem.empty())
        items.push_back({MHD_OPTION_HTTPS_MEM_TRUST, 0, const_cast<char *>(self->options.client_ca_pem.c_str())});
    }
  items.push_back({MHD_OPTION_END, 0, nullptr});

  self->daemon = MHD_start_daemon(flags, options.port, &accept_policy, self, &on_access, self, MHD_OPTION_ARRAY,
                                  items.data(), MHD_OPTION_END);
  self->mhd_log.started = self->daemon != nullptr;
  if (!self->daemon)
    {
      error = "cannot listen on " + self->description() +
              (self->mhd_log.start_errors.empty() ? std::string() : ": " + self->mhd_log.start_errors);
      return nullptr;
    }
  std::unique_ptr<Listener> listener(new Listener(std::move(impl))); // from here on it stops the daemon
  if (options.proxy_protocol && !take_over_accepting(self, error))
    return nullptr;
  return listener;
}

int Listener::poll_fd() const
{
  if (impl_->proxy)
    return impl_->proxy->poll_fd();
  const MHD_DaemonInfo *info = MHD_get_daemon_info(impl_->daemon, MHD_DAEMON_INFO_EPOLL_FD);
  return info ? info->epoll_fd : -1;
}

long Listener::timeout_ms() const
{
  MHD_UNSIGNED_LONG_LONG timeout = 0;
  if (MHD_get_timeout(impl_->daemon, &timeout) != MHD_YES)
    return -1;
  return timeout > 60000 ? 60000 : static_cast<long>(timeout);
}

void Listener::run()
{
  Impl *previous = running_listener;
  running_listener = impl_.get();
  if (impl_->proxy)
    {
      const std::size_t busy = impl_->connections.size() + impl_->proxy->waiting();
      const std::size_t limit = impl_->options.max_connections;
      impl_->proxy->run(busy < limit ? limit - busy : 0,
                        [this](const ProxiedConnection &connection) { hand_over(impl_.get(), connection); });
    }
  MHD_run(impl_->daemon);
  running_listener = previous;
  close_overdue_connections();
}

void Listener::close_overdue_connections()
{
  const auto now = std::chrono::steady_clock::now();
  if (now < impl_->next_deadline_check)
    return;
  impl_->next_deadline_check = now + std::chrono::milliseconds(500);
  const auto limit = std::chrono::seconds(impl_->options.request_timeout_seconds);
  for (auto &[connection, conn] : impl_->connections)
    {
      if (conn->closing || conn->request_received || now - conn->since < limit)
        continue;
      // A request is under way once its request line is complete, or, for a client still sending that
      // line byte by byte, once bytes arrived after the handshake or the previous answer.
      const std::optional<std::uint64_t> received = connection_bytes_received(connection);
      const bool started = conn->request_started ||
                           ((!conn->session || conn->tls_finished) && received && *received > conn->bytes_at_since);
      // libmicrohttpd times out only silent connections; this also ends slow senders.
      const MHD_ConnectionInfo *fd = MHD_get_connection_info(connection, MHD_CONNECTION_INFO_CONNECTION_FD);
      if (fd)
        shutdown(fd->connect_fd, SHUT_RDWR);
      conn->closing = true;
      if (started)
        impl_->log(LogLevel::Warning, "windowsevent: request not completed in time, connection closed",
                   {{"peer", conn->peer},
                    {"listener", impl_->description()},
                    {"identity", clip(conn->auth->identity().name)},
                    {"request_timeout", std::to_string(impl_->options.request_timeout_seconds)}});
      else
        impl_->log(LogLevel::Debug, "windowsevent: idle connection closed",
                   {{"peer", conn->peer}, {"listener", impl_->description()}});
    }
}

void Listener::answer(std::uint64_t request_id, Response response)
{
  auto it = impl_->suspended.find(request_id);
  if (it == impl_->suspended.end())
    return;
  RequestState *state = it->second;
  impl_->suspended.erase(it);
  state->ready = std::move(response);
  MHD_resume_connection(state->connection);
}

void Listener::answer_all_pending(const Response &response)
{
  impl_->stopping = true;
  while (!impl_->suspended.empty())
    answer(impl_->suspended.begin()->first, response);
  for (int i = 0; i < 3; ++i)
    run(); // let the resumed connections send their answers
}

std::string Listener::description() const { return impl_->description(); }

} // namespace wec::http
