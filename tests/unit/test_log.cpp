// Log lines that clients cause: clipped client text, repeats summarised per client and interval.
#include <criterion/criterion.h>

#include "expect.hpp"

#include <string>
#include <vector>

#include "core/log-throttle.hpp"
#include "core/log.hpp"

using namespace wec;
using Clock = LogThrottle::Clock;

namespace {

struct Written
{
  LogLevel level;
  std::string message;
  LogTags tags;

  std::string tag(const char *name) const
  {
    for (const auto &t : tags)
      if (std::string(t.name) == name)
        return t.value;
    return "-";
  }
};

struct Sink
{
  std::vector<Written> lines;
  LogFunction function()
  {
    return [this](LogLevel level, const std::string &message, const LogTags &tags) {
      lines.push_back({level, message, tags});
    };
  }
};

const Clock::time_point t0 = Clock::time_point() + std::chrono::hours(1);

LogTags refused(const std::string &identity, const std::string &peer, const std::string &error = "e")
{
  return {{"identity", identity}, {"peer", peer}, {"error", error}};
}

} // namespace

Test(clip, short_text_is_kept_and_long_text_is_cut_at_a_character_and_marked)
{
  EXPECT_STR(clip("short"), "short");
  EXPECT_STR(clip(std::string(200, 'a')), std::string(200, 'a'));
  EXPECT_STR(clip(std::string(1000, 'a')), std::string(200, 'a') + "...[+800 bytes]");
  // "é" is two bytes: a cut at byte 5 would split the third one
  EXPECT_STR(clip("ééééé", 5), "éé...[+6 bytes]");
}

Test(throttle, first_line_at_once_repeats_counted_and_summarised_when_the_interval_ends)
{
  Sink sink;
  LogThrottle throttle(sink.function(), std::chrono::seconds(60));
  for (int i = 0; i < 500; ++i)
    throttle.log(LogLevel::Warning, "refused", refused("win01", "192.0.2.1:" + std::to_string(1000 + i)),
                 t0 + std::chrono::milliseconds(i));
  cr_assert_eq(sink.lines.size(), 1u);
  throttle.flush(t0 + std::chrono::seconds(59));
  cr_assert_eq(sink.lines.size(), 1u);
  throttle.flush(t0 + std::chrono::seconds(61));
  cr_assert_eq(sink.lines.size(), 2u);
  EXPECT_STR(sink.lines[1].message, "refused");
  EXPECT_STR(sink.lines[1].tag("repeated"), "499");
  EXPECT_STR(sink.lines[1].tag("interval"), "60");
  // a new interval: logged at once again
  throttle.log(LogLevel::Warning, "refused", refused("win01", "192.0.2.1:5"), t0 + std::chrono::seconds(62));
  cr_assert_eq(sink.lines.size(), 3u);
  cr_assert_eq(sink.lines[2].tag("repeated"), "-");
}

Test(throttle, different_lines_and_clients_are_each_written_and_nothing_but_client_lines_is_held)
{
  Sink sink;
  LogThrottle throttle(sink.function(), std::chrono::seconds(60));
  throttle.log(LogLevel::Error, "refused", refused("win01", "192.0.2.1:1", "a"), t0);
  throttle.log(LogLevel::Error, "refused", refused("win01", "192.0.2.1:2", "b"), t0); // other detail
  throttle.log(LogLevel::Error, "refused", refused("win02", "192.0.2.2:1", "a"), t0); // other client
  throttle.log(LogLevel::Error, "other", refused("win01", "192.0.2.1:3", "a"), t0);   // other message
  cr_assert_eq(sink.lines.size(), 4u);
  // without identity the address (not the port) names the client
  throttle.log(LogLevel::Warning, "handshake", {{"peer", "192.0.2.9:1"}}, t0);
  throttle.log(LogLevel::Warning, "handshake", {{"peer", "192.0.2.9:2"}}, t0);
  throttle.log(LogLevel::Warning, "handshake", {{"peer", "[2001:db8::1]:2"}}, t0);
  cr_assert_eq(sink.lines.size(), 6u);
  // info, debug and lines about no client pass
  for (int i = 0; i < 3; ++i)
    {
      throttle.log(LogLevel::Info, "refused", refused("win01", "192.0.2.1:1", "a"), t0);
      throttle.log(LogLevel::Error, "store full", {{"error", "x"}}, t0);
    }
  cr_assert_eq(sink.lines.size(), 12u);
}

Test(throttle, a_client_that_varies_its_lines_gets_a_bounded_number_and_one_summary)
{
  Sink sink;
  LogThrottle throttle(sink.function(), std::chrono::seconds(10));
  for (int i = 0; i < 1000; ++i)
    throttle.log(LogLevel::Error, "malformed", refused("evil", "192.0.2.1:1", "error " + std::to_string(i)), t0);
  cr_assert_eq(sink.lines.size(), LogThrottle::kDistinctLines);
  throttle.flush(t0 + std::chrono::seconds(11));
  cr_assert_eq(sink.lines.size(), LogThrottle::kDistinctLines + 1);
  EXPECT_CONTAINS(sink.lines.back().message, "more kinds of refusal");
  EXPECT_STR(sink.lines.back().tag("suppressed"), std::to_string(1000 - LogThrottle::kDistinctLines));
  EXPECT_STR(sink.lines.back().tag("identity"), "evil");
}

Test(throttle, interval_zero_writes_every_line)
{
  Sink sink;
  LogThrottle throttle(sink.function(), std::chrono::seconds(0));
  for (int i = 0; i < 5; ++i)
    throttle.log(LogLevel::Error, "refused", refused("win01", "192.0.2.1:1"), t0);
  cr_assert_eq(sink.lines.size(), 5u);
}
