// One Windows <Event> XML document -> ordered (name, value) pairs.
// No syslog-ng types here: the module adds the prefix and fills LogMessage.
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace wec::xml {

struct EventField
{
  std::string name;  // relative to the prefix, e.g. "Event.System.EventID"
  std::string value; // UTF-8
};

// The System fields the module needs for the standard macros; empty when absent.
struct EventSummary
{
  std::string provider;        // Event.System.Provider._Name
  std::string event_id;        // Event.System.EventID
  std::string level;           // Event.System.Level (numeric text)
  std::string time_created;    // Event.System.TimeCreated._SystemTime
  std::string event_record_id; // Event.System.EventRecordID
  std::string process_id;      // Event.System.Execution._ProcessID
  std::string channel;         // Event.System.Channel
  std::string computer;        // Event.System.Computer
  std::string message;         // Event.RenderingInfo.Message
};

struct ParsedEvent
{
  std::vector<EventField> fields; // document order, repeated names merged into one list value
  EventSummary summary;
};

struct ParseLimits
{
  std::size_t max_bytes = 4 * 1024 * 1024;
  int max_depth = 64;
  // Element path plus Data Name or attribute name; real events stay under 100 bytes.
  std::size_t max_field_name_bytes = 512;
};

// Layout (compatible with syslog-ng 4.6 windows-eventlog-xml-parser()):
//  - element path from the root, dot-separated, namespace prefixes dropped: Event.System.EventID;
//  - attributes as <path>._<Name>: Event.System.Provider._Name; xmlns declarations are not fields;
//  - <EventData><Data Name='X'> as Event.EventData.Data.X (no ._Name field); <Data> items of
//    <EventData> always have a value, "" when empty; a Data with no or an empty Name is listed
//    under Event.EventData.Data;
//  - other elements: their text (text and CDATA, kept exactly); nothing when empty; whitespace-only
//    text between child elements is dropped;
//  - a name seen more than once becomes one list in its first position: items joined by ',',
//    an item in double quotes (with \" and \\ escaped) when it is empty, has whitespace at
//    either end, starts with ', or contains , " or \. A single occurrence is never quoted.
// Refused: DTDs, entities other than the predefined five and character references, nesting
// deeper than max_depth (the root is level 1), documents over max_bytes, a root other than <Event>,
// field names longer than max_field_name_bytes, and the markup limits of markup-limits.hpp
// (hardened-libxml.hpp). Thread-safe; libxml2 prints nothing.
//
// Returns true on success. On failure `error` says why in one line
// ("not well-formed at line 1: ...", "DTD not allowed", "nesting deeper than 64", ...).
bool parse_event(std::string_view xml, ParsedEvent &out, std::string &error, const ParseLimits &limits = ParseLimits{});

// Windows time "2024-05-01T10:00:00.1234567Z" -> seconds and microseconds since the epoch (UTC).
bool parse_system_time(std::string_view text, long long &seconds, unsigned &microseconds);

// Windows Level (1 Critical ... 5 Verbose) -> syslog severity (2 crit ... 7 debug); `log_always` for
// 0 (LogAlways), for a missing Level and for any other value.
int syslog_severity(std::string_view level, int log_always);

} // namespace wec::xml

namespace wec::xml {

// RFC 5424 needs SD-PARAM names of at most 32 printable US-ASCII characters without
// '=', ' ', ']', '"' and (for syslog-ng, which splits SD-ID and name at the last dot) no '.'.
// Maps a relative name ("Event.EventData.Data.TargetUserName") to such a name ("TargetUserName").
std::string sdata_param_name(std::string_view relative_name);

} // namespace wec::xml
