// Wakes the engine's worker from any thread and carries the acknowledgement watermark. Reference
// counted: the host's acknowledgement callbacks (syslog-ng's ack bookmarks of messages still in
// flight) may outlive the engine.
#pragma once

#include <atomic>
#include <cstdint>

namespace wec {

class WakeChannel
{
public:
  WakeChannel();
  WakeChannel(const WakeChannel &) = delete;
  WakeChannel &operator=(const WakeChannel &) = delete;

  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref();
  void wake();  // any thread
  void drain(); // the worker, after poll() said fd() is readable
  int fd() const { return fd_; }
  void acknowledge(std::uint64_t sequence) { acknowledged_.store(sequence, std::memory_order_release); }
  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_acquire); }

private:
  ~WakeChannel();
  std::atomic<int> refs_{1};
  std::atomic<std::uint64_t> acknowledged_{0};
  int fd_ = -1;
};

} // namespace wec
