// Small text helpers the log lines and error messages share.
#pragma once

#include <string>
#include <vector>

namespace wec {

// {"a", "b"} → "a, b"
inline std::string join(const std::vector<std::string> &items, const char *separator = ", ")
{
  std::string text;
  for (const auto &item : items)
    text += (text.empty() ? "" : separator) + item;
  return text;
}

} // namespace wec
