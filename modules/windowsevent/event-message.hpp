// One forwarded event → one syslog-ng LogMessage: the event's fields as name-value pairs under
// the prefix, the standard macros (HOST, PROGRAM, PID, MESSAGE, timestamp, severity) and .wec.*.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "collector/event-sink.hpp"
#include "collector/field-names.hpp"
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
  void set_fields(LogMessage *msg, const xml::ParsedEvent &parsed);
  void set_summary(LogMessage *msg, const ForwardedEvent &event);

  MessageOptions options_;
  bool sdata_names_;
  FieldNameBudget names_;
  std::vector<NVHandle> handles_; // by the budget's slot
  NVHandle identity_, subscription_, peer_, parse_error_, overflow_, computer_verified_;
};

} // namespace wec::module
