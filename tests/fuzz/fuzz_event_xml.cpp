// libFuzzer target: one <Event> document -> parse_event(), then what the module does with
// the result (sdata_param_name() for every field, parse_system_time() of TimeCreated).
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>

#include "event-xml-parser.hpp"

namespace {

[[noreturn]] void fail(const char *what, const std::string &detail)
{
  std::fprintf(stderr, "fuzz_event_xml: property violated: %s: %s\n", what, detail.c_str());
  std::abort();
}

// RFC 5424 SD-PARAM name as sdata_param_name() promises it.
void check_sd_name(const std::string &relative, const std::string &name)
{
  if (name.empty() || name.size() > 32)
    fail("SD name length", relative + " -> " + name);
  for (char c : name)
    {
      const unsigned char b = static_cast<unsigned char>(c);
      if (b < 33 || b > 126 || c == '=' || c == ']' || c == '"' || c == '.')
        fail("SD name character", relative + " -> " + name);
    }
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
  std::string_view xml(reinterpret_cast<const char *>(data), size);
  wec::xml::ParsedEvent event;
  std::string error;
  wec::xml::ParseLimits limits;
  limits.max_bytes = 1024 * 1024;
  if (!wec::xml::parse_event(xml, event, error, limits))
    {
      if (error.empty())
        fail("parse_event failed without a reason", "");
      if (!event.fields.empty())
        fail("parse_event failed but left fields", error);
      return 0;
    }
  for (const auto &field : event.fields)
    {
      if (field.name.rfind("Event", 0) != 0)
        fail("field outside Event", field.name);
      check_sd_name(field.name, wec::xml::sdata_param_name(field.name));
    }
  long long seconds = 0;
  unsigned microseconds = 0;
  if (wec::xml::parse_system_time(event.summary.time_created, seconds, microseconds) && microseconds >= 1000000)
    fail("microseconds out of range", event.summary.time_created);
  // The time parser also sees raw input in the module (any attribute value): feed it directly.
  if (size <= 64 && wec::xml::parse_system_time(xml, seconds, microseconds) && microseconds >= 1000000)
    fail("microseconds out of range", std::string(xml));
  return 0;
}
