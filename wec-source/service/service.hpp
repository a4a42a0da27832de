// The collector as one service: its listeners (HTTPS with client certificates, HTTP with
// Kerberos), the collector behind them and the worker loop that drives both. It knows nothing of
// its host: events go to an EventSink, bookmarks to a BookmarkStore, lines to a LogFunction, and
// any thread may wake the loop through the WakeChannel.
#pragma once

#include <atomic>
#include <memory>
#include <vector>

#include "bookmarks/bookmark-store.hpp"
#include "collector/event-sink.hpp"
#include "core/log.hpp"
#include "core/wake-channel.hpp"
#include "service/service-options.hpp"

namespace wec {

class Service
{
public:
  // Loads the credentials and binds the listeners; logs why and returns nothing when it cannot.
  // `options` must have passed validate(); sink, store and wake outlive the service.
  static std::unique_ptr<Service> start(const ServiceOptions &options, EventSink &sink, BookmarkStore &store,
                                        WakeChannel &wake, LogFunction log);
  ~Service();

  // The worker loop: never blocks on one client, sleeps only in poll(). Returns after `stop` is set
  // and the channel woken, having answered every waiting batch with 503 (the forwarders resend), or
  // after an internal error, which it logs.
  void run(const std::atomic<bool> &stop);

  struct State;

private:
  explicit Service(std::unique_ptr<State> state);
  bool start_endpoints(const ServiceOptions &options);
  void loop(const std::atomic<bool> &stop);
  std::unique_ptr<State> state_;
};

} // namespace wec
