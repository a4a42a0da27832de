// How the engine reports to its host: one line per event, the host (syslog-ng) decides where it goes.
#pragma once

#include <functional>
#include <string>

namespace wec {

enum class LogLevel
{
  Error,
  Warning,
  Notice,
  Info,
  Debug,
};

using LogFunction = std::function<void(LogLevel, const std::string &)>;

} // namespace wec
