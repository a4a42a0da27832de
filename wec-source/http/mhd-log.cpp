#include "http/mhd-log.hpp"

#include <cstdio>
#include <cstring>

namespace wec::http {

void MhdLog::callback(void *cls, const char *format, va_list ap)
{
  auto *self = static_cast<MhdLog *>(cls);
  static constexpr char kRefused[] = "Error processing request (HTTP response code is %u";
  if (self->started && std::strncmp(format, kRefused, sizeof(kRefused) - 1) == 0)
    {
      // libmicrohttpd answered a request it could not parse (the handler never saw it) and closes
      // the connection. Its logger is given no connection, so there is no peer to name.
      va_list args;
      va_copy(args, ap);
      unsigned status = va_arg(args, unsigned);
      std::string page = va_arg(args, const char *);
      va_end(args);
      std::size_t begin = page.find("<body>"), end = page.find("</body>");
      if (begin != std::string::npos && end != std::string::npos && end > begin)
        page = page.substr(begin + 6, end - begin - 6);
      self->log(LogLevel::Warning,
                "windowsevent: invalid HTTP request, answered " + std::to_string(status) + ", connection closed",
                {{"listener", self->listener}, {"reason", page}});
      return;
    }
  char buffer[512];
  std::vsnprintf(buffer, sizeof(buffer), format, ap);
  std::string line(buffer);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r'))
    line.pop_back();
  if (!self->started)
    self->start_errors += (self->start_errors.empty() ? "" : "; ") + line;
  else
    self->log(LogLevel::Debug, "windowsevent: libmicrohttpd", {{"message", line}});
}

} // namespace wec::http
