// The PROXY protocol: the header parser (v1 and v2, every refusal), proxy-from() address ranges,
// and the acceptor on real loopback sockets (the header read without reading past it, refusals).
#include <criterion/criterion.h>

#include "expect.hpp"
#include "http/proxy-acceptor.hpp"
#include "http/proxy-protocol.hpp"
#include "http/sockets.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <string>
#include <vector>

using wec::http::AddressRanges;
using wec::http::parse_proxy_header;
using wec::http::ProxiedConnection;
using wec::http::ProxyAcceptor;
using wec::http::ProxyHeader;
using wec::http::UniqueFd;
using State = ProxyHeader::State;

namespace {

const std::string kClientHello("\x16\x03\x01\x02\x00\x01", 6);

std::string source_of(const ProxyHeader &header)
{
  return header.has_source ? wec::http::format_peer(reinterpret_cast<const sockaddr *>(&header.source)) : "";
}

// A v2 header: command (0 LOCAL, 1 PROXY), family and protocol byte, then `rest` (addresses, TLVs).
std::string v2(unsigned command, unsigned family, const std::string &rest)
{
  std::string header("\r\n\r\n\0\r\nQUIT\n", 12);
  header += static_cast<char>(0x20 | command);
  header += static_cast<char>(family);
  header += static_cast<char>(rest.size() >> 8);
  header += static_cast<char>(rest.size() & 0xff);
  return header + rest;
}

std::string ipv4_block(const char *source, const char *destination, unsigned source_port, unsigned destination_port)
{
  unsigned char bytes[12];
  inet_pton(AF_INET, source, bytes);
  inet_pton(AF_INET, destination, bytes + 4);
  bytes[8] = source_port >> 8, bytes[9] = source_port & 0xff;
  bytes[10] = destination_port >> 8, bytes[11] = destination_port & 0xff;
  return std::string(reinterpret_cast<char *>(bytes), sizeof(bytes));
}

std::string ipv6_block(const char *source, const char *destination, unsigned source_port, unsigned destination_port)
{
  unsigned char bytes[36];
  inet_pton(AF_INET6, source, bytes);
  inet_pton(AF_INET6, destination, bytes + 16);
  bytes[32] = source_port >> 8, bytes[33] = source_port & 0xff;
  bytes[34] = destination_port >> 8, bytes[35] = destination_port & 0xff;
  return std::string(reinterpret_cast<char *>(bytes), sizeof(bytes));
}

// Every proper prefix of a valid header is incomplete, never invalid.
void expect_prefixes_incomplete(const std::string &header)
{
  for (std::size_t n = 0; n < header.size(); ++n)
    cr_assert(parse_proxy_header(header.substr(0, n)).state == State::Incomplete, "prefix of %zu bytes", n);
}

void expect_invalid(const std::string &bytes, const std::string &reason_part)
{
  const ProxyHeader header = parse_proxy_header(bytes);
  cr_assert(header.state == State::Invalid, "accepted: %s", bytes.c_str());
  EXPECT_CONTAINS(header.reason, reason_part);
}

} // namespace

Test(proxy_v1, tcp4_header_ends_where_the_client_bytes_begin)
{
  const std::string line = "PROXY TCP4 192.0.2.10 192.0.2.1 50114 5986\r\n";
  const ProxyHeader header = parse_proxy_header(line + kClientHello);
  cr_assert(header.state == State::Complete);
  cr_assert_eq(header.length, line.size());
  EXPECT_STR(source_of(header), "192.0.2.10:50114");
  expect_prefixes_incomplete(line);
}

Test(proxy_v1, tcp6)
{
  const std::string line = "PROXY TCP6 2001:db8::7 2001:db8::1 443 5986\r\n";
  const ProxyHeader header = parse_proxy_header(line);
  cr_assert(header.state == State::Complete);
  cr_assert_eq(header.length, line.size());
  EXPECT_STR(source_of(header), "[2001:db8::7]:443");
  expect_prefixes_incomplete(line);
}

Test(proxy_v1, unknown_keeps_the_connection_address)
{
  for (const std::string line : {"PROXY UNKNOWN\r\n", "PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"})
    {
      const ProxyHeader header = parse_proxy_header(line + kClientHello);
      cr_assert(header.state == State::Complete);
      cr_assert_eq(header.length, line.size());
      cr_assert_not(header.has_source);
    }
}

Test(proxy_v1, longest_line_accepted_one_more_byte_refused)
{
  // 107 bytes with CRLF: the longest TCP6 line there can be.
  const std::string longest =
      "PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff "
      "65535 65535\r\n";
  cr_assert_eq(longest.size(), 104u);
  const std::string padded = "PROXY UNKNOWN " + std::string(91, 'x') + "\r\n";
  cr_assert_eq(padded.size(), 107u);
  cr_assert(parse_proxy_header(padded).state == State::Complete);
  expect_invalid("PROXY UNKNOWN " + std::string(92, 'x') + "\r\n", "without CRLF in its first 107 bytes");
  expect_invalid("PROXY UNKNOWN " + std::string(200, 'x'), "without CRLF");
}

Test(proxy_v1, malformed_lines_refused)
{
  expect_invalid("PROXY TCP4 192.0.2 192.0.2.1 50114 5986\r\n", "not IPv4");
  expect_invalid("PROXY TCP4 2001:db8::7 192.0.2.1 50114 5986\r\n", "not IPv4");
  expect_invalid("PROXY TCP6 192.0.2.10 2001:db8::1 50114 5986\r\n", "not IPv6");
  expect_invalid("PROXY TCP4 192.0.2.10 192.0.2.1 65536 5986\r\n", "port");
  expect_invalid("PROXY TCP4 192.0.2.10 192.0.2.1 050114 5986\r\n", "port");
  expect_invalid("PROXY TCP4 192.0.2.10 192.0.2.1 -1 5986\r\n", "port");
  expect_invalid("PROXY TCP4 192.0.2.10  192.0.2.1 50114 5986\r\n", "PROXY TCP4|TCP6");
  expect_invalid("PROXY TCP4 192.0.2.10 192.0.2.1 50114\r\n", "PROXY TCP4|TCP6");
  expect_invalid("PROXY UDP4 192.0.2.10 192.0.2.1 50114 5986\r\n", "PROXY TCP4|TCP6");
  expect_invalid("PROXY TCP4 192.0.2.10 192.0.2.1 50114 5986\rX", "CR without LF");
  expect_invalid("PROXY TCP4 192.0.2.10\t192.0.2.1 50114 5986\r\n", "control character");
  expect_invalid("proxy TCP4 192.0.2.10 192.0.2.1 50114 5986\r\n", "does not start with a PROXY header");
  expect_invalid("PROXX", "plain text");
}

Test(proxy_v2, ipv4_with_tlvs_skipped)
{
  const std::string tlvs = std::string("\x05\x00\x03"
                                       "abc"
                                       "\x04\x00\x00",
                                       9); // UNIQUE_ID, NOOP
  const std::string header_bytes = v2(1, 0x11, ipv4_block("198.51.100.7", "192.0.2.1", 61000, 5986) + tlvs);
  const ProxyHeader header = parse_proxy_header(header_bytes + kClientHello);
  cr_assert(header.state == State::Complete);
  cr_assert_eq(header.length, 16u + 12u + tlvs.size());
  EXPECT_STR(source_of(header), "198.51.100.7:61000");
  expect_prefixes_incomplete(header_bytes);
}

Test(proxy_v2, ipv6)
{
  const std::string header_bytes = v2(1, 0x21, ipv6_block("2001:db8::42", "2001:db8::1", 1234, 5985));
  const ProxyHeader header = parse_proxy_header(header_bytes);
  cr_assert(header.state == State::Complete);
  cr_assert_eq(header.length, 52u);
  EXPECT_STR(source_of(header), "[2001:db8::42]:1234");
  expect_prefixes_incomplete(header_bytes);
}

Test(proxy_v2, local_and_unspec_keep_the_connection_address)
{
  // HAProxy's health checks send LOCAL, with or without addresses.
  for (const std::string &bytes :
       {v2(0, 0x00, ""), v2(0, 0x11, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2)), v2(1, 0x00, ""), v2(1, 0x31, "")})
    {
      const ProxyHeader header = parse_proxy_header(bytes + kClientHello);
      cr_assert(header.state == State::Complete);
      cr_assert_eq(header.length, bytes.size());
      cr_assert_not(header.has_source);
    }
}

Test(proxy_v2, malformed_headers_refused)
{
  std::string wrong_version = v2(1, 0x11, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2));
  wrong_version[12] = 0x11;
  expect_invalid(wrong_version, "version 1, not 2");
  expect_invalid(v2(2, 0x11, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2)), "command 2");
  expect_invalid(v2(1, 0x12, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2)), "not TCP");
  expect_invalid(v2(1, 0x11, std::string(8, '\0')), "too short for its IPv4");
  expect_invalid(v2(1, 0x21, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2)), "too short for its IPv6");
  // Oversized: refused from the 16 bytes that announce it, before the rest arrives.
  std::string oversized = v2(1, 0x11, std::string(600, '\0'));
  expect_invalid(oversized.substr(0, 16), "more than 536");
  cr_assert(
      parse_proxy_header(v2(1, 0x11, ipv4_block("10.0.0.1", "10.0.0.2", 1, 2) + std::string(520 - 12, '\0'))).state ==
      State::Complete); // 536 exactly
  std::string broken_signature = v2(0, 0, "");
  broken_signature[7] = 'X';
  expect_invalid(broken_signature, "does not start with a PROXY header");
}

Test(proxy_garbage, what_came_instead_is_named)
{
  cr_assert(parse_proxy_header("").state == State::Incomplete);
  expect_invalid(kClientHello, "TLS handshake");
  expect_invalid("POST /wsman HTTP/1.1\r\n", "plain text");
  expect_invalid("GET / HTTP/1.1\r\n", "plain text");
  expect_invalid(std::string("\0\0\0\0", 4), "does not start with a PROXY header");
  expect_invalid("\r\n\r\nGET", "does not start with a PROXY header");
}

Test(address_ranges, parse_errors_say_what_is_wrong)
{
  AddressRanges ranges;
  std::string error;
  cr_assert_not(ranges.add("10.0.0.0/33", error));
  EXPECT_CONTAINS(error, "prefix length must be 0-32");
  cr_assert_not(ranges.add("2001:db8::/129", error));
  EXPECT_CONTAINS(error, "0-128");
  cr_assert_not(ranges.add("10.0.0.1/8", error));
  EXPECT_CONTAINS(error, "bits set after the prefix");
  cr_assert_not(ranges.add("10.0.0.0/", error));
  cr_assert_not(ranges.add("10.0.0.0/x", error));
  cr_assert_not(ranges.add("balancer.example", error));
  EXPECT_CONTAINS(error, "is not an IPv4 or IPv6 address or network");
  cr_assert_not(ranges.add(" 10.0.0.1", error));
  cr_assert(ranges.empty());
}

Test(address_ranges, contains)
{
  AddressRanges ranges;
  std::string error;
  cr_assert(ranges.add("127.0.0.1", error));
  cr_assert(ranges.add("10.0.0.0/8", error));
  cr_assert(ranges.add("192.168.4.0/22", error));
  cr_assert(ranges.add("2001:db8::/32", error));
  EXPECT_STR(ranges.text(), "127.0.0.1 10.0.0.0/8 192.168.4.0/22 2001:db8::/32");
  auto v4 = [&](const char *text) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    inet_pton(AF_INET, text, &in.sin_addr);
    return ranges.contains(reinterpret_cast<sockaddr *>(&in));
  };
  auto v6 = [&](const char *text) {
    sockaddr_in6 in6{};
    in6.sin6_family = AF_INET6;
    inet_pton(AF_INET6, text, &in6.sin6_addr);
    return ranges.contains(reinterpret_cast<sockaddr *>(&in6));
  };
  cr_assert(v4("127.0.0.1"));
  cr_assert_not(v4("127.0.0.2"));
  cr_assert(v4("10.255.0.1"));
  cr_assert_not(v4("11.0.0.1"));
  cr_assert(v4("192.168.7.255"));
  cr_assert_not(v4("192.168.8.0"));
  cr_assert(v6("2001:db8:ffff::1"));
  cr_assert_not(v6("2001:db9::1"));
  cr_assert(v6("::ffff:10.1.2.3")); // an IPv4 client on a dual-stack socket
  cr_assert_not(v6("::ffff:11.1.2.3"));
  cr_assert_not(ranges.contains(nullptr));

  AddressRanges any_ipv4, one_ipv6;
  cr_assert(any_ipv4.add("0.0.0.0/0", error));
  cr_assert(one_ipv6.add("2001:db8::5/128", error));
  sockaddr_in in{};
  in.sin_family = AF_INET;
  inet_pton(AF_INET, "203.0.113.9", &in.sin_addr);
  cr_assert(any_ipv4.contains(reinterpret_cast<sockaddr *>(&in)));
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  inet_pton(AF_INET6, "2001:db8::5", &in6.sin6_addr);
  cr_assert_not(any_ipv4.contains(reinterpret_cast<sockaddr *>(&in6)));
  cr_assert(one_ipv6.contains(reinterpret_cast<sockaddr *>(&in6)));
  inet_pton(AF_INET6, "2001:db8::6", &in6.sin6_addr);
  cr_assert_not(one_ipv6.contains(reinterpret_cast<sockaddr *>(&in6)));
}

// ---- the acceptor on loopback sockets ----

namespace {

struct Harness
{
  UniqueFd server_fd{eventfd(0, EFD_CLOEXEC)}; // stands for the HTTP server's descriptor
  std::uint16_t port = 0;
  std::unique_ptr<ProxyAcceptor> acceptor;
  std::vector<std::pair<wec::LogLevel, std::string>> lines;
  std::vector<ProxiedConnection> handed;

  explicit Harness(const std::string &allowed, std::chrono::seconds timeout = std::chrono::seconds(5))
  {
    UniqueFd listen_fd(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(bind(listen_fd.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0);
    cr_assert(listen(listen_fd.get(), 16) == 0);
    socklen_t length = sizeof(address);
    getsockname(listen_fd.get(), reinterpret_cast<sockaddr *>(&address), &length);
    port = ntohs(address.sin_port);
    AddressRanges ranges;
    std::string error;
    cr_assert(ranges.add(allowed, error));
    acceptor = ProxyAcceptor::create(
        std::move(listen_fd), server_fd.get(), ranges, timeout, "https://127.0.0.1:test",
        [this](wec::LogLevel level, const std::string &message, const wec::LogTags &tags) {
          std::string line = message;
          for (const auto &tag : tags)
            line += std::string(" ") + tag.name + "='" + tag.value + "'";
          lines.emplace_back(level, line);
        },
        error);
    cr_assert(acceptor, "%s", error.c_str());
  }

  ~Harness()
  {
    for (const auto &connection : handed)
      close(connection.fd);
  }

  UniqueFd connect_client()
  {
    UniqueFd client(socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(client.get(), reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0);
    return client;
  }

  // Runs the acceptor until `done` holds, at most 5 s.
  template <typename Done> void run_until(Done done, std::chrono::steady_clock::time_point now = {})
  {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done() && std::chrono::steady_clock::now() < deadline)
      {
        pollfd poll_fd{acceptor->poll_fd(), POLLIN, 0};
        poll(&poll_fd, 1, 50);
        acceptor->run(
            10, [this](const ProxiedConnection &connection) { handed.push_back(connection); },
            now == std::chrono::steady_clock::time_point{} ? std::chrono::steady_clock::now() : now);
      }
    cr_assert(done(), "not done within 5 s");
  }
};

void send_all(int fd, const std::string &bytes)
{
  cr_assert_eq(send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL), static_cast<ssize_t>(bytes.size()));
}

std::string receive_some(int fd)
{
  pollfd poll_fd{fd, POLLIN, 0};
  poll(&poll_fd, 1, 2000);
  char buffer[256];
  const ssize_t n = recv(fd, buffer, sizeof(buffer), MSG_DONTWAIT);
  return n > 0 ? std::string(buffer, n) : std::string();
}

// The server side of a refused connection sees EOF or a reset.
bool closed_by_server(int fd)
{
  pollfd poll_fd{fd, POLLIN, 0};
  poll(&poll_fd, 1, 2000);
  char byte;
  return recv(fd, &byte, 1, MSG_DONTWAIT) <= 0;
}

} // namespace

Test(proxy_acceptor, header_in_pieces_then_client_bytes_left_in_the_socket)
{
  Harness h("127.0.0.1");
  UniqueFd client = h.connect_client();
  const std::string header = v2(1, 0x11, ipv4_block("127.0.0.7", "127.0.0.1", 40007, h.port));
  send_all(client.get(), header.substr(0, 7));
  h.run_until([&] { return h.acceptor->waiting() == 1; });
  send_all(client.get(), header.substr(7) + "ClientHello");
  h.run_until([&] { return h.handed.size() == 1; });
  const ProxiedConnection &handed = h.handed[0];
  EXPECT_STR(wec::http::format_peer(reinterpret_cast<const sockaddr *>(&handed.client)), "127.0.0.7:40007");
  cr_assert_eq(handed.header_bytes, header.size());
  cr_assert_eq(h.acceptor->waiting(), 0u);
  EXPECT_STR(receive_some(handed.fd), "ClientHello"); // nothing past the header was read
  cr_assert(h.lines.empty());
}

Test(proxy_acceptor, v1_and_local)
{
  Harness h("127.0.0.0/8");
  UniqueFd v1 = h.connect_client();
  send_all(v1.get(), "PROXY TCP4 127.0.0.9 127.0.0.1 5555 5986\r\nPOST");
  UniqueFd check = h.connect_client();
  send_all(check.get(), v2(0, 0, ""));
  h.run_until([&] { return h.handed.size() == 2; });
  std::vector<std::string> peers;
  for (const auto &handed : h.handed)
    peers.push_back(wec::http::format_peer(reinterpret_cast<const sockaddr *>(&handed.client)));
  cr_assert(std::find(peers.begin(), peers.end(), "127.0.0.9:5555") != peers.end());
  // LOCAL: the connection's own address, the balancer's
  sockaddr_in local{};
  socklen_t length = sizeof(local);
  getsockname(check.get(), reinterpret_cast<sockaddr *>(&local), &length);
  const std::string check_peer = "127.0.0.1:" + std::to_string(ntohs(local.sin_port));
  cr_assert(std::find(peers.begin(), peers.end(), check_peer) != peers.end(), "%s", check_peer.c_str());
}

Test(proxy_acceptor, address_outside_proxy_from_refused_with_one_line)
{
  Harness h("10.0.0.0/8");
  UniqueFd client = h.connect_client();
  send_all(client.get(), v2(0, 0, ""));
  h.run_until([&] { return !h.lines.empty(); });
  cr_assert(closed_by_server(client.get()));
  cr_assert_eq(h.lines.size(), 1u);
  cr_assert(h.lines[0].first == wec::LogLevel::Warning);
  EXPECT_CONTAINS(h.lines[0].second, "its address is not in proxy-from()");
  EXPECT_CONTAINS(h.lines[0].second, "peer='127.0.0.1:");
  EXPECT_CONTAINS(h.lines[0].second, "proxy_from='10.0.0.0/8'");
  cr_assert(h.handed.empty());
}

Test(proxy_acceptor, missing_header_refused_others_go_on)
{
  Harness h("127.0.0.1");
  UniqueFd direct = h.connect_client();
  send_all(direct.get(), kClientHello);
  UniqueFd good = h.connect_client();
  send_all(good.get(), "PROXY TCP4 127.0.0.7 127.0.0.1 1 2\r\n");
  h.run_until([&] { return h.handed.size() == 1 && !h.lines.empty(); });
  cr_assert(closed_by_server(direct.get()));
  cr_assert_eq(h.lines.size(), 1u);
  EXPECT_CONTAINS(h.lines[0].second, "connection refused, no valid PROXY header");
  EXPECT_CONTAINS(h.lines[0].second, "TLS handshake");
  EXPECT_CONTAINS(h.lines[0].second, "send-proxy-v2");
}

Test(proxy_acceptor, silent_connection_closed_at_the_deadline_probe_only_at_debug)
{
  Harness h("127.0.0.1", std::chrono::seconds(2));
  UniqueFd silent = h.connect_client();
  UniqueFd probe = h.connect_client();
  h.run_until([&] { return h.acceptor->waiting() == 2; });
  probe.reset(); // a port probe: closes without a byte
  h.run_until([&] { return h.acceptor->waiting() == 1; });
  cr_assert_eq(h.lines.size(), 1u);
  cr_assert(h.lines[0].first == wec::LogLevel::Debug);
  // The deadline, with the clock moved past it rather than waited for.
  h.run_until([&] { return h.acceptor->waiting() == 0; }, std::chrono::steady_clock::now() + std::chrono::seconds(3));
  cr_assert(closed_by_server(silent.get()));
  cr_assert_eq(h.lines.size(), 2u);
  cr_assert(h.lines[1].first == wec::LogLevel::Warning);
  EXPECT_CONTAINS(h.lines[1].second, "no complete PROXY header within request-timeout() (2 s)");
}

Test(proxy_acceptor, no_free_slot_no_accept)
{
  Harness h("127.0.0.1");
  UniqueFd client = h.connect_client();
  for (int i = 0; i < 5; ++i)
    {
      h.acceptor->run(0, [&](const ProxiedConnection &) {});
      usleep(20000);
    }
  cr_assert_eq(h.acceptor->waiting(), 0u); // still in the kernel's queue
  h.run_until([&] { return h.acceptor->waiting() == 1; });
}
