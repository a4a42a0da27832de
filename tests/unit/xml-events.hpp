// Shared by the test_xml_*.cpp unit tests: the corpus files of tests/data, and helpers that parse
// an <Event> and look at its fields.
#pragma once

#include "event-xml-parser.hpp"

#include <criterion/criterion.h>

#include <cstddef>
#include <fstream>
#include <string>
#include <vector>

inline const std::string kEventOpen = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'>";
inline const std::string kMissing = "<field missing>";

inline std::vector<std::string> read_lines(const std::string &file_name)
{
  std::ifstream file(std::string(WEC_TEST_DATA_DIR) + "/" + file_name);
  cr_assert(file.is_open(), "cannot open test data %s", file_name.c_str());
  std::vector<std::string> lines;
  std::string line;
  while (std::getline(file, line))
    if (!line.empty())
      lines.push_back(line);
  return lines;
}

inline std::string value_of(const wec::xml::ParsedEvent &event, const std::string &name)
{
  for (const auto &field : event.fields)
    if (field.name == name)
      return field.value;
  return kMissing;
}

inline std::size_t count_named(const wec::xml::ParsedEvent &event, const std::string &name)
{
  std::size_t count = 0;
  for (const auto &field : event.fields)
    count += field.name == name;
  return count;
}

inline wec::xml::ParsedEvent parse_ok(const std::string &xml,
                                      const wec::xml::ParseLimits &limits = wec::xml::ParseLimits{})
{
  wec::xml::ParsedEvent event;
  std::string error;
  bool parsed = wec::xml::parse_event(xml, event, error, limits);
  cr_assert(parsed, "parse failed: %s\ninput: %.300s", error.c_str(), xml.c_str());
  cr_assert(error.empty(), "error set on success: %s", error.c_str());
  return event;
}

inline bool contains(const std::string &text, const std::string &part) { return text.find(part) != std::string::npos; }
