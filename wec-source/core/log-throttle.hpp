// Lines that a client causes (a refused request, a failed handshake) are written once, and their
// repeats summarised: a client that hammers on purpose must not flood syslog-ng's log.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

#include "core/log.hpp"

namespace wec {

class LogThrottle
{
public:
  using Clock = std::chrono::steady_clock;

  // `interval` 0 passes every line through.
  LogThrottle(LogFunction sink, std::chrono::seconds interval);

  // Notices, warnings and errors that name a client (an `identity`, else a `peer` address) are throttled per
  // client: the first line of each kind in an interval is written at once, its repeats are counted
  // and written as one line with `repeated='N'` when the interval ends. A client gets at most
  // kDistinctLines kinds of line per interval; the rest is counted in one summary line.
  void log(LogLevel level, const std::string &message, const LogTags &tags, Clock::time_point now = Clock::now());

  // Writes the summaries of the intervals that ended. Call about once a second.
  void flush(Clock::time_point now = Clock::now());

  // A LogFunction for the engine's parts that goes through this throttle (which must outlive it).
  LogFunction function();

  static constexpr std::size_t kDistinctLines = 20;
  static constexpr std::size_t kClients = 10000;

private:
  struct Line
  {
    LogLevel level;
    std::string message;
    LogTags tags;
    std::uint64_t repeats = 0;
  };
  struct Client
  {
    Clock::time_point started;
    std::map<std::string, Line> lines;
    std::uint64_t suppressed = 0; // lines of kinds beyond kDistinctLines
    LogTag who;
  };

  void summarise(Client &client);

  LogFunction sink_;
  std::chrono::seconds interval_;
  std::mutex lock_;
  std::unordered_map<std::string, Client> clients_;
  std::uint64_t untracked_ = 0; // lines of clients beyond kClients
  Clock::time_point untracked_since_;
  Clock::time_point last_flush_;
};

} // namespace wec
