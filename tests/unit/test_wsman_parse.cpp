// Unit tests for wec::wsman: parsing the SOAP requests Windows sends (Enumerate, End, Heartbeat,
// Events, SubscriptionEnd), and the time it takes for a ~500 KB Events envelope.
#include <criterion/criterion.h>

#include "expect.hpp"
#include "wsman-captures.hpp"

#include <time.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

#include "codec/utf16.hpp"
#include "wsman/message.hpp"

using namespace wec::wsman;

// ================================================================================================
// Parsing

Test(parse, enumerate)
{
  Message m = parse_ok(kEnumerate);
  cr_assert_eq(m.action, Action::Enumerate);
  EXPECT_STR(m.action_uri.c_str(), "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate");
  EXPECT_STR(m.message_id.c_str(), "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E");
  EXPECT_STR(m.to.c_str(), "http://srv.windomain.local:5985/wsman/SubscriptionManager/WEC");
  EXPECT_STR(m.resource_uri.c_str(), "http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription");
  EXPECT_STR(m.machine_id.c_str(), "win10.windomain.local");
  EXPECT_STR(m.operation_id.c_str(), "uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4");
  EXPECT_STR(m.session_id.c_str(), "uuid:D25DD033-C406-44AB-8443-85E1BC794F10");
  EXPECT_STR(m.locale.c_str(), "en-US");
  cr_assert_eq(m.max_envelope_size, 512000ul);
  cr_assert_not(m.ack_requested);
  cr_assert(m.identifier.empty());
  cr_assert_not(m.bookmark.has_value());
  cr_assert(m.events.empty());
}

Test(parse, enumerate_from_utf16_body)
{
  std::string body = wec::codec::encode_utf16le_with_bom(kEnumerate);
  std::string utf8, error;
  cr_assert(wec::codec::decode_body(body, utf8, error), "%s", error.c_str());
  Message m = parse_ok(utf8);
  cr_assert_eq(m.action, Action::Enumerate);
  EXPECT_STR(m.message_id.c_str(), "uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E");
}

Test(parse, end)
{
  Message m = parse_ok(kEnd);
  cr_assert_eq(m.action, Action::End);
  EXPECT_STR(m.operation_id.c_str(), "uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4");
  EXPECT_STR(m.resource_uri.c_str(), "http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex");
  EXPECT_STR(m.message_id.c_str(), "uuid:5A622A71-B73A-426E-B1CB-048A6079EB23");
}

Test(parse, heartbeat)
{
  Message m = parse_ok(kHeartbeat);
  cr_assert_eq(m.action, Action::Heartbeat);
  EXPECT_STR(m.message_id.c_str(), "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA");
  EXPECT_STR(m.identifier.c_str(), "219C5353-5F3D-4CD7-A644-F6B69E57C1C1");
  EXPECT_STR(m.to.c_str(),
             "http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1");
  EXPECT_STR(m.operation_id.c_str(), "uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22");
  EXPECT_STR(m.session_id.c_str(), "uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB");
  cr_assert(m.ack_requested);
  cr_assert_not(m.bookmark.has_value());
  cr_assert(m.events.empty());
}

Test(parse, events_with_bookmark)
{
  Message m = parse_ok(events_envelope({kEvent1, kEvent2}));
  cr_assert_eq(m.action, Action::Events);
  cr_assert(m.ack_requested);
  EXPECT_STR(m.identifier.c_str(), "219C5353-5F3D-4CD7-A644-F6B69E57C1C1");
  cr_assert_eq(m.events.size(), 2u);
  cr_assert(m.events[0] == kEvent1, "event 1 differs: %s", m.events[0].c_str());
  // XML end-of-line handling applies inside CDATA too: the parser turns CR LF into LF (the event
  // XML parser would do the same), everything else is verbatim.
  std::string event2 = kEvent2;
  event2.replace(event2.find("\r\n"), 2, "\n");
  cr_assert(m.events[1] == event2, "event 2 differs: %s", m.events[1].c_str());
  cr_assert(m.bookmark.has_value());
  EXPECT_STR(m.bookmark->c_str(), kBookmarkList.c_str());

  // The stored bookmark goes back into a Subscribe and must re-parse to the same content.
  Doc again(*m.bookmark);
  cr_assert_eq(again.count("/BookmarkList/Bookmark[@Channel='Microsoft-Windows-WinRM/Operational'][@RecordId='149161']"
                           "[@IsCurrent='true']"),
               1);
}

Test(parse, events_non_xml_character_survives_via_codec)
{
  // \x05 inside an event: replaced by U+FFFD by the codec, so the batch still parses.
  std::string event = "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><EventData><Data>a\x05"
                      "b</Data></EventData></Event>";
  std::string body = wec::codec::encode_utf16le_with_bom(events_envelope({event, kEvent1}));
  std::string utf8, error;
  cr_assert(wec::codec::decode_body(body, utf8, error), "%s", error.c_str());
  Message m = parse_ok(utf8);
  cr_assert_eq(m.events.size(), 2u);
  cr_assert(m.events[0].find("a\xEF\xBF\xBD"
                             "b") != std::string::npos);
  cr_assert(m.events[1] == kEvent1);
}

Test(parse, events_as_elements_instead_of_cdata)
{
  std::string xml = events_envelope({});
  std::string element =
      "<w:Event Action=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Event\"><Event "
      "xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\"><System><EventID>4624</EventID>"
      "</System></Event></w:Event>";
  xml.insert(xml.find("</w:Events>"), element);
  Message m = parse_ok(xml);
  cr_assert_eq(m.events.size(), 1u);
  EXPECT_STR(m.events[0].c_str(), "<Event xmlns=\"http://schemas.microsoft.com/win/2004/08/events/event\">"
                                  "<System><EventID>4624</EventID></System></Event>");
}

Test(parse, subscription_end_with_fault)
{
  Message m = parse_ok(kSubscriptionEnd);
  cr_assert_eq(m.action, Action::SubscriptionEnd);
  EXPECT_STR(m.end_status.c_str(), "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling");
  EXPECT_STR(m.fault_code.c_str(), "1717");
  EXPECT_STR(m.fault_message.c_str(), "Windows Event Forward Plugin failed to read events.");
  // The header identifier (ours), not the client's own one in the body.
  EXPECT_STR(m.identifier.c_str(), "0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D");
  cr_assert(m.ack_requested);
}

Test(parse, subscription_end_without_fault)
{
  std::string xml = kSubscriptionEnd;
  size_t from = xml.find("<f:WSManFault"), to = xml.find("</f:WSManFault>") + std::string("</f:WSManFault>").size();
  xml.erase(from, to - from);
  Message m = parse_ok(xml);
  cr_assert_eq(m.action, Action::SubscriptionEnd);
  cr_assert(m.fault_code.empty());
  cr_assert(m.fault_message.empty());
  EXPECT_STR(m.end_status.c_str(), "http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling");
}

Test(parse, unknown_action_is_not_an_error)
{
  std::string xml = kEnd;
  std::string old = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End</a:Action>";
  xml.replace(xml.find(old), old.size(), "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull</a:Action>");
  Message m = parse_ok(xml);
  cr_assert_eq(m.action, Action::Unknown);
  EXPECT_STR(m.action_uri.c_str(), "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Pull");
}

Test(parse, identifier_inside_reference_parameters)
{
  std::string xml = kHeartbeat;
  std::string direct =
      R"(<e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">219C5353-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier>)";
  xml.replace(xml.find(direct), direct.size(),
              "<a:ReferenceParameters><Version>1</Version><e:Identifier>AAAABBBB-5F3D-4CD7-A644-F6B69E57C1C1"
              "</e:Identifier></a:ReferenceParameters>");
  Message m = parse_ok(xml);
  EXPECT_STR(m.identifier.c_str(), "AAAABBBB-5F3D-4CD7-A644-F6B69E57C1C1");

  std::string props = kHeartbeat;
  props.replace(props.find(direct), direct.size(),
                "<a:ReferenceProperties><e:Identifier>CCCCDDDD-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier>"
                "</a:ReferenceProperties>");
  EXPECT_STR(parse_ok(props).identifier.c_str(), "CCCCDDDD-5F3D-4CD7-A644-F6B69E57C1C1");
}

Test(parse, prefixes_do_not_matter)
{
  std::string xml =
      R"(<env:Envelope xmlns:env="http://www.w3.org/2003/05/soap-envelope"><env:Header>)"
      R"(<Action xmlns="http://schemas.xmlsoap.org/ws/2004/08/addressing">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</Action>)"
      R"(<x:MessageID xmlns:x="http://schemas.xmlsoap.org/ws/2004/08/addressing">uuid:abc-lower</x:MessageID>)"
      R"(<ev:Identifier xmlns:ev="http://schemas.xmlsoap.org/ws/2004/08/eventing">ID-1</ev:Identifier>)"
      R"(<a:AckRequested xmlns:a="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"/>)"
      R"(<w:Action xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">not-the-action</w:Action>)"
      R"(</env:Header><env:Body><ws:Events xmlns:ws="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd">)"
      R"(<ws:Event><![CDATA[<Event/>]]></ws:Event><Event><![CDATA[ignored: no namespace]]></Event></ws:Events></env:Body></env:Envelope>)";
  Message m = parse_ok(xml);
  cr_assert_eq(m.action, Action::Events);
  EXPECT_STR(m.message_id.c_str(), "uuid:abc-lower");
  EXPECT_STR(m.identifier.c_str(), "ID-1");
  cr_assert(m.ack_requested);
  cr_assert_eq(m.events.size(), 1u);
  EXPECT_STR(m.events[0].c_str(), "<Event/>");
}

// ================================================================================================
// Performance: a ~500 KB Events envelope built from real events.

Test(performance, events_envelope_500k)
{
  std::ifstream in(WEC_TEST_DATA_DIR "/events-permissive.xml");
  cr_assert(in.good(), "cannot open test data");
  std::vector<std::string> events;
  std::string line;
  size_t total = 0;
  while (total < 500 * 1024 - 2000 && std::getline(in, line))
    {
      if (line.empty() || line.size() > 4000)
        continue;
      total += line.size() + 100;
      events.push_back(line);
    }
  std::string xml = events_envelope(events);
  std::string body = wec::codec::encode_utf16le_with_bom(xml);

  Message m;
  std::string error;
  cr_assert(parse_message(xml, m, error), "%s", error.c_str());
  cr_assert_eq(m.events.size(), events.size());
  for (size_t i = 0; i < events.size(); ++i)
    cr_assert(m.events[i] == events[i], "event %zu differs", i);

  // Median thread CPU time of many rounds, so that a busy machine (parallel builds) does not make
  // the test flaky.
  const int rounds = 60;
  auto cpu_ms = [] {
    timespec ts{};
    clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
    return ts.tv_sec * 1e3 + ts.tv_nsec / 1e6;
  };
  auto median_ms = [&](auto &&work) {
    std::vector<double> times;
    for (int i = 0; i < rounds; ++i)
      {
        double start = cpu_ms();
        work();
        times.push_back(cpu_ms() - start);
      }
    std::sort(times.begin(), times.end());
    return times[times.size() / 2];
  };
  double parse_ms = median_ms([&] {
    Message again;
    cr_assert(parse_message(xml, again, error));
  });
  std::string utf8;
  double both_ms = median_ms([&] {
    Message again;
    cr_assert(wec::codec::decode_body(body, utf8, error));
    cr_assert(parse_message(utf8, again, error));
  });

  std::fprintf(stderr,
               "Events envelope: %zu bytes UTF-8 (%zu bytes UTF-16), %zu events: parse %.3f ms, decode+parse %.3f ms "
               "(median CPU time)\n",
               xml.size(), body.size(), events.size(), parse_ms, both_ms);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  cr_assert_lt(parse_ms, 50.0); // instrumented build: only catch pathological behaviour
#else
  cr_assert_lt(parse_ms, 5.0);
#endif
}
