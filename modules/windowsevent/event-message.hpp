// One forwarded event → one syslog-ng LogMessage: the event's fields as name-value pairs under
// the prefix, the standard macros (HOST, PROGRAM, PID, MESSAGE, timestamp, severity) and .wec.*.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "collector/event-sink.hpp"
#include "core/log.hpp"

#include "cpp-start.h"
#include "logmsg/logmsg.h"
#include "cpp-end.h"

namespace wec::module {

struct MessageOptions
{
  std::string prefix = ".windowsevent.";
  int log_always_severity = 6;     // LogAlways (Level 0) events: info
  bool host_from_identity = false; // HOST from the authenticated name, not from <Computer>
};

class EventMessages
{
public:
  EventMessages(MessageOptions options, LogFunction log);
  LogMessage *build(const ForwardedEvent &event); // worker thread

private:
  NVHandle handle_for(const std::string &relative_name);
  void set_fields(LogMessage *msg, const xml::ParsedEvent &parsed);
  void set_summary(LogMessage *msg, const ForwardedEvent &event);
  void note_folded_fields(std::size_t count);

  MessageOptions options_;
  LogFunction log_;
  bool sdata_names_;
  std::unordered_map<std::string, NVHandle> handles_; // at most kMaxFieldNames
  std::uint64_t folded_since_warning_ = 0, folded_total_ = 0;
  std::int64_t last_fold_warning_ = 0; // monotonic seconds
  NVHandle identity_, subscription_, peer_, parse_error_, overflow_, computer_verified_;
};

} // namespace wec::module
