// The PROXY protocol, versions 1 (text) and 2 (binary), as HAProxy's send-proxy and send-proxy-v2
// write it: a TCP balancer puts one header before the client's bytes to say who the client is.
// Pure parsing, no sockets; and the address ranges that may send such a header (proxy-from()).
#pragma once

#include <sys/socket.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace wec::http {

constexpr std::size_t kProxyV1MaxBytes = 107; // the longest v1 line, CRLF included
constexpr std::size_t kProxyMaxBytes = 536;   // 16 + addresses + TLVs; HAProxy's send-proxy-v2 writes 28 or 52

struct ProxyHeader
{
  enum class State
  {
    Incomplete, // every byte so far belongs to the header, and more must follow
    Invalid,    // not a PROXY header, or a broken one: `reason`
    Complete,   // the header is the first `length` bytes; the client's own bytes follow
  };
  State state = State::Incomplete;
  std::size_t length = 0;
  // False for a v2 LOCAL header (the balancer's health check) and for v1 UNKNOWN or v2 UNSPEC:
  // the connection keeps its own address.
  bool has_source = false;
  sockaddr_storage source{}; // the client's address and port, when has_source
  socklen_t source_length = 0;
  std::string reason;
};

// What the first bytes of a connection hold. `received` may run past the header (the TLS ClientHello
// that follows); `length` says where the header ends.
ProxyHeader parse_proxy_header(std::string_view received);

// Addresses and networks, "127.0.0.1", "10.0.0.0/8", "2001:db8::/32": who may send the header.
class AddressRanges
{
public:
  // One more; false with a line saying what is wrong with `text`.
  bool add(const std::string &text, std::string &error);
  // IPv4-mapped IPv6 addresses (::ffff:10.0.0.1) count as their IPv4 address.
  bool contains(const sockaddr *address) const;
  bool empty() const { return ranges_.empty(); }
  std::string text() const; // as configured: "127.0.0.1 10.0.0.0/8"

private:
  struct Range
  {
    int family = 0;
    unsigned char bytes[16] = {};
    unsigned prefix = 0;
    std::string text;
  };
  std::vector<Range> ranges_;
};

} // namespace wec::http
