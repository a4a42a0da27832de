// The accepting side of a listener behind a TCP balancer (proxy-protocol(yes)). It accepts from the
// listening socket itself, refuses addresses outside proxy-from(), reads each connection's PROXY
// header without blocking and without reading past it (the TLS ClientHello or HTTP request that
// follows is the HTTP server's), and hands the socket on with the client's address. A connection
// without a valid header within the deadline is closed with one log line. No libmicrohttpd here.
#pragma once

#include <sys/socket.h>

#include <chrono>
#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "core/log.hpp"
#include "http/proxy-protocol.hpp"
#include "http/sockets.hpp"

namespace wec::http {

struct ProxiedConnection
{
  int fd = -1;               // the receiver owns it
  sockaddr_storage client{}; // from the header, or the connection's own address (LOCAL, UNKNOWN)
  socklen_t client_length = 0;
  std::size_t header_bytes = 0; // read from the socket before handing it on
};

class ProxyAcceptor
{
public:
  using Clock = std::chrono::steady_clock;
  using HandOver = std::function<void(const ProxiedConnection &)>;

  // Takes `listen_fd`; `server_poll_fd` (the HTTP server's own descriptor) is watched along, so that
  // poll_fd() stands for both. `listener` names the listener in log lines.
  static std::unique_ptr<ProxyAcceptor> create(UniqueFd listen_fd, int server_poll_fd, AddressRanges allowed,
                                               std::chrono::seconds header_timeout, std::string listener,
                                               LogFunction log, std::string &error);
  ~ProxyAcceptor();

  int poll_fd() const { return epoll_.get(); } // readable when run() or the server has work
  std::size_t waiting() const { return waiting_.size(); }

  // Accepts up to `free_slots` connections, reads the headers that arrived, closes the refused and
  // overdue connections, and hands on those whose header is complete. Never blocks.
  void run(std::size_t free_slots, const HandOver &hand_over, Clock::time_point now = Clock::now());

private:
  struct Waiting
  {
    UniqueFd fd;
    sockaddr_storage peer{}; // the balancer
    socklen_t peer_length = 0;
    Clock::time_point since;
    std::string received; // header bytes consumed so far
  };

  ProxyAcceptor() = default;
  void accept_new(std::size_t free_slots, Clock::time_point now);
  void watch_listen_socket(bool on);
  // True when the connection is finished with: handed on or refused.
  bool read_header(Waiting &waiting, const HandOver &hand_over);
  void refuse(const Waiting &waiting, LogLevel level, const std::string &reason);
  void close_overdue(Clock::time_point now);

  UniqueFd epoll_;
  UniqueFd listen_;
  int server_poll_fd_ = -1;
  AddressRanges allowed_;
  std::chrono::seconds header_timeout_{60};
  std::string listener_;
  LogFunction log_;
  std::unordered_map<int, Waiting> waiting_;
  bool listening_ = false;      // the listening socket is in the epoll set
  bool accept_failing_ = false; // accept() failed for want of resources (logged once)
  Clock::time_point paused_until_;
  Clock::time_point next_deadline_check_;
};

} // namespace wec::http
