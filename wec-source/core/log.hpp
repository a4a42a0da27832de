// How the engine reports to its host: one line per event, in syslog-ng's own shape
// ("message; name='value', ..."); the host (syslog-ng) decides where it goes.
#pragma once

#include <functional>
#include <string>
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

} // namespace wec
