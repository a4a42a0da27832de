// Values of an event's <System> element: its time ("2024-05-01T10:00:00.1234567Z" -> seconds and
// microseconds since 1970) and its Level (-> syslog severity).
#include "event-xml-parser.hpp"

namespace wec::xml {
namespace {

// Days between 1970-01-01 and the given proleptic Gregorian date, by counting in 400-year
// eras that start on March 1st (so the leap day is the last day of the counted year).
long long days_from_civil(long long year, unsigned month, unsigned day)
{
  year -= month <= 2 ? 1 : 0;
  const long long era = (year >= 0 ? year : year - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(year - era * 400);    // [0, 399]
  const unsigned month_from_march = month > 2 ? month - 3 : month + 9;     // [0, 11]
  const unsigned day_of_year = (153 * month_from_march + 2) / 5 + day - 1; // [0, 365]
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<long long>(day_of_era) - 719468;
}

bool is_leap_year(unsigned year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

unsigned days_in_month(unsigned year, unsigned month)
{
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` decimal digits at `position`.
bool read_digits(std::string_view text, std::size_t &position, std::size_t count, unsigned &value)
{
  if (position + count > text.size())
    return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i)
    {
      char c = text[position + i];
      if (c < '0' || c > '9')
        return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  position += count;
  return true;
}

bool expect_char(std::string_view text, std::size_t &position, char expected)
{
  if (position >= text.size() || text[position] != expected)
    return false;
  ++position;
  return true;
}

} // namespace

bool parse_system_time(std::string_view text, long long &seconds, unsigned &microseconds)
{
  std::size_t position = 0;
  unsigned year, month, day, hour, minute, second;
  if (!read_digits(text, position, 4, year) || !expect_char(text, position, '-') ||
      !read_digits(text, position, 2, month) || !expect_char(text, position, '-') ||
      !read_digits(text, position, 2, day) || !expect_char(text, position, 'T') ||
      !read_digits(text, position, 2, hour) || !expect_char(text, position, ':') ||
      !read_digits(text, position, 2, minute) || !expect_char(text, position, ':') ||
      !read_digits(text, position, 2, second))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 || second > 59)
    return false;

  // Windows writes 7 fractional digits (100 ns); keep microseconds and drop the rest.
  unsigned fraction_micros = 0;
  if (position < text.size() && text[position] == '.')
    {
      ++position;
      std::size_t digit_count = 0;
      while (position < text.size() && text[position] >= '0' && text[position] <= '9')
        {
          if (digit_count < 6)
            fraction_micros = fraction_micros * 10 + static_cast<unsigned>(text[position] - '0');
          ++digit_count;
          ++position;
        }
      if (digit_count == 0 || digit_count > 9)
        return false;
      for (std::size_t i = digit_count; i < 6; ++i)
        fraction_micros *= 10;
    }

  long long offset_seconds = 0;
  if (position < text.size() && text[position] == 'Z')
    {
      ++position;
    }
  else if (position < text.size() && (text[position] == '+' || text[position] == '-'))
    {
      const bool east_of_utc = text[position] == '+';
      ++position;
      unsigned offset_hours, offset_minutes;
      if (!read_digits(text, position, 2, offset_hours) || !expect_char(text, position, ':') ||
          !read_digits(text, position, 2, offset_minutes) || offset_hours > 23 || offset_minutes > 59)
        return false;
      offset_seconds = (offset_hours * 3600LL + offset_minutes * 60LL) * (east_of_utc ? 1 : -1);
    }
  else
    {
      return false;
    }
  if (position != text.size())
    return false;

  seconds = days_from_civil(year, month, day) * 86400LL + hour * 3600LL + minute * 60LL + second - offset_seconds;
  microseconds = fraction_micros;
  return true;
}

int syslog_severity(std::string_view level, int log_always)
{
  if (level == "1")
    return 2; // Critical → crit
  if (level == "2")
    return 3; // Error → err
  if (level == "3")
    return 4; // Warning → warning
  if (level == "4")
    return 6; // Information → info
  if (level == "5")
    return 7; // Verbose → debug
  return log_always;
}

} // namespace wec::xml
