// The syslog-ng face of the collector: a threaded source whose worker thread runs the engine's
// Service. It turns each forwarded event into a LogMessage under flow control, learns from the
// ack tracker when a batch may be acknowledged, and keeps bookmarks in the persist file or in Redis.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "bookmarks/chunked-bookmark-store.hpp"
#include "event-message.hpp"
#include "persist-file-entries.hpp"
#include "service/service.hpp"

#include "cpp-start.h"
#include "windowsevent.h"
#include "logthrsource/logthrsourcedrv.h"
#include "cpp-end.h"

namespace wec::module {

class SourceDriver : public EventSink
{
public:
  explicit SourceDriver(LogThreadedSourceDriver *super);
  ~SourceDriver() override;

  // configuration (grammar)
  ServiceOptions options;
  MessageOptions message;
  unsigned bookmark_expiry_seconds = 0; // 0: bookmarks of silent machines are kept for ever

  // LogThreadedSourceDriver callbacks
  bool init();
  void deinit();
  void run();
  void request_exit();
  void wakeup();

  // EventSink (worker thread)
  bool window_open() override;
  std::uint64_t post(const ForwardedEvent &event) override;
  std::uint64_t acknowledged_through() override;

private:
  std::string persist_base() const;

  LogThreadedSourceDriver *super_;
  WakeChannel *wake_;
  std::atomic<bool> exit_requested_{false};
  std::uint64_t next_sequence_ = 0;
  std::unique_ptr<PersistFileEntries> persist_;
  std::unique_ptr<BookmarkStore> bookmarks_;
  std::unique_ptr<EventMessages> messages_;
  std::unique_ptr<Service> service_;
};

// syslog-ng's internal log, in its "message; name='value'" shape.
void log_line(LogLevel level, const std::string &message, const LogTags &tags);

// What differs between syslog-ng 3.x's threaded source (one worker inside the driver) and 4.x's
// (workers of their own): syslog-ng-3.cpp or syslog-ng-4.cpp, chosen by the build.
namespace adapter {
void install(LogThreadedSourceDriver *driver); // run, request_exit, wakeup and stats callbacks
bool free_to_send(LogThreadedSourceDriver *driver);
void post(LogThreadedSourceDriver *driver, LogMessage *msg);
AckTracker *ack_tracker(LogThreadedSourceDriver *driver);
} // namespace adapter

} // namespace wec::module

struct WindowsEventSourceDriver
{
  LogThreadedSourceDriver super;
  wec::module::SourceDriver *cpp;
};

inline wec::module::SourceDriver *driver_of(void *driver)
{
  return static_cast<WindowsEventSourceDriver *>(driver)->cpp;
}
