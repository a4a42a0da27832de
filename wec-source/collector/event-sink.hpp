// Where the collector hands events, parsed: the host (syslog-ng) implements it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "event-xml-parser.hpp"

namespace wec {

struct EventOrigin
{
  std::string identity;     // authenticated name of the forwarder
  std::string subscription; // subscription name
  std::string peer;         // "address:port"
  // The host names authentication proved (certificate CN and DNS SANs, or the FQDN of a Kerberos
  // machine account), lower case, the first one the main name; empty for a user principal.
  std::vector<std::string> host_names;
};

// One event of a batch. An event that could not be parsed is still handed on (nothing the
// forwarder sent is dropped): `parsed` is null and `parse_error` says why.
struct ForwardedEvent
{
  const EventOrigin &origin;
  std::string_view xml; // the <Event> as the forwarder sent it
  const xml::ParsedEvent *parsed;
  std::string_view parse_error;
  bool computer_verified; // its <Computer> is one of origin.host_names
};

class EventSink
{
public:
  virtual ~EventSink() = default;
  // May another event be posted now? False while the host's window (log-iw-size) is full.
  virtual bool window_open() = 0;
  // Posts one event. Returns its sequence number: 1, 2, 3, ...
  virtual std::uint64_t post(const ForwardedEvent &event) = 0;
  // Every event with a sequence number up to this one has been acknowledged by the destinations.
  virtual std::uint64_t acknowledged_through() = 0;
};

} // namespace wec
