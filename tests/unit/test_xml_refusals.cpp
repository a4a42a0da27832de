// Unit tests for wec::xml: hostile and broken event XML (DTDs, external entities, billion laughs,
// depth, name and size limits, markup built to be slow, not well-formed input) is refused with a
// one-line error, without a word on stderr and without disturbing the next parse.
#include "xml-events.hpp"

#include <criterion/criterion.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <string>

using wec::xml::parse_event;
using wec::xml::ParsedEvent;
using wec::xml::ParseLimits;

namespace {

std::string parse_error(const std::string &xml, const ParseLimits &limits = ParseLimits{})
{
  ParsedEvent event;
  event.fields.push_back({"stale", "value"});
  std::string error;
  bool parsed = parse_event(xml, event, error, limits);
  cr_assert_not(parsed, "parse unexpectedly succeeded: %.300s", xml.c_str());
  cr_assert_not(error.empty(), "no error message");
  cr_assert_eq(error.find('\n'), std::string::npos, "error is not one line: %s", error.c_str());
  cr_assert(event.fields.empty(), "fields left behind after a failed parse");
  return error;
}

} // namespace

// ---------------------------------------------------------------------------------------------
// Refusals

Test(xml_parser, dtd_is_refused)
{
  std::string error = parse_error("<!DOCTYPE Event [<!ENTITY greeting 'hello'>]>" + kEventOpen +
                                  "<System><Computer>&greeting;</Computer></System></Event>");
  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());

  error = parse_error("<?xml version='1.0'?><!DOCTYPE Event>" + kEventOpen + "</Event>");
  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
}

// A listening socket on loopback: any attempt to fetch from it leaves a pending connection.
class LoopbackListener
{
public:
  LoopbackListener()
  {
    socket_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    cr_assert_geq(socket_, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert_eq(bind(socket_, reinterpret_cast<sockaddr *>(&address), sizeof address), 0);
    cr_assert_eq(listen(socket_, 8), 0);
    socklen_t length = sizeof address;
    cr_assert_eq(getsockname(socket_, reinterpret_cast<sockaddr *>(&address), &length), 0);
    port_ = ntohs(address.sin_port);
  }
  ~LoopbackListener() { close(socket_); }
  int port() const { return port_; }
  bool was_contacted() const
  {
    int connection = accept(socket_, nullptr, nullptr);
    if (connection >= 0)
      {
        close(connection);
        return true;
      }
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }

private:
  int socket_ = -1;
  int port_ = 0;
};

Test(xml_parser, external_entities_are_refused_and_not_fetched, .timeout = 20)
{
  LoopbackListener listener;
  const std::string url = "http://127.0.0.1:" + std::to_string(listener.port()) + "/secret";

  char secret_path[] = "/tmp/wec-xml-secret-XXXXXX";
  int secret_fd = mkstemp(secret_path);
  cr_assert_geq(secret_fd, 0);
  const std::string secret = "TOP-SECRET-MARKER";
  cr_assert_eq(write(secret_fd, secret.data(), secret.size()), static_cast<ssize_t>(secret.size()));
  close(secret_fd);

  const std::string documents[] = {
      "<!DOCTYPE Event [<!ENTITY xxe SYSTEM '" + url + "'>]>" + kEventOpen +
          "<System><Computer>&xxe;</Computer></System></Event>",
      "<!DOCTYPE Event [<!ENTITY xxe SYSTEM 'file://" + std::string(secret_path) + "'>]>" + kEventOpen +
          "<System><Computer>&xxe;</Computer></System></Event>",
      "<!DOCTYPE Event SYSTEM '" + url + "'>" + kEventOpen + "</Event>",
      "<!DOCTYPE Event [<!ENTITY % remote SYSTEM '" + url + "'> %remote;]>" + kEventOpen + "</Event>",
  };
  for (const std::string &document : documents)
    {
      ParsedEvent event;
      std::string error;
      cr_expect_not(parse_event(document, event, error));
      cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
      for (const auto &field : event.fields)
        cr_expect_not(contains(field.value, secret));
    }

  // Without a DTD, a reference to an undeclared entity is refused by name.
  std::string error = parse_error(kEventOpen + "<System><Computer>&xxe;</Computer></System></Event>");
  cr_expect(contains(error, "entity 'xxe' not allowed"), "error: %s", error.c_str());
  error = parse_error(kEventOpen + "<System><Provider Name='&xxe;'/></System></Event>");
  cr_expect(contains(error, "entity 'xxe' not allowed"), "error: %s", error.c_str());

  cr_expect_not(listener.was_contacted(), "the parser connected to %s", url.c_str());
  unlink(secret_path);
}

Test(xml_parser, billion_laughs_is_refused_quickly, .timeout = 20)
{
  std::string document = "<?xml version='1.0'?><!DOCTYPE Event [<!ENTITY lol0 'lol'>";
  for (int level = 1; level <= 9; ++level)
    {
      const std::string previous = "&lol" + std::to_string(level - 1) + ";";
      document += "<!ENTITY lol" + std::to_string(level) + " '";
      for (int i = 0; i < 10; ++i)
        document += previous;
      document += "'>";
    }
  document += "]>" + kEventOpen + "<System><Computer>&lol9;</Computer></System></Event>";

  const auto start = std::chrono::steady_clock::now();
  std::string error = parse_error(document);
  const auto elapsed = std::chrono::steady_clock::now() - start;

  cr_expect(contains(error, "DTD not allowed"), "error: %s", error.c_str());
  cr_expect_lt(std::chrono::duration_cast<std::chrono::milliseconds>(elapsed).count(), 1000);
}

std::string nested_event(int depth)
{
  // The root counts as level 1.
  std::string document = kEventOpen;
  for (int level = 2; level <= depth; ++level)
    document += "<N>";
  document += "deep";
  for (int level = 2; level <= depth; ++level)
    document += "</N>";
  return document + "</Event>";
}

Test(xml_parser, nesting_depth_is_limited)
{
  ParsedEvent at_limit = parse_ok(nested_event(64));
  cr_expect_eq(at_limit.fields.size(), 1);

  std::string error = parse_error(nested_event(65));
  cr_expect(contains(error, "nesting deeper than 64"), "error: %s", error.c_str());

  ParseLimits shallow;
  shallow.max_depth = 3;
  parse_ok(kEventOpen + "<System><EventID>1</EventID></System></Event>", shallow);
  error = parse_error(kEventOpen + "<UserData><A><B>1</B></A></UserData></Event>", shallow);
  cr_expect(contains(error, "nesting deeper than 3"), "error: %s", error.c_str());
}

Test(xml_parser, field_names_are_limited)
{
  // "Event." + 506 bytes = 512: the longest name allowed.
  const std::string at_limit(506, 'N');
  ParsedEvent event = parse_ok(kEventOpen + "<" + at_limit + ">x</" + at_limit + "></Event>");
  cr_expect_eq(value_of(event, "Event." + at_limit), "x");
  std::string error = parse_error(kEventOpen + "<" + at_limit + "N>x</" + at_limit + "N></Event>");
  cr_expect(error.rfind("field name longer than 512 bytes at line 1, column ", 0) == 0, "error: %s", error.c_str());
  // A Data Name and an attribute name are part of the field name.
  error =
      parse_error(kEventOpen + "<EventData><Data Name='" + std::string(600, 'D') + "'>x</Data></EventData></Event>");
  cr_expect(contains(error, "field name longer than 512 bytes"), "error: %s", error.c_str());
  error = parse_error(kEventOpen + "<System><Provider " + std::string(600, 'a') + "='x'/></System></Event>");
  cr_expect(contains(error, "field name longer than 512 bytes"), "error: %s", error.c_str());
}

Test(xml_parser, field_names_stay_in_proportion_to_the_event)
{
  // Many small elements under a long path: each field repeats the path. Names may add up to
  // four bytes per byte of event plus 4 KiB.
  const std::string wrapper(400, 'W');
  std::string document = kEventOpen + "<" + wrapper + ">";
  for (int i = 0; i < 200; ++i)
    document += "<c" + std::to_string(i) + ">1</c" + std::to_string(i) + ">";
  document += "</" + wrapper + "></Event>";
  std::string error = parse_error(document);
  cr_expect(contains(error, "field names add up to more than " + std::to_string(4 * document.size() + 4096) + " bytes"),
            "error: %s", error.c_str());
  // Fewer of them fit.
  document = kEventOpen + "<" + wrapper + ">";
  for (int i = 0; i < 20; ++i)
    document += "<c" + std::to_string(i) + ">1</c" + std::to_string(i) + ">";
  parse_ok(document + "</" + wrapper + "></Event>");
}

Test(xml_parser, markup_built_to_be_slow_is_refused_before_libxml2)
{
  std::string attributes;
  for (int i = 0; i < 40000; ++i)
    attributes += " a" + std::to_string(i) + "='1'";
  std::string error = parse_error(kEventOpen + "<System" + attributes + "/></Event>");
  cr_expect(error.rfind("more than 64 attributes on one element at line 1, column ", 0) == 0, "error: %s",
            error.c_str());
  std::string names = kEventOpen + "<UserData>";
  for (int i = 0; i < 10001; ++i)
    names += "<n" + std::to_string(i) + "/>";
  error = parse_error(names + "</UserData></Event>");
  cr_expect(contains(error, "more than 10000 distinct element names"), "error: %s", error.c_str());
}

Test(xml_parser, not_well_formed_input_is_refused)
{
  std::string error = parse_error(kEventOpen + "<System><EventID>1</System></Event>");
  cr_expect(error.rfind("not well-formed at line 1, column ", 0) == 0, "error: %s", error.c_str());

  error = parse_error(kEventOpen + "\n<System>\n<EventID>1</EventID>");
  cr_expect(error.rfind("not well-formed at line 3, column ", 0) == 0, "error: %s", error.c_str());

  parse_error("not xml at all");
  parse_error(kEventOpen + "</Event><Event/>");
  parse_error(kEventOpen + "<System a='1' a='2'/></Event>");
  parse_error(kEventOpen + "<p:System/></Event>"); // undeclared prefix
  parse_error(kEventOpen + "\xC3\x28</Event>");    // invalid UTF-8
  parse_error("");
}

Test(xml_parser, root_must_be_event)
{
  std::string error = parse_error("<Events><Event/></Events>");
  cr_expect(contains(error, "root element is <Events>, not <Event>"), "error: %s", error.c_str());

  error = parse_error("<Event xmlns='urn:something-else'/>");
  cr_expect(contains(error, "root element"), "error: %s", error.c_str());

  // Without any namespace is accepted.
  ParsedEvent event = parse_ok("<Event><System><EventID>5</EventID></System></Event>");
  cr_expect(event.summary.event_id == "5");
}

Test(xml_parser, size_is_limited_before_parsing)
{
  ParseLimits limits;
  limits.max_bytes = 100;
  std::string document = "<Event><System><Computer></Computer></System></Event>";
  document.insert(document.find("</Computer>"), 100 - document.size(), 'x');
  cr_assert_eq(document.size(), 100);
  parse_ok(document, limits);

  document.insert(document.find("</Computer>"), "x");
  std::string error = parse_error(document, limits);
  cr_expect(contains(error, "101 bytes exceeds the limit of 100"), "error: %s", error.c_str());

  // Too large is refused before parsing: even garbage gets the size error.
  error = parse_error(std::string(101, '<'), limits);
  cr_expect(contains(error, "exceeds the limit"), "error: %s", error.c_str());
}

Test(xml_parser, errors_are_not_printed_to_stderr)
{
  std::fflush(stderr);
  FILE *capture = std::tmpfile();
  cr_assert_not_null(capture);
  const int saved_stderr = dup(STDERR_FILENO);
  dup2(fileno(capture), STDERR_FILENO);

  ParsedEvent event;
  std::string error;
  bool any_parsed = parse_event(kEventOpen + "<System>", event, error);
  any_parsed |= parse_event(kEventOpen + "\xFF\xFE</Event>", event, error);
  // The text is UTF-8 whatever its declaration says: the declaration is ignored, without a word.
  const bool declared_charset_ignored =
      parse_event("<?xml version='1.0' encoding='no-such-charset'?><Event/>", event, error);
  any_parsed |= parse_event("<!DOCTYPE Event [<!ENTITY a 'b'>]><Event>&a;</Event>", event, error);
  any_parsed |= parse_event(kEventOpen + "&undeclared;</Event>", event, error);

  std::fflush(stderr);
  dup2(saved_stderr, STDERR_FILENO);
  close(saved_stderr);
  const long printed = static_cast<long>(lseek(fileno(capture), 0, SEEK_END));
  std::fclose(capture);

  cr_expect_not(any_parsed);
  cr_expect(declared_charset_ignored, "error: %s", error.c_str());
  cr_expect_eq(printed, 0, "libxml2 wrote %ld bytes to stderr", printed);
}

Test(xml_parser, a_failed_parse_does_not_disturb_the_next)
{
  const std::string good = read_lines("synthetic-renderedtext-en-US.xml").at(0);
  parse_error(nested_event(200));
  parse_error("<!DOCTYPE Event [<!ENTITY a 'b'>]><Event>&a;</Event>");
  parse_error(kEventOpen + "<System>");
  ParsedEvent event = parse_ok(good);
  cr_expect(event.summary.event_id == "4624");
  const std::string message = value_of(event, "Event.RenderingInfo.Message");
  cr_expect(message.rfind("An account was successfully logged on.\r\n\r\nSubject:\r\n", 0) == 0, "message: %.80s",
            message.c_str());
}
