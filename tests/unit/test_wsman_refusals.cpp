// Unit tests for wec::wsman: SOAP requests that are refused (not XML, not SOAP 1.2, missing
// headers, DTDs, entities, markup built to be slow) with a one-line error, quietly and thread-safely.
#include <criterion/criterion.h>

#include "expect.hpp"
#include "wsman-captures.hpp"

#include <stdlib.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <ctime>
#include <string>
#include <thread>
#include <vector>

#include "wsman/message.hpp"

using namespace wec::wsman;

// ================================================================================================
// Refusals

Test(refuse, not_xml)
{
  std::string error = parse_error("this is not XML");
  cr_assert(starts_with(error, "XML parse error"), "%s", error.c_str());
  cr_assert(starts_with(parse_error("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Header>"),
                        "XML parse error"));
  EXPECT_STR(parse_error("").c_str(), "empty SOAP envelope");
  // Undeclared entity: refused by name, with where it is.
  std::string entity = kEnd;
  entity.insert(entity.find("</a:To>"), "&foo;");
  cr_assert(starts_with(parse_error(entity), "entity 'foo' not allowed at line 1, column "), "%s",
            parse_error(entity).c_str());
}

Test(refuse, wrong_root)
{
  EXPECT_STR(parse_error("<Envelope/>").c_str(), "not a SOAP 1.2 envelope (root is {}Envelope)");
  std::string soap11 =
      "<s:Envelope xmlns:s=\"http://schemas.xmlsoap.org/soap/envelope/\"><s:Header/><s:Body/></s:Envelope>";
  EXPECT_STR(parse_error(soap11).c_str(),
             "not a SOAP 1.2 envelope (root is {http://schemas.xmlsoap.org/soap/envelope/}Envelope)");
  // Right namespace, wrong name.
  EXPECT_STR(parse_error("<s:Body xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"/>").c_str(),
             "not a SOAP 1.2 envelope (root is {http://www.w3.org/2003/05/soap-envelope}Body)");
}

Test(refuse, no_action)
{
  std::string xml = kHeartbeat;
  size_t from = xml.find("<a:Action"), to = xml.find("</a:Action>") + std::string("</a:Action>").size();
  xml.erase(from, to - from);
  EXPECT_STR(parse_error(xml).c_str(), "SOAP header has no a:Action");
  // An Action in the wrong namespace does not count.
  std::string wrong_ns = kHeartbeat;
  wrong_ns.replace(wrong_ns.find("<a:Action"), 9, "<w:Action");
  wrong_ns.replace(wrong_ns.find("</a:Action>"), 11, "</w:Action>");
  EXPECT_STR(parse_error(wrong_ns).c_str(), "SOAP header has no a:Action");
}

Test(refuse, no_message_id)
{
  std::string xml = kHeartbeat;
  size_t from = xml.find("<a:MessageID>"), to = xml.find("</a:MessageID>") + std::string("</a:MessageID>").size();
  xml.erase(from, to - from);
  EXPECT_STR(parse_error(xml).c_str(), "SOAP header has no a:MessageID");
}

Test(refuse, no_header_or_body)
{
  EXPECT_STR(
      parse_error("<s:Envelope xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"><s:Body/></s:Envelope>").c_str(),
      "SOAP envelope has no s:Header");
  std::string xml = kEnd;
  xml.erase(xml.find("<s:Body>"), std::string("<s:Body></s:Body>").size());
  EXPECT_STR(parse_error(xml).c_str(), "SOAP envelope has no s:Body");
}

Test(refuse, dtd)
{
  std::string doctype = "<!DOCTYPE s:Envelope>" + kEnd;
  EXPECT_STARTS(parse_error(doctype), "DTD not allowed at line 1, column ");
  std::string external = "<!DOCTYPE s:Envelope SYSTEM \"http://127.0.0.1:1/evil.dtd\">" + kEnd;
  EXPECT_STARTS(parse_error(external), "DTD not allowed at line 1, column ");
  std::string with_decl = "<?xml version=\"1.0\"?><!DOCTYPE x [<!ELEMENT x ANY>]>" + kEnd;
  EXPECT_STARTS(parse_error(with_decl), "DTD not allowed at line 1, column ");
}

Test(refuse, entity_expansion)
{
  std::string bomb = "<!DOCTYPE s:Envelope [<!ENTITY a \"aaaaaaaaaaaaaaaaaaaa\">"
                     "<!ENTITY b \"&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;\"><!ENTITY c \"&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;\">"
                     "<!ENTITY d \"&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;\"><!ENTITY e \"&d;&d;&d;&d;&d;&d;&d;&d;&d;&d;\">]>";
  std::string xml = kEnd;
  xml.insert(xml.find("</a:To>"), "&e;&e;&e;&e;&e;&e;&e;&e;&e;&e;");
  EXPECT_STARTS(parse_error(bomb + xml), "DTD not allowed at line 1, column ");
  // External entity (XXE).
  std::string xxe = "<!DOCTYPE s:Envelope [<!ENTITY x SYSTEM \"file:///etc/passwd\">]>";
  std::string xml2 = kEnd;
  xml2.insert(xml2.find("</a:To>"), "&x;");
  EXPECT_STARTS(parse_error(xxe + xml2), "DTD not allowed at line 1, column ");
}

Test(refuse, depth_bomb)
{
  std::string xml = kEnd;
  std::string deep;
  for (int i = 0; i < 100000; ++i)
    deep += "<x>";
  xml.insert(xml.find("</s:Body>"), deep); // not even well-formed: the depth limit triggers first
  EXPECT_STARTS(parse_error(xml), "XML nesting deeper than 64 levels at line 1, column ");

  // Exactly at the limit passes; one more fails.
  auto nested = [](int depth) {
    std::string inner, close;
    for (int i = 0; i < depth - 3; ++i) // Envelope, Body and <y> are 3 levels
      {
        inner += "<x>";
        close = "</x>" + close;
      }
    std::string x = kEnd;
    x.insert(x.find("</s:Body>"), "<y>" + inner + close + "</y>");
    return x;
  };
  ParseLimits limits;
  limits.max_depth = 10;
  Message m;
  std::string error;
  cr_assert(parse_message(nested(10), m, error, limits), "%s", error.c_str());
  EXPECT_STARTS(parse_error(nested(11), limits), "XML nesting deeper than 10 levels at line 1, column ");
}

Test(refuse, markup_built_to_be_slow)
{
  // libxml2 2.9 compares every attribute with every other one: 40,000 took it seconds.
  std::string attributes;
  for (int i = 0; i < 40000; ++i)
    attributes += " a" + std::to_string(i) + "='1'";
  std::string xml = kEnd;
  xml.insert(xml.find("<s:Body>") + 8, "<x" + attributes + "/>");
  const std::clock_t start = std::clock();
  EXPECT_STARTS(parse_error(xml), "more than 64 attributes on one element at line 1, column ");
  const double ms = 1000.0 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
  cr_expect_lt(ms, 100.0, "took %.1f ms", ms);

  std::string namespaces;
  for (int i = 0; i < 40000; ++i)
    namespaces += " xmlns:p" + std::to_string(i) + "='urn:x'";
  xml = kEnd;
  xml.insert(xml.find("<s:Body>") + 8, "<x" + namespaces + "/>");
  EXPECT_STARTS(parse_error(xml), "more than 32 namespace declarations on one element");
}

Test(refuse, libxml2_writes_nothing_to_stderr)
{
  std::fflush(stderr);
  char path[] = "/tmp/test_wsman_stderr_XXXXXX";
  int fd = mkstemp(path);
  cr_assert(fd >= 0);
  int saved = dup(2);
  dup2(fd, 2);
  Message m;
  std::string error;
  parse_message("<a><b></a>", m, error);
  parse_message("<!DOCTYPE a [<!ENTITY e \"x\">]><a>&e;</a>", m, error);
  parse_message("<a xmlns:p='x'><q:b/></a>", m, error);
  parse_message("<a xmlns:p='relative'>&#1;</a>", m, error);
  std::fflush(stderr);
  dup2(saved, 2);
  close(saved);
  off_t size = lseek(fd, 0, SEEK_END);
  close(fd);
  unlink(path);
  cr_assert_eq(size, 0, "libxml2 wrote %ld bytes to stderr", static_cast<long>(size));
}

Test(refuse, concurrent_threads)
{
  std::atomic<int> failures{0};
  std::vector<std::thread> threads;
  std::string events = events_envelope({kEvent1, kEvent2});
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < 300; ++i)
        {
          Message m;
          std::string error;
          if ((i + t) % 2 == 0)
            {
              if (!parse_message(events, m, error) || m.events.size() != 2)
                ++failures;
            }
          else if (parse_message("<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope'><", m, error) ||
                   !starts_with(error, "XML parse error"))
            ++failures;
        }
    });
  for (auto &thread : threads)
    thread.join();
  cr_assert_eq(failures.load(), 0);
}
