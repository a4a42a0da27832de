#include "event-message.hpp"

#include <syslog.h>

#include <cstdio>

namespace wec::module {

namespace {

// Windows Level → syslog severity. 0 (LogAlways) is configurable.
int severity_for_level(const std::string &level, int log_always)
{
  if (level == "1") return 2; // Critical → crit
  if (level == "2") return 3; // Error → err
  if (level == "3") return 4; // Warning → warning
  if (level == "4") return 6; // Information → info
  if (level == "5") return 7; // Verbose → debug
  return log_always;
}

// syslog-ng registers every name-value name for the life of the process, in one table of at most
// 65,535 names shared by all its parsers. 9,002 real events of many providers use 882 distinct
// names: 4,096 per source leaves room for new providers and keeps a forwarder that invents names
// from taking the table (and memory) of the whole syslog-ng.
constexpr std::size_t kMaxFieldNames = 4096;
constexpr std::int64_t kFoldWarningSeconds = 60;

// Folded fields are kept as one JSON object: unambiguous for any name and value.
void append_json_string(std::string &out, std::string_view text)
{
  out += '"';
  for (unsigned char c : text)
    {
      if (c == '"' || c == '\\')
        out += '\\';
      if (c < 0x20)
        {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        }
      else
        out += static_cast<char>(c);
    }
  out += '"';
}

void set(LogMessage *msg, NVHandle handle, std::string_view value)
{
  log_msg_set_value(msg, handle, value.data(), static_cast<gssize>(value.size()));
}

} // namespace

EventMessages::EventMessages(MessageOptions options, LogFunction log)
  : options_(std::move(options)), log_(std::move(log)), sdata_names_(options_.prefix.rfind(".SDATA.", 0) == 0),
    identity_(log_msg_get_value_handle(".wec.identity")),
    subscription_(log_msg_get_value_handle(".wec.subscription")), peer_(log_msg_get_value_handle(".wec.peer")),
    parse_error_(log_msg_get_value_handle(".wec.parse_error")),
    overflow_(log_msg_get_value_handle(".wec.overflow_fields")),
    computer_verified_(log_msg_get_value_handle(".wec.computer_verified"))
{
}

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
  std::string overflow;
  std::size_t folded = 0;
  for (const auto &field : parsed.fields)
    {
      if (NVHandle handle = handle_for(field.name))
        {
          set(msg, handle, field.value);
          continue;
        }
      overflow += overflow.empty() ? '{' : ',';
      append_json_string(overflow, field.name);
      overflow += ':';
      append_json_string(overflow, field.value);
      ++folded;
    }
  if (folded)
    {
      overflow += '}';
      set(msg, overflow_, overflow);
      note_folded_fields(folded);
    }
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
  msg->pri = (msg->pri & LOG_FACMASK) | severity_for_level(s.level, options_.log_always_severity);
}

NVHandle EventMessages::handle_for(const std::string &relative_name)
{
  auto it = handles_.find(relative_name);
  if (it != handles_.end())
    return it->second;
  if (handles_.size() >= kMaxFieldNames)
    return 0;
  const std::string full =
    options_.prefix + (sdata_names_ ? xml::sdata_param_name(relative_name) : relative_name);
  NVHandle handle = log_msg_get_value_handle(full.c_str());
  handles_.emplace(relative_name, handle);
  return handle;
}

void EventMessages::note_folded_fields(std::size_t count)
{
  folded_since_warning_ += count;
  folded_total_ += count;
  const std::int64_t now = g_get_monotonic_time() / G_USEC_PER_SEC;
  if (last_fold_warning_ && now - last_fold_warning_ < kFoldWarningSeconds)
    return;
  last_fold_warning_ = now;
  log_(LogLevel::Warning, "windowsevent: field name budget reached, fields with new names go into .wec.overflow_fields",
       {{"budget", std::to_string(kMaxFieldNames)}, {"folded", std::to_string(folded_since_warning_)},
        {"folded_total", std::to_string(folded_total_)},
        {"hint", "a forwarder sends events with ever new field names (<Data Name=...>)"}});
  folded_since_warning_ = 0;
}

} // namespace wec::module
