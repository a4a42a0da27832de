#include "http/sockets.hpp"

#include <arpa/inet.h>
#include <linux/tcp.h> // TCP_INFO with tcpi_bytes_received
#include <netinet/in.h>

#include <unistd.h>

#include <cstddef>

namespace wec::http {

void UniqueFd::reset(int fd)
{
  if (fd_ >= 0)
    close(fd_);
  fd_ = fd;
}

std::string format_address(const sockaddr *addr, unsigned *port)
{
  char host[INET6_ADDRSTRLEN] = "?";
  if (addr && addr->sa_family == AF_INET)
    {
      auto *in = reinterpret_cast<const sockaddr_in *>(addr);
      inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
      if (port)
        *port = ntohs(in->sin_port);
    }
  else if (addr && addr->sa_family == AF_INET6)
    {
      auto *in6 = reinterpret_cast<const sockaddr_in6 *>(addr);
      inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
      if (port)
        *port = ntohs(in6->sin6_port);
    }
  return host;
}

std::string format_peer(const sockaddr *addr)
{
  unsigned port = 0;
  const std::string host = format_address(addr, &port);
  if (!addr || (addr->sa_family != AF_INET && addr->sa_family != AF_INET6))
    return host;
  return (addr->sa_family == AF_INET6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

bool listen_address(const std::string &address, std::uint16_t port, sockaddr_storage &storage, std::string &error)
{
  storage = {};
  if (address.find(':') != std::string::npos)
    {
      auto *in6 = reinterpret_cast<sockaddr_in6 *>(&storage);
      in6->sin6_family = AF_INET6;
      in6->sin6_port = htons(port);
      if (inet_pton(AF_INET6, address.c_str(), &in6->sin6_addr) != 1)
        {
          error = "ip(" + address + ") is not an IPv6 address";
          return false;
        }
      return true;
    }
  auto *in = reinterpret_cast<sockaddr_in *>(&storage);
  in->sin_family = AF_INET;
  in->sin_port = htons(port);
  if (inet_pton(AF_INET, address.c_str(), &in->sin_addr) != 1)
    {
      error = "ip(" + address + ") is not an IPv4 address";
      return false;
    }
  return true;
}

std::optional<std::uint64_t> tcp_bytes_received(int fd)
{
  tcp_info info{};
  socklen_t size = sizeof(info);
  if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &size) != 0 ||
      size < offsetof(tcp_info, tcpi_bytes_received) + sizeof(info.tcpi_bytes_received))
    return std::nullopt;
  return info.tcpi_bytes_received;
}

void send_without_delay(int fd)
{
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}

} // namespace wec::http
