// The field-name budget: names admitted in order of first sight up to the limit, the rest folded
// into one JSON object, one warning per minute however many fields are folded.
#include <criterion/criterion.h>

#include "collector/field-names.hpp"

#include <string>
#include <vector>

using namespace wec;

namespace {

struct Sorted
{
  std::vector<std::pair<std::size_t, std::string>> admitted;
  std::string folded;
};

Sorted sort(FieldNameBudget &budget, const std::vector<xml::EventField> &fields)
{
  Sorted out;
  out.folded = budget.sort(
      fields, [&](std::size_t slot, const xml::EventField &field) { out.admitted.emplace_back(slot, field.value); });
  return out;
}

} // namespace

Test(field_names, names_past_the_budget_are_folded_into_json_and_warned_about_once)
{
  int warnings = 0;
  std::string warning;
  FieldNameBudget budget(2, [&](LogLevel level, const std::string &message, const LogTags &tags) {
    cr_assert(level == LogLevel::Warning);
    ++warnings;
    warning = message + " folded=" + tags[1].value;
  });

  Sorted first = sort(budget, {{"A", "1"}, {"B", "2"}, {"A", "3"}});
  cr_assert_eq(first.admitted.size(), 3u);
  cr_assert_eq(first.admitted[0].first, 0u);
  cr_assert_eq(first.admitted[1].first, 1u);
  cr_assert_eq(first.admitted[2].first, 0u, "a known name keeps its slot");
  cr_assert(first.folded.empty());
  cr_assert_eq(warnings, 0);

  Sorted second = sort(budget, {{"B", "x"}, {"C\"quoted\"", "line\nbreak"}, {"D", "\\"}});
  cr_assert_eq(second.admitted.size(), 1u);
  cr_assert_eq(second.folded, "{\"C\\\"quoted\\\"\":\"line\\u000abreak\",\"D\":\"\\\\\"}");
  cr_assert_eq(warnings, 1);
  cr_assert(warning.find("field name budget reached") != std::string::npos);
  cr_assert(warning.find("folded=2") != std::string::npos, "%s", warning.c_str());

  for (int i = 0; i < 1000; ++i)
    sort(budget, {{"E" + std::to_string(i), "v"}});
  cr_assert_eq(warnings, 1, "at most one warning a minute");
  cr_assert_eq(budget.slot_of("E1"), FieldNameBudget::kNotAdmitted, "the budget does not grow");
}
