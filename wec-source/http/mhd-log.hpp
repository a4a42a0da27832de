// libmicrohttpd's own messages, turned into the engine's log lines: while the daemon starts they are
// collected for the start error; afterwards the request it refuses before the handler sees it
// becomes one warning, and the rest goes to debug level.
#pragma once

#include <cstdarg>
#include <string>

#include "core/log.hpp"

namespace wec::http {

struct MhdLog
{
  LogFunction log;
  std::string listener;     // "https://0.0.0.0:5986"
  bool started = false;     // the daemon runs: no more start errors
  std::string start_errors; // what libmicrohttpd said while starting, "; "-separated

  // MHD_OPTION_EXTERNAL_LOGGER with this MhdLog as its argument.
  static void callback(void *self, const char *format, va_list ap);
};

} // namespace wec::http
