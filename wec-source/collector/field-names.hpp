// A budget of distinct field names per source. The host registers every name it is given for the
// life of the process (syslog-ng's name-value registry never frees one), so a forwarder that
// invents names must not make it grow without bound: past the budget, fields with new names are
// folded into one JSON object, and a warning says so at most once a minute.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/log.hpp"
#include "event-xml-parser.hpp"

namespace wec {

class FieldNameBudget
{
public:
  static constexpr std::size_t kNotAdmitted = static_cast<std::size_t>(-1);

  FieldNameBudget(std::size_t limit, LogFunction log) : limit_(limit), log_(std::move(log)) {}

  // The name's slot (0, 1, 2, ... in order of first sight), or kNotAdmitted past the budget.
  std::size_t slot_of(const std::string &name);

  // Walks the fields: `admitted(slot, field)` for each admitted name; returns the others as one
  // JSON object ("" when there are none) and counts them towards the warning.
  template <typename Admitted> std::string sort(const std::vector<xml::EventField> &fields, Admitted admitted)
  {
    std::string folded;
    std::size_t count = 0;
    for (const auto &field : fields)
      {
        const std::size_t slot = slot_of(field.name);
        if (slot != kNotAdmitted)
          {
            admitted(slot, field);
            continue;
          }
        append_folded(folded, field);
        ++count;
      }
    if (count)
      note_folded(count, folded);
    return folded;
  }

  std::size_t limit() const { return limit_; }

private:
  static void append_folded(std::string &json, const xml::EventField &field);
  void note_folded(std::size_t count, std::string &json);

  std::size_t limit_;
  LogFunction log_;
  std::unordered_map<std::string, std::size_t> slots_;
  std::uint64_t folded_since_warning_ = 0, folded_total_ = 0;
  std::chrono::steady_clock::time_point last_warning_{};
};

} // namespace wec
