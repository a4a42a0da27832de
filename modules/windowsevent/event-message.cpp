#include "event-message.hpp"

#include <syslog.h>

namespace wec::module {

namespace {

// syslog-ng registers every name-value name for the life of the process, in one table of at most
// 65,535 names shared by all its parsers. 9,002 real events of many providers use 882 distinct
// names: 4,096 per source leaves room for new providers and keeps a forwarder that invents names
// from taking the table (and memory) of the whole syslog-ng.
constexpr std::size_t kMaxFieldNames = 4096;

void set(LogMessage *msg, NVHandle handle, std::string_view value)
{
  log_msg_set_value(msg, handle, value.data(), static_cast<gssize>(value.size()));
}

} // namespace

EventMessages::EventMessages(MessageOptions options, LogFunction log)
    : options_(std::move(options)), sdata_names_(options_.prefix.rfind(".SDATA.", 0) == 0),
      names_(kMaxFieldNames, std::move(log)), identity_(log_msg_get_value_handle(".wec.identity")),
      subscription_(log_msg_get_value_handle(".wec.subscription")), peer_(log_msg_get_value_handle(".wec.peer")),
      parse_error_(log_msg_get_value_handle(".wec.parse_error")),
      overflow_(log_msg_get_value_handle(".wec.overflow_fields")),
      computer_verified_(log_msg_get_value_handle(".wec.computer_verified"))
{}

LogMessage *EventMessages::build(const ForwardedEvent &event)
{
  LogMessage *msg = log_msg_new_empty();
  if (event.parsed)
    {
      set_fields(msg, *event.parsed);
      set_summary(msg, event);
    }
  else
    {
      // Never drop what the forwarder sent: forward it as text and say why it was not parsed.
      set(msg, LM_V_MESSAGE, event.xml);
      set(msg, parse_error_, event.parse_error);
    }
  const EventOrigin &origin = event.origin;
  if (options_.host_from_identity || !log_msg_get_value_if_set(msg, LM_V_HOST, nullptr))
    {
      // The authenticated name: the certificate's CN, the machine account's FQDN, or the principal.
      set(msg, LM_V_HOST, origin.host_names.empty() ? origin.identity : origin.host_names.front());
    }
  set(msg, computer_verified_, event.computer_verified ? "1" : "0");
  set(msg, identity_, origin.identity);
  set(msg, subscription_, origin.subscription);
  set(msg, peer_, origin.peer);
  return msg;
}

void EventMessages::set_fields(LogMessage *msg, const xml::ParsedEvent &parsed)
{
  const std::string folded = names_.sort(parsed.fields, [&](std::size_t slot, const xml::EventField &field) {
    if (slot == handles_.size()) // a new name: registered once
      handles_.push_back(log_msg_get_value_handle(
          (options_.prefix + (sdata_names_ ? xml::sdata_param_name(field.name) : field.name)).c_str()));
    set(msg, handles_[slot], field.value);
  });
  if (!folded.empty())
    set(msg, overflow_, folded);
}

void EventMessages::set_summary(LogMessage *msg, const ForwardedEvent &event)
{
  const xml::EventSummary &s = event.parsed->summary;
  if (!s.computer.empty() && !options_.host_from_identity)
    set(msg, LM_V_HOST, s.computer);
  if (!s.provider.empty())
    set(msg, LM_V_PROGRAM, s.provider);
  if (!s.process_id.empty())
    set(msg, LM_V_PID, s.process_id);
  set(msg, LM_V_MESSAGE, s.message.empty() ? event.xml : std::string_view(s.message));
  long long seconds = 0;
  unsigned microseconds = 0;
  if (xml::parse_system_time(s.time_created, seconds, microseconds))
    {
      msg->timestamps[LM_TS_STAMP].ut_sec = seconds;
      msg->timestamps[LM_TS_STAMP].ut_usec = microseconds;
      msg->timestamps[LM_TS_STAMP].ut_gmtoff = 0;
    }
  msg->pri = (msg->pri & LOG_FACMASK) | xml::syslog_severity(s.level, options_.log_always_severity);
}

} // namespace wec::module
