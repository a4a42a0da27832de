// The socket-level part of the listener: addresses as text and back, and what the kernel knows
// about a TCP connection. No libmicrohttpd in here.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <optional>
#include <string>

namespace wec::http {

// Owns one file descriptor and closes it.
class UniqueFd
{
public:
  UniqueFd() = default;
  explicit UniqueFd(int fd) : fd_(fd) {}
  UniqueFd(UniqueFd &&other) noexcept : fd_(other.release()) {}
  UniqueFd &operator=(UniqueFd &&other) noexcept
  {
    reset(other.release());
    return *this;
  }
  ~UniqueFd() { reset(); }
  int get() const { return fd_; }
  int release()
  {
    const int fd = fd_;
    fd_ = -1;
    return fd;
  }
  void reset(int fd = -1);

private:
  int fd_ = -1;
};

// "192.0.2.10" or "2001:db8::1"; the port apart (in `port` when given), since it differs per connection.
std::string format_address(const sockaddr *addr, unsigned *port = nullptr);

// "192.0.2.10:50114" or "[2001:db8::1]:50114"
std::string format_peer(const sockaddr *addr);

// The socket address to listen on: IPv6 when `address` has a ':', else IPv4. Fails with the reason.
bool listen_address(const std::string &address, std::uint16_t port, sockaddr_storage &storage, std::string &error);

// TCP bytes received on the socket so far (a FIN counts as one); nothing if unknown.
std::optional<std::uint64_t> tcp_bytes_received(int fd);

// Replies are small and written in pieces (headers, body): without TCP_NODELAY each one can wait
// for the client's delayed ACK.
void send_without_delay(int fd);

} // namespace wec::http
