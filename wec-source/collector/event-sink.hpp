// Where the collector hands events: the syslog-ng side implements it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace wec {

struct EventOrigin
{
  std::string identity;      // authenticated name of the forwarder
  std::string subscription;  // subscription name
  std::string peer;          // "address:port"
  // The host names authentication proved (certificate CN and DNS SANs, or the FQDN of a Kerberos
  // machine account), lower case, the first one the main name; empty for a user principal.
  std::vector<std::string> host_names;
};

class EventSink
{
public:
  virtual ~EventSink() = default;
  // May another event be posted now? False while syslog-ng's window (log-iw-size) is full.
  virtual bool window_open() = 0;
  // Posts one event (its <Event> XML). Returns the event's sequence number: 1, 2, 3, ...
  virtual std::uint64_t post(const EventOrigin &origin, std::string_view event_xml) = 0;
  // Every event with a sequence number up to this one has been acknowledged by the destinations.
  virtual std::uint64_t acknowledged_through() = 0;
};

} // namespace wec
