// String assertions for the Criterion unit tests. Criterion's cr_assert_str_eq keeps raw
// pointers past the end of the full expression, so temporaries (`f().c_str()`) dangle;
// these compare owned copies instead.
#pragma once

#include <criterion/criterion.h>

#include <string>

#define EXPECT_STR(actual, expected)                                                                                   \
  do                                                                                                                   \
    {                                                                                                                  \
      const std::string expect_actual_ = (actual);                                                                     \
      const std::string expect_wanted_ = (expected);                                                                   \
      cr_assert(expect_actual_ == expect_wanted_, "%s\n  got:  `%s`\n  want: `%s`", #actual, expect_actual_.c_str(),   \
                expect_wanted_.c_str());                                                                               \
  } while (0)

#define EXPECT_STR_NE(a, b)                                                                                            \
  do                                                                                                                   \
    {                                                                                                                  \
      const std::string expect_a_ = (a);                                                                               \
      const std::string expect_b_ = (b);                                                                               \
      cr_assert(expect_a_ != expect_b_, "%s == %s: `%s`", #a, #b, expect_a_.c_str());                                  \
  } while (0)

#define EXPECT_CONTAINS(haystack, needle)                                                                              \
  do                                                                                                                   \
    {                                                                                                                  \
      const std::string expect_h_ = (haystack);                                                                        \
      const std::string expect_n_ = (needle);                                                                          \
      cr_assert(expect_h_.find(expect_n_) != std::string::npos, "%s\n  `%s`\n  does not contain `%s`", #haystack,      \
                expect_h_.c_str(), expect_n_.c_str());                                                                 \
  } while (0)

#define EXPECT_STARTS(text, prefix)                                                                                    \
  do                                                                                                                   \
    {                                                                                                                  \
      const std::string expect_t_ = (text);                                                                            \
      const std::string expect_p_ = (prefix);                                                                          \
      cr_assert(expect_t_.compare(0, expect_p_.size(), expect_p_) == 0, "%s\n  `%s`\n  does not start with `%s`",      \
                #text, expect_t_.c_str(), expect_p_.c_str());                                                          \
  } while (0)
