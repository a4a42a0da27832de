// How the engine reports to its host: one line per event, in syslog-ng's own shape
// ("message; name='value', ..."); the host (syslog-ng) decides where it goes.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace wec {

enum class LogLevel
{
  Error,
  Warning,
  Notice,
  Info,
  Debug,
};

struct LogTag
{
  const char *name;
  std::string value;
};

using LogTags = std::vector<LogTag>;
using LogFunction = std::function<void(LogLevel, const std::string &message, const LogTags &tags)>;

// What a client sent, fit for a log line: at most `limit` bytes, cut at a UTF-8 character
// boundary and marked with the full length ("...[+1048376 bytes]"). One request must not make a
// megabyte-long line.
constexpr std::size_t kClientTextLimit = 200;
std::string clip(std::string_view text, std::size_t limit = kClientTextLimit);

} // namespace wec
