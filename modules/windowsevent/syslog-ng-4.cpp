// syslog-ng 4.x: the threaded source driver constructs workers (one here: the collector's loop is
// single-threaded) and calls the workers' hooks.
#include "windowsevent-source.hpp"

#include <string>

#include "cpp-start.h"
#include "stats/stats-cluster-key-builder.h"
#include "cpp-end.h"

namespace wec::module::adapter {

namespace {

SourceDriver *owner(LogThreadedSourceWorker *worker) { return driver_of(worker->control); }
void run(LogThreadedSourceWorker *w) { owner(w)->run(); }
void request_exit(LogThreadedSourceWorker *w) { owner(w)->request_exit(); }
void wakeup(LogThreadedSourceWorker *w) { owner(w)->wakeup(); }

LogThreadedSourceWorker *construct_worker(LogThreadedSourceDriver *driver, gint index)
{
  LogThreadedSourceWorker *worker = g_new0(LogThreadedSourceWorker, 1);
  log_threaded_source_worker_init_instance(worker, driver, index);
  worker->run = run;
  worker->request_exit = request_exit;
  worker->wakeup = wakeup;
  return worker;
}

void format_stats_key(LogThreadedSourceDriver *s, StatsClusterKeyBuilder *builder)
{
  const std::string port = std::to_string(driver_of(s)->options.primary_port());
  stats_cluster_key_builder_add_legacy_label(builder, stats_cluster_label("driver", "windowsevent"));
  stats_cluster_key_builder_add_legacy_label(builder, stats_cluster_label("port", port.c_str()));
}

LogThreadedSourceWorker *the_worker(LogThreadedSourceDriver *driver) { return driver->workers[0]; }

} // namespace

void install(LogThreadedSourceDriver *driver)
{
  driver->worker_construct = construct_worker;
  driver->format_stats_key = format_stats_key;
  driver->num_workers = 1;
}

bool free_to_send(LogThreadedSourceDriver *driver)
{
  return log_threaded_source_worker_free_to_send(the_worker(driver));
}
void post(LogThreadedSourceDriver *driver, LogMessage *msg)
{
  log_threaded_source_worker_post(the_worker(driver), msg);
}
AckTracker *ack_tracker(LogThreadedSourceDriver *driver) { return the_worker(driver)->super.ack_tracker; }

} // namespace wec::module::adapter
