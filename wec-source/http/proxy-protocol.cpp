#include "http/proxy-protocol.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

namespace wec::http {

namespace {

constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::string_view kV2Signature{"\r\n\r\n\0\r\nQUIT\n", 12};

ProxyHeader invalid(std::string reason)
{
  ProxyHeader header;
  header.state = ProxyHeader::State::Invalid;
  header.reason = std::move(reason);
  return header;
}

ProxyHeader complete(std::size_t length)
{
  ProxyHeader header;
  header.state = ProxyHeader::State::Complete;
  header.length = length;
  return header;
}

// What the connection sent instead, for the log line.
ProxyHeader not_a_header(std::string_view received)
{
  const unsigned char first = static_cast<unsigned char>(received[0]);
  if (first == 0x16)
    return invalid("the connection starts with a TLS handshake, not a PROXY header: the balancer does not send "
                   "one, or the client connected directly");
  if (first >= 'A' && first <= 'Z')
    return invalid("the connection starts with plain text (an HTTP request?), not a PROXY header: the balancer "
                   "does not send one, or the client connected directly");
  return invalid("the connection does not start with a PROXY header (version 1 or 2)");
}

void set_source_v4(ProxyHeader &header, const unsigned char *address, const unsigned char *port)
{
  auto *in = reinterpret_cast<sockaddr_in *>(&header.source);
  in->sin_family = AF_INET;
  std::memcpy(&in->sin_addr, address, 4);
  std::memcpy(&in->sin_port, port, 2); // both in network order, as on the wire
  header.source_length = sizeof(sockaddr_in);
  header.has_source = true;
}

void set_source_v6(ProxyHeader &header, const unsigned char *address, const unsigned char *port)
{
  auto *in6 = reinterpret_cast<sockaddr_in6 *>(&header.source);
  in6->sin6_family = AF_INET6;
  std::memcpy(&in6->sin6_addr, address, 16);
  std::memcpy(&in6->sin6_port, port, 2);
  header.source_length = sizeof(sockaddr_in6);
  header.has_source = true;
}

bool parse_port(std::string_view text, unsigned char network_order[2])
{
  if (text.empty() || text.size() > 5 || (text.size() > 1 && text[0] == '0'))
    return false;
  unsigned value = 0;
  for (char c : text)
    {
      if (c < '0' || c > '9')
        return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  if (value > 65535)
    return false;
  network_order[0] = static_cast<unsigned char>(value >> 8);
  network_order[1] = static_cast<unsigned char>(value & 0xff);
  return true;
}

std::vector<std::string_view> split_spaces(std::string_view line)
{
  std::vector<std::string_view> words;
  std::size_t start = 0;
  while (start <= line.size())
    {
      const std::size_t space = line.find(' ', start);
      const std::size_t end = space == std::string_view::npos ? line.size() : space;
      words.push_back(line.substr(start, end - start));
      start = end + 1;
    }
  return words;
}

// "PROXY TCP4 192.0.2.10 192.0.2.1 50114 5986\r\n", "PROXY TCP6 ...", "PROXY UNKNOWN ...\r\n"
ProxyHeader parse_v1(std::string_view received)
{
  // The CR may come at byte 106 at the latest: 107 bytes with the LF.
  const std::size_t limit = std::min(received.size(), kProxyV1MaxBytes - 1);
  std::size_t end = 0;
  for (; end < limit; ++end)
    {
      const char c = received[end];
      if (c == '\r')
        break;
      if (c < ' ' || c > '~')
        return invalid("PROXY v1 header with a control character at byte " + std::to_string(end + 1));
    }
  if (end == limit)
    return received.size() >= kProxyV1MaxBytes - 1 ? invalid("PROXY v1 header without CRLF in its first 107 bytes")
                                                   : ProxyHeader{}; // incomplete
  if (end + 1 == received.size())
    return ProxyHeader{}; // the LF is still to come
  if (received[end + 1] != '\n')
    return invalid("PROXY v1 header: CR without LF");

  const std::vector<std::string_view> words = split_spaces(received.substr(0, end));
  if (words.size() >= 2 && words[1] == "UNKNOWN")
    return complete(end + 2); // the rest of the line says nothing usable
  if (words.size() != 6 || (words[1] != "TCP4" && words[1] != "TCP6"))
    return invalid("PROXY v1 header is not \"PROXY TCP4|TCP6 source destination source-port destination-port\"");
  const bool v6 = words[1] == "TCP6";
  unsigned char source[16], destination[16], source_port[2], destination_port[2];
  const std::string source_text(words[2]), destination_text(words[3]);
  if (inet_pton(v6 ? AF_INET6 : AF_INET, source_text.c_str(), source) != 1 ||
      inet_pton(v6 ? AF_INET6 : AF_INET, destination_text.c_str(), destination) != 1)
    return invalid(std::string("PROXY v1 header with an address that is not ") + (v6 ? "IPv6" : "IPv4"));
  if (!parse_port(words[4], source_port) || !parse_port(words[5], destination_port))
    return invalid("PROXY v1 header with a port that is not 0-65535");
  ProxyHeader header = complete(end + 2);
  if (v6)
    set_source_v6(header, source, source_port);
  else
    set_source_v4(header, source, source_port);
  return header;
}

// The 12-byte signature, version and command, family and protocol, the length of the rest (big
// endian), then the addresses and TLVs (skipped).
ProxyHeader parse_v2(std::string_view received)
{
  if (received.size() < 16)
    return ProxyHeader{}; // the signature was checked as far as it came
  const auto *bytes = reinterpret_cast<const unsigned char *>(received.data());
  const unsigned version = bytes[12] >> 4, command = bytes[12] & 0x0f;
  if (version != 2)
    return invalid("PROXY header of version " + std::to_string(version) + ", not 2");
  if (command > 1)
    return invalid("PROXY v2 header with command " + std::to_string(command) + " (neither LOCAL nor PROXY)");
  const std::size_t length = 16 + (static_cast<std::size_t>(bytes[14]) << 8 | bytes[15]);
  if (length > kProxyMaxBytes)
    return invalid("PROXY v2 header of " + std::to_string(length) + " bytes, more than " +
                   std::to_string(kProxyMaxBytes) + ": turn off the balancer's extra TLVs (proxy-v2-options)");
  if (received.size() < length)
    return ProxyHeader{};
  if (command == 0)
    return complete(length); // LOCAL: the balancer's own connection (a health check)

  const unsigned family = bytes[13];
  ProxyHeader header = complete(length);
  switch (family)
    {
    case 0x00: // UNSPEC
    case 0x31: // UNIX stream: no address to give
      return header;
    case 0x11: // TCP over IPv4: source, destination, source port, destination port
      if (length < 16 + 12)
        return invalid("PROXY v2 header too short for its IPv4 addresses");
      set_source_v4(header, bytes + 16, bytes + 24);
      return header;
    case 0x21: // TCP over IPv6
      if (length < 16 + 36)
        return invalid("PROXY v2 header too short for its IPv6 addresses");
      set_source_v6(header, bytes + 16, bytes + 48);
      return header;
    default: return invalid("PROXY v2 header for a connection that is not TCP (family " + std::to_string(family) + ")");
    }
}

} // namespace

ProxyHeader parse_proxy_header(std::string_view received)
{
  if (received.empty())
    return ProxyHeader{};
  if (received[0] == 'P')
    {
      const std::size_t prefix = std::min(received.size(), kV1Prefix.size());
      if (received.substr(0, prefix) != kV1Prefix.substr(0, prefix))
        return not_a_header(received);
      return prefix < kV1Prefix.size() ? ProxyHeader{} : parse_v1(received);
    }
  const std::size_t prefix = std::min(received.size(), kV2Signature.size());
  if (received.substr(0, prefix) != kV2Signature.substr(0, prefix))
    return not_a_header(received);
  return parse_v2(received);
}

bool AddressRanges::add(const std::string &text, std::string &error)
{
  Range range;
  range.text = text;
  const std::size_t slash = text.find('/');
  const std::string address = text.substr(0, slash);
  range.family = address.find(':') != std::string::npos ? AF_INET6 : AF_INET;
  const unsigned bits = range.family == AF_INET6 ? 128 : 32;
  if (inet_pton(range.family, address.c_str(), range.bytes) != 1)
    {
      error = "\"" + text + "\" is not an IPv4 or IPv6 address or network (\"10.0.0.0/8\")";
      return false;
    }
  range.prefix = bits;
  if (slash != std::string::npos)
    {
      const std::string length = text.substr(slash + 1);
      char *end = nullptr;
      const unsigned long value = std::strtoul(length.c_str(), &end, 10);
      if (length.empty() || *end != '\0' || length[0] < '0' || length[0] > '9' || value > bits)
        {
          error = "\"" + text + "\": the prefix length must be 0-" + std::to_string(bits);
          return false;
        }
      range.prefix = static_cast<unsigned>(value);
    }
  for (unsigned bit = range.prefix; bit < bits; ++bit)
    if (range.bytes[bit / 8] & (0x80 >> (bit % 8)))
      {
        error = "\"" + text + "\" has bits set after the prefix: write the network's first address";
        return false;
      }
  ranges_.push_back(range);
  return true;
}

bool AddressRanges::contains(const sockaddr *address) const
{
  if (!address)
    return false;
  int family = address->sa_family;
  const unsigned char *bytes = nullptr;
  if (family == AF_INET)
    bytes = reinterpret_cast<const unsigned char *>(&reinterpret_cast<const sockaddr_in *>(address)->sin_addr);
  else if (family == AF_INET6)
    {
      const auto *in6 = &reinterpret_cast<const sockaddr_in6 *>(address)->sin6_addr;
      bytes = reinterpret_cast<const unsigned char *>(in6);
      if (IN6_IS_ADDR_V4MAPPED(in6))
        {
          family = AF_INET;
          bytes += 12;
        }
    }
  else
    return false;
  for (const Range &range : ranges_)
    {
      if (range.family != family)
        continue;
      const unsigned whole = range.prefix / 8, rest = range.prefix % 8;
      if (std::memcmp(range.bytes, bytes, whole) != 0)
        continue;
      if (rest == 0)
        return true;
      const unsigned char mask = static_cast<unsigned char>(0xff00 >> rest);
      if ((range.bytes[whole] & mask) == (bytes[whole] & mask))
        return true;
    }
  return false;
}

std::string AddressRanges::text() const
{
  std::string all;
  for (const Range &range : ranges_)
    all += (all.empty() ? "" : " ") + range.text;
  return all;
}

} // namespace wec::http
