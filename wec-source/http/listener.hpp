// The HTTP(S) listener: GNU libmicrohttpd driven from the caller's thread (no internal threads),
// requests answered at once or later (the connection is suspended meanwhile, which is how flow
// control reaches the forwarder), request deadlines. Who a client is, the authenticator decides:
// the listener calls its hooks during the TLS handshake, when a request's headers are in, when
// its body is in, and before an answer goes out.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/log.hpp"
#include "http/exchange.hpp"
#include "http/proxy-protocol.hpp"

namespace wec::auth {
class Authenticator;
}

namespace wec::http {

struct ListenerOptions
{
  std::string address = "0.0.0.0";
  std::uint16_t port = 5986;
  std::string cert_pem; // server certificate; empty: plain HTTP
  std::string key_pem;
  std::string client_ca_pem;                          // TLS: the CAs a client certificate is asked for
  const auth::Authenticator *authenticator = nullptr; // required; must outlive the listener
  std::size_t max_body_bytes = 1024 * 1024;
  unsigned max_connections = 1000;
  unsigned max_connections_per_ip = 0; // 0: no limit; keeps one address from taking every slot
  unsigned idle_timeout_seconds = 120;
  // A connection must complete a request (headers and body) within this many seconds of its
  // start or of its previous request, whatever it sends meanwhile: dribbling clients, stalled
  // handshakes and idle keep-alives are closed. Waiting for the destinations does not count.
  unsigned request_timeout_seconds = 60;
  std::size_t connection_memory_bytes = 128 * 1024; // also caps the request header size
  // Behind a TCP balancer: connections come from `proxy_from` only and start with a PROXY header
  // (read within request_timeout_seconds); the client it names is the peer for everything after.
  bool proxy_protocol = false;
  AddressRanges proxy_from;
};

class RequestHandler
{
public:
  virtual ~RequestHandler() = default;
  // A complete request. Return the response, or nothing to answer later with answer().
  virtual std::optional<Response> on_request(const Request &request) = 0;
};

class Listener
{
public:
  // Binds and listens; fails with a one-line reason (address in use, bad certificate, ...).
  static std::unique_ptr<Listener> start(const ListenerOptions &options, RequestHandler &handler, LogFunction log,
                                         std::string &error);
  ~Listener();

  int poll_fd() const;     // readable when run() has work
  long timeout_ms() const; // how long the caller may sleep before run(); -1: no limit
  void run();              // accept, read, handshake, dispatch; never blocks
  void answer(std::uint64_t request_id, Response response);
  // Before shutdown: answers every waiting request, and every later one with 503, so that no
  // connection stays suspended (libmicrohttpd aborts when stopped with one).
  void answer_all_pending(const Response &response);
  std::string description() const; // "https://0.0.0.0:5986"

  struct Impl;

private:
  explicit Listener(std::unique_ptr<Impl> impl);
  void close_overdue_connections();
  std::unique_ptr<Impl> impl_;
};

} // namespace wec::http
