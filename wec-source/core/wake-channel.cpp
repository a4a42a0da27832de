#include "core/wake-channel.hpp"

#include <sys/eventfd.h>
#include <unistd.h>

namespace wec {

WakeChannel::WakeChannel() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

WakeChannel::~WakeChannel()
{
  if (fd_ >= 0)
    close(fd_);
}

void WakeChannel::unref()
{
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete this;
}

void WakeChannel::wake()
{
  std::uint64_t one = 1;
  ssize_t written = write(fd_, &one, sizeof(one));
  (void) written; // EAGAIN: the counter is saturated, the worker is awake anyway
}

void WakeChannel::drain()
{
  std::uint64_t value;
  ssize_t got = read(fd_, &value, sizeof(value));
  (void) got;
}

} // namespace wec
