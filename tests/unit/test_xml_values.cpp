// Unit tests for wec::xml: the values derived from an event: TimeCreated (parse_system_time),
// RFC 5424 parameter names (sdata_param_name) and Level -> syslog severity.
#include "event-xml-parser.hpp"

#include <criterion/criterion.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

using wec::xml::parse_system_time;
using wec::xml::sdata_param_name;
using wec::xml::syslog_severity;

// ---------------------------------------------------------------------------------------------
// parse_system_time

struct TimeCase
{
  const char *text;
  long long seconds;
  unsigned microseconds;
};

Test(system_time, valid_times)
{
  const TimeCase cases[] = {
      {"2024-05-01T10:00:00.1234567Z", 1714557600, 123456},
      {"2021-04-26T15:16:03.9789958Z", 1619450163, 978995},
      {"1970-01-01T00:00:00Z", 0, 0},
      {"2024-05-01T10:00:00Z", 1714557600, 0},
      {"2024-05-01T10:00:00.5Z", 1714557600, 500000},
      {"2024-05-01T10:00:00.000001Z", 1714557600, 1},
      {"2024-05-01T10:00:00.123456789Z", 1714557600, 123456},
      {"2024-05-01T12:00:00.25+02:00", 1714557600, 250000},
      {"2024-05-01T04:30:00-05:30", 1714557600, 0},
      {"2024-02-29T23:59:59Z", 1709251199, 0},
      {"2000-03-01T00:00:00Z", 951868800, 0},
      {"1969-12-31T23:59:59.5Z", -1, 500000},
      {"1601-01-01T00:00:00Z", -11644473600LL, 0},
      {"9999-12-31T23:59:59.9999999Z", 253402300799LL, 999999},
  };
  for (const TimeCase &time_case : cases)
    {
      long long seconds = -12345;
      unsigned microseconds = 12345;
      cr_expect(parse_system_time(time_case.text, seconds, microseconds), "refused %s", time_case.text);
      cr_expect_eq(seconds, time_case.seconds, "%s: seconds %lld", time_case.text, seconds);
      cr_expect_eq(microseconds, time_case.microseconds, "%s: microseconds %u", time_case.text, microseconds);
    }
}

Test(system_time, invalid_times)
{
  const char *cases[] = {
      "",
      "garbage",
      "2024-05-01T10:00:00",             // no zone
      "2024-05-01T10:00:00.1234567",     // no zone
      "2024-05-01T10:00:00.Z",           // dot without digits
      "2024-05-01T10:00:00.1234567890Z", // ten digits
      "2024-05-01 10:00:00Z",
      "2024-05-01T10:00:00Zjunk",
      "2024-05-01T10:00:00z",
      "2024-13-01T10:00:00Z",
      "2024-00-01T10:00:00Z",
      "2023-02-29T10:00:00Z",
      "2024-04-31T10:00:00Z",
      "2024-05-01T24:00:00Z",
      "2024-05-01T10:60:00Z",
      "2024-05-01T10:00:61Z",
      "2024-05-01T10:00:00+0200",
      "2024-05-01T10:00:00+2:00",
      "2024-05-01T10:00:00+24:00",
      "24-05-01T10:00:00Z",
      "2024-5-01T10:00:00Z",
      "+2024-05-01T10:00:00Z",
      "2024-05-01T10:00:00.12a4Z",
  };
  for (const char *text : cases)
    {
      long long seconds = 0;
      unsigned microseconds = 0;
      cr_expect_not(parse_system_time(text, seconds, microseconds), "accepted \"%s\"", text);
    }
  long long seconds = 0;
  unsigned microseconds = 0;
  // Embedded NUL: the whole view counts, not a C string prefix.
  cr_expect_not(parse_system_time(std::string_view("2024-05-01T10:00:00Z\0x", 22), seconds, microseconds));
}

// ---------------------------------------------------------------------------------------------
// sdata_param_name

Test(sdata_param_name, maps_relative_names)
{
  const std::pair<const char *, const char *> cases[] = {
      {"Event.EventData.Data.TargetUserName", "TargetUserName"},
      {"Event.EventData.Data", "Data"},
      {"Event.EventData.Binary", "Binary"},
      {"Event.System.EventID", "EventID"},
      {"Event.System.Provider._Name", "Provider_Name"},
      {"Event.System.TimeCreated._SystemTime", "TimeCreated_SystemTime"},
      {"Event.System.Execution._ThreadID", "Execution_ThreadID"},
      {"Event.System.EventID._Qualifiers", "EventID_Qualifiers"},
      {"Event.UserData.CbsUpdateChangeState.UpdateName", "UpdateName"},
      {"Event.UserData.LogFileCleared.Sub.Item._attr", "Sub_Item_attr"},
      {"Event.RenderingInfo.Message", "Rendering_Message"},
      {"Event.RenderingInfo._Culture", "Rendering_Culture"},
      {"Event.RenderingInfo.Keywords.Keyword", "Rendering_Keywords_Keyword"},
      {"System.Computer", "Computer"},
      {"Other.Thing", "Other_Thing"},
      // payload fields named like System fields keep both values apart
      {"Event.EventData.Data.Channel", "Data_Channel"},
      {"Event.EventData.Data.Level", "Data_Level"},
      {"Event.UserData.LogFileCleared.Channel", "Data_Channel"},
      {"Event.EventData.Data.ChannelName", "ChannelName"},
  };
  for (const auto &[relative_name, expected] : cases)
    {
      const std::string actual = sdata_param_name(relative_name);
      cr_expect(actual == expected, "%s -> %s, expected %s", relative_name, actual.c_str(), expected);
    }
}

Test(sdata_param_name, replaces_forbidden_bytes)
{
  cr_expect(sdata_param_name("Event.EventData.Data.a=b]c\"d e") == "a_b_c_d_e");
  cr_expect(sdata_param_name("Event.EventData.Data.tab\there") == "tab_here");
  // Each byte of a multi-byte UTF-8 character is replaced.
  cr_expect(sdata_param_name("Event.EventData.Data.名") == "___");
  cr_expect(sdata_param_name(std::string_view("Event.EventData.Data.a\0b", 24)) == "a_b");
  cr_expect(sdata_param_name("Event.EventData.Data.x\x7f") == "x_");
}

Test(sdata_param_name, is_short_and_never_empty)
{
  const std::string long_name = sdata_param_name("Event.EventData.Data.ThisIsAVeryLongParameterNameOfMoreThan32Bytes");
  cr_expect_eq(long_name.size(), 32);
  cr_expect(long_name == "ThisIsAVeryLongParameterNameOfMo", "got %s", long_name.c_str());
  cr_expect(sdata_param_name("") == "_");
  cr_expect(sdata_param_name("Event.") == "_");
  cr_expect(sdata_param_name("Event.EventData.Data.") == "_");

  const std::string samples[] = {"Event.System.Provider._Name", "Event.RenderingInfo.Message", "a.b._c=d]e\"f g",
                                 "Event.UserData.X.Y.Z._w", std::string(100, '.')};
  for (const std::string &sample : samples)
    {
      const std::string name = sdata_param_name(sample);
      cr_expect(!name.empty() && name.size() <= 32, "bad length for %s", sample.c_str());
      for (unsigned char c : name)
        cr_expect(c >= 33 && c <= 126 && c != '=' && c != ']' && c != '"' && c != '.', "byte %u in %s", c,
                  name.c_str());
    }
}

Test(xml_parser, level_maps_to_syslog_severity)
{
  const char *levels[] = {"1", "2", "3", "4", "5"};
  const int severities[] = {2, 3, 4, 6, 7};
  for (std::size_t i = 0; i < 5; ++i)
    cr_expect_eq(syslog_severity(levels[i], 5), severities[i], "Level %s", levels[i]);
  for (const char *other : {"0", "", "6", "15", "01"})
    cr_expect_eq(syslog_severity(other, 5), 5, "Level '%s' takes log-always-severity()", other);
}
