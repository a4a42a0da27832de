// syslog-ng 3.x: the threaded source driver has one worker of its own and calls the driver's hooks.
#include "windowsevent-source.hpp"

#include <cstdio>

namespace wec::module::adapter {

namespace {

void run(LogThreadedSourceDriver *s) { driver_of(s)->run(); }
void request_exit(LogThreadedSourceDriver *s) { driver_of(s)->request_exit(); }
void wakeup(LogThreadedSourceDriver *s) { driver_of(s)->wakeup(); }

const gchar *format_stats_instance(LogThreadedSourceDriver *s)
{
  static char instance[64]; // syslog-ng copies it at once
  std::snprintf(instance, sizeof(instance), "windowsevent,%d", driver_of(s)->options.primary_port());
  return instance;
}

} // namespace

void install(LogThreadedSourceDriver *driver)
{
  driver->run = run;
  driver->request_exit = request_exit;
  driver->wakeup = wakeup;
  driver->format_stats_instance = format_stats_instance;
}

bool free_to_send(LogThreadedSourceDriver *driver) { return log_threaded_source_free_to_send(driver); }
void post(LogThreadedSourceDriver *driver, LogMessage *msg) { log_threaded_source_post(driver, msg); }
AckTracker *ack_tracker(LogThreadedSourceDriver *driver) { return driver->worker->super.ack_tracker; }

} // namespace wec::module::adapter
