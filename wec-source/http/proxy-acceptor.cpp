#include "http/proxy-acceptor.hpp"

#include <fcntl.h>
#include <sys/epoll.h>

#include <cerrno>
#include <cstring>

namespace wec::http {

namespace {

constexpr std::size_t kAcceptsPerRun = 64; // then the other work of the loop gets its turn
constexpr const char *kHint = "proxy-protocol(yes): the balancer must send the PROXY protocol (HAProxy: send-proxy-v2 "
                              "or send-proxy on the server line), and clients must connect through it";

bool add_to_epoll(int epoll, int fd)
{
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = fd;
  return epoll_ctl(epoll, EPOLL_CTL_ADD, fd, &event) == 0;
}

} // namespace

std::unique_ptr<ProxyAcceptor> ProxyAcceptor::create(UniqueFd listen_fd, int server_poll_fd, AddressRanges allowed,
                                                     std::chrono::seconds header_timeout, std::string listener,
                                                     LogFunction log, std::string &error)
{
  std::unique_ptr<ProxyAcceptor> self(new ProxyAcceptor());
  self->epoll_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  const int flags = fcntl(listen_fd.get(), F_GETFL);
  if (self->epoll_.get() < 0 || flags < 0 || fcntl(listen_fd.get(), F_SETFL, flags | O_NONBLOCK) != 0 ||
      !add_to_epoll(self->epoll_.get(), server_poll_fd))
    {
      error = "cannot watch the listening socket of " + listener + ": " + std::strerror(errno);
      return nullptr;
    }
  self->listen_ = std::move(listen_fd);
  self->server_poll_fd_ = server_poll_fd;
  self->allowed_ = std::move(allowed);
  self->header_timeout_ = header_timeout;
  self->listener_ = std::move(listener);
  self->log_ = std::move(log);
  self->watch_listen_socket(true);
  return self;
}

ProxyAcceptor::~ProxyAcceptor() = default;

void ProxyAcceptor::watch_listen_socket(bool on)
{
  if (on == listening_)
    return;
  epoll_event event{};
  event.events = EPOLLIN;
  event.data.fd = listen_.get();
  if (epoll_ctl(epoll_.get(), on ? EPOLL_CTL_ADD : EPOLL_CTL_DEL, listen_.get(), &event) == 0)
    listening_ = on;
}

void ProxyAcceptor::run(std::size_t free_slots, const HandOver &hand_over, Clock::time_point now)
{
  if (now >= next_deadline_check_)
    {
      next_deadline_check_ = now + std::chrono::milliseconds(500);
      close_overdue(now);
    }
  // At the connection limit, new connections wait in the kernel's queue, as libmicrohttpd does it.
  watch_listen_socket(free_slots > 0 && now >= paused_until_);

  epoll_event events[kAcceptsPerRun];
  const int count = epoll_wait(epoll_.get(), events, static_cast<int>(kAcceptsPerRun), 0);
  for (int i = 0; i < count; ++i)
    {
      const int fd = events[i].data.fd;
      if (fd == listen_.get())
        accept_new(free_slots, now);
      else if (auto found = waiting_.find(fd); found != waiting_.end() && read_header(found->second, hand_over))
        waiting_.erase(found);
    }
}

void ProxyAcceptor::accept_new(std::size_t free_slots, Clock::time_point now)
{
  for (std::size_t accepted = 0; accepted < free_slots && accepted < kAcceptsPerRun; ++accepted)
    {
      Waiting waiting;
      waiting.peer_length = sizeof(waiting.peer);
      waiting.fd = UniqueFd(accept4(listen_.get(), reinterpret_cast<sockaddr *>(&waiting.peer), &waiting.peer_length,
                                    SOCK_NONBLOCK | SOCK_CLOEXEC));
      if (waiting.fd.get() < 0)
        {
          if (errno == EAGAIN || errno == EWOULDBLOCK)
            return;
          if (errno == EINTR || errno == ECONNABORTED || errno == EPROTO)
            continue;
          // Out of descriptors or memory: retry in a second rather than spin on the readable socket.
          if (!accept_failing_)
            log_(LogLevel::Error, "windowsevent: cannot accept connections",
                 {{"listener", listener_}, {"error", std::strerror(errno)}});
          accept_failing_ = true;
          paused_until_ = now + std::chrono::seconds(1);
          watch_listen_socket(false);
          return;
        }
      accept_failing_ = false;
      const auto *peer = reinterpret_cast<const sockaddr *>(&waiting.peer);
      if (!allowed_.contains(peer))
        {
          log_(LogLevel::Warning, "windowsevent: connection refused, its address is not in proxy-from()",
               {{"peer", format_peer(peer)},
                {"listener", listener_},
                {"proxy_from", allowed_.text()},
                {"hint", "this listener has proxy-protocol(yes) and takes connections from the balancers in "
                         "proxy-from() only: connect through the balancer, or add its address to proxy-from()"}});
          continue; // closed
        }
      waiting.since = now;
      const int fd = waiting.fd.get();
      if (!add_to_epoll(epoll_.get(), fd))
        continue;
      waiting_.emplace(fd, std::move(waiting));
    }
}

bool ProxyAcceptor::read_header(Waiting &waiting, const HandOver &hand_over)
{
  // Peek, then take exactly the header's bytes: the client's first bytes stay in the socket.
  char buffer[kProxyMaxBytes];
  const ssize_t peeked = recv(waiting.fd.get(), buffer, kProxyMaxBytes - waiting.received.size(), MSG_PEEK);
  if (peeked < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
    return false;
  if (peeked <= 0)
    {
      if (waiting.received.empty()) // a port probe, or a balancer's check without a header
        refuse(waiting, LogLevel::Debug, "closed before it sent anything");
      else
        refuse(waiting, LogLevel::Warning,
               peeked == 0
                   ? "the connection closed in the middle of its PROXY header"
                   : std::string("the connection failed in the middle of its PROXY header: ") + std::strerror(errno));
      return true;
    }
  const ProxyHeader header = parse_proxy_header(waiting.received + std::string(buffer, peeked));
  if (header.state == ProxyHeader::State::Invalid)
    {
      refuse(waiting, LogLevel::Warning, header.reason);
      return true;
    }
  // Incomplete: all of it is header; complete: the header's remaining bytes, which were just peeked.
  const std::size_t take =
      header.state == ProxyHeader::State::Complete ? header.length - waiting.received.size() : peeked;
  if (recv(waiting.fd.get(), buffer, take, 0) != static_cast<ssize_t>(take))
    {
      refuse(waiting, LogLevel::Warning, "the PROXY header could not be read back from the socket");
      return true;
    }
  waiting.received.append(buffer, take);
  if (header.state == ProxyHeader::State::Incomplete)
    return false;

  epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, waiting.fd.get(), nullptr);
  ProxiedConnection connection;
  if (header.has_source)
    {
      connection.client = header.source;
      connection.client_length = header.source_length;
    }
  else
    {
      connection.client = waiting.peer;
      connection.client_length = waiting.peer_length;
    }
  connection.header_bytes = header.length;
  connection.fd = waiting.fd.release();
  hand_over(connection);
  return true;
}

void ProxyAcceptor::refuse(const Waiting &waiting, LogLevel level, const std::string &reason)
{
  log_(level,
       level == LogLevel::Debug ? "windowsevent: connection closed before its PROXY header"
                                : "windowsevent: connection refused, no valid PROXY header",
       {{"peer", format_peer(reinterpret_cast<const sockaddr *>(&waiting.peer))},
        {"listener", listener_},
        {"reason", reason},
        {"hint", kHint}});
}

void ProxyAcceptor::close_overdue(Clock::time_point now)
{
  for (auto it = waiting_.begin(); it != waiting_.end();)
    {
      if (now - it->second.since < header_timeout_)
        {
          ++it;
          continue;
        }
      refuse(it->second, LogLevel::Warning,
             "no complete PROXY header within request-timeout() (" + std::to_string(header_timeout_.count()) + " s)");
      it = waiting_.erase(it);
    }
}

} // namespace wec::http
