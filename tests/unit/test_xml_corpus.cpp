// Unit tests for wec::xml: every event of the tests/data corpus parses, alone and on several threads
// at once.
#include "xml-events.hpp"

#include <criterion/criterion.h>

#include <atomic>
#include <cstddef>
#include <string>
#include <thread>
#include <vector>

using wec::xml::parse_event;
using wec::xml::parse_system_time;
using wec::xml::ParsedEvent;

// ---------------------------------------------------------------------------------------------
// The corpus

Test(xml_parser, parses_concurrently_on_several_threads)
{
  const std::vector<std::string> lines = read_lines("events-permissive.xml");
  std::atomic<std::size_t> failures{0};
  std::atomic<std::size_t> parsed{0};
  std::vector<std::thread> workers;
  for (int worker = 0; worker < 4; ++worker)
    workers.emplace_back([&, worker] {
      ParsedEvent event;
      std::string error;
      // Every worker parses every line, each starting at a different place.
      for (std::size_t n = 0; n < lines.size(); ++n)
        {
          const std::size_t i = (n + static_cast<std::size_t>(worker) * 1500) % lines.size();
          if (parse_event(lines[i], event, error) && !event.summary.event_id.empty())
            ++parsed;
          else
            ++failures;
          // Interleave refusals so that error state could leak between threads if shared.
          if (i % 97 == 0 && parse_event(kEventOpen + "<System>", event, error))
            ++failures;
        }
    });
  for (auto &worker : workers)
    worker.join();
  cr_expect_eq(failures.load(), 0);
  cr_expect_eq(parsed.load(), 4 * lines.size());
}

Test(xml_parser, every_corpus_event_parses)
{
  const std::vector<std::string> lines = read_lines("events-permissive.xml");
  cr_assert_eq(lines.size(), 5916);

  std::size_t parsed = 0, with_event_id = 0, with_provider = 0, with_time = 0, with_valid_time = 0;
  std::size_t with_thread_id = 0, with_misspelled_thread_id = 0;
  ParsedEvent event;
  std::string error;
  for (std::size_t i = 0; i < lines.size(); ++i)
    {
      if (!parse_event(lines[i], event, error))
        {
          cr_expect_fail("line %zu: %s", i + 1, error.c_str());
          continue;
        }
      ++parsed;
      with_event_id +=
          !event.summary.event_id.empty() && value_of(event, "Event.System.EventID") == event.summary.event_id;
      with_provider += !event.summary.provider.empty();
      with_time += !event.summary.time_created.empty();
      long long seconds = 0;
      unsigned microseconds = 0;
      with_valid_time += parse_system_time(event.summary.time_created, seconds, microseconds) && seconds > 0;
      with_thread_id += count_named(event, "Event.System.Execution._ThreadID");
      with_misspelled_thread_id += count_named(event, "Event.System.Execution._ThreadIDD");
    }
  cr_expect_eq(parsed, 5916);
  cr_expect_eq(with_event_id, 5916);
  cr_expect_eq(with_provider, 5916);
  cr_expect_eq(with_time, 5916);
  cr_expect_eq(with_valid_time, 5916);
  cr_expect_gt(with_thread_id, 0);
  cr_expect_eq(with_misspelled_thread_id, 0);
}
