// Unit tests for wec::wsman: parsing the SOAP requests Windows sends and building our responses.
#include <criterion/criterion.h>

#include "expect.hpp"

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <ctime>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "codec/utf16.hpp"
#include "wsman/bookmark.hpp"
#include "wsman/message.hpp"
#include "wsman/responses.hpp"

using namespace wec::wsman;

namespace {

// ---- The envelopes of wef-protocol.md §1.3, byte for byte where the capture is known ----------

const std::string kEnumerate =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"><s:Header><a:To>http://srv.windomain.local:5985/wsman/SubscriptionManager/WEC</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:D25DD033-C406-44AB-8443-85E1BC794F10</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body></s:Envelope>)";

const std::string kEnd =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex</w:ResourceURI><a:Action s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/End</a:Action><a:MessageID>uuid:5A622A71-B73A-426E-B1CB-048A6079EB23</a:MessageID><p:OperationID>uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4</p:OperationID></s:Header><s:Body></s:Body></s:Envelope>)";

const std::string kHeartbeat =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1</a:To><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout><e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">219C5353-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier><w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>)";

const std::string kEvent1 =
    R"(<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-WinRM' Guid='{a7975c8f-ac13-49f1-87da-5a984a4ab417}'/><EventID>254</EventID><Version>0</Version><Level>4</Level><Task>10</Task><Opcode>1</Opcode><Keywords>0x4000000000000004</Keywords><TimeCreated SystemTime='2022-09-21T14:48:21.6986159Z'/><EventRecordID>149141</EventRecordID><Correlation ActivityID='{cbb1e2a6-cdbd-0002-4ae4-b1cbbdcdd801}'/><Execution ProcessID='1204' ThreadID='3384'/><Channel>Microsoft-Windows-WinRM/Operational</Channel><Computer>win10.windomain.local</Computer><Security UserID='S-1-5-20'/></System><EventData><Data Name='operationName'>Enumeration</Data></EventData><RenderingInfo Culture='en-US'><Message>Activity Transfer &amp; "quotes" <not-a-tag></Message><Level>Information</Level><Task>Activity Transfer</Task><Opcode>Start</Opcode><Keywords><Keyword>Client</Keyword></Keywords></RenderingInfo></Event>)";

// Japanese RenderingInfo, a tab, a CR/LF pair and a non-BMP character.
const std::string kEvent2 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider "
    "Name='Microsoft-Windows-WinRM' "
    "Guid='{a7975c8f-ac13-49f1-87da-5a984a4ab417}'/><EventID>161</EventID><Version>0</Version><Level>2</Level>"
    "<TimeCreated SystemTime='2022-09-21T14:48:22.0000001Z'/><EventRecordID>149161</EventRecordID>"
    "<Channel>Microsoft-Windows-WinRM/Operational</Channel><Computer>win10.windomain.local</Computer></System>"
    "<EventData><Data Name='authFailureMessage'>line1\r\nline2\tx \xF0\xA0\xAE\xB7</Data></EventData>"
    "<RenderingInfo Culture='ja-JP'><Message>\xE3\x82\xA2\xE3\x82\xAB\xE3\x82\xA6\xE3\x83\xB3\xE3\x83\x88</Message>"
    "</RenderingInfo></Event>";

const std::string kBookmarkList =
    R"(<BookmarkList><Bookmark Channel="Microsoft-Windows-WinRM/Operational" RecordId="149161" IsCurrent="true"/></BookmarkList>)";

std::string events_envelope(const std::vector<std::string> &events, const std::string &bookmark = kBookmarkList)
{
  std::string out =
      R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1</a:To><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Events</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:7DC1B2A4-0B45-4E45-9A9F-3C1D2E5F6A7B</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:5E4A2F10-1D2B-4C3D-8E9F-0A1B2C3D4E5F</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout><e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">219C5353-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier><w:Bookmark>)";
  out += bookmark;
  out += R"(</w:Bookmark><w:AckRequested/></s:Header><s:Body><w:Events>)";
  for (const auto &event : events)
    {
      out += R"(<w:Event Action="http://schemas.dmtf.org/wbem/wsman/1/wsman/Event"><![CDATA[)";
      out += event;
      out += "]]></w:Event>";
    }
  out += "</w:Events></s:Body></s:Envelope>";
  return out;
}

const std::string kSubscriptionEnd =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://wec.windomain.local:5985/wsman/subscriptions/0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</a:To><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:1B7E3F22-9A1C-4D6E-8F2A-5C3B4D6E7F80</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:2C8F4A33-AB2D-4E7F-9A3B-6D4C5E7F8091</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:3D9A5B44-BC3E-4F80-AB4C-7E5D6F8091A2</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT0.500S</w:OperationTimeout><e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</e:Identifier><w:AckRequested/></s:Header><s:Body><e:SubscriptionEnd><e:SubscriptionManager><a:Address>http://wec.windomain.local:5985/wsman/subscriptions/0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</a:Address><a:ReferenceProperties><e:Identifier>820FEC3F-1A2B-4C3D-9E8F-A1B2C3D4E5F6</e:Identifier></a:ReferenceProperties></e:SubscriptionManager><e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling</e:Status><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="1717" Machine="win10.windomain.local"><f:Message><f:ProviderFault provider="Unknown provider" path="Unknown path"><t:ProviderError xmlns:t="http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog">Windows Event Forward Plugin failed
   to read   events.</t:ProviderError></f:ProviderFault></f:Message></f:WSManFault></e:SubscriptionEnd></s:Body></s:Envelope>)";

Message parse_ok(const std::string &xml)
{
  Message m;
  std::string error;
  bool ok = parse_message(xml, m, error);
  cr_assert(ok, "parse failed: %s", error.c_str());
  cr_assert(error.empty());
  return m;
}

std::string parse_error(const std::string &xml, const ParseLimits &limits = ParseLimits{})
{
  Message m;
  std::string error;
  bool ok = parse_message(xml, m, error, limits);
  cr_assert_not(ok, "parse unexpectedly succeeded");
  cr_assert_not(error.empty());
  cr_assert(error.find('\n') == std::string::npos, "multi-line error: %s", error.c_str());
  return error;
}

bool starts_with(const std::string &s, const std::string &prefix) { return s.compare(0, prefix.size(), prefix) == 0; }

// ---- libxml2 helpers for checking what we build ------------------------------------------------

struct Doc
{
  xmlDocPtr doc = nullptr;
  xmlXPathContextPtr xpath = nullptr;

  explicit Doc(const std::string &xml)
  {
    doc = xmlReadMemory(xml.data(), static_cast<int>(xml.size()), nullptr, nullptr, XML_PARSE_NONET);
    cr_assert_not_null(doc, "not well-formed XML: %s", xml.c_str());
    xpath = xmlXPathNewContext(doc);
    const char *ns[][2] = {
        {"s", "http://www.w3.org/2003/05/soap-envelope"},
        {"a", "http://schemas.xmlsoap.org/ws/2004/08/addressing"},
        {"n", "http://schemas.xmlsoap.org/ws/2004/09/enumeration"},
        {"e", "http://schemas.xmlsoap.org/ws/2004/08/eventing"},
        {"w", "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd"},
        {"p", "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"},
        {"m", "http://schemas.microsoft.com/wbem/wsman/1/subscription"},
        {"c", "http://schemas.xmlsoap.org/ws/2002/12/policy"},
        {"auth", "http://schemas.microsoft.com/wbem/wsman/1/authentication"},
        {"xsi", "http://www.w3.org/2001/XMLSchema-instance"},
    };
    for (auto &pair : ns)
      xmlXPathRegisterNs(xpath, BAD_CAST pair[0], BAD_CAST pair[1]);
  }
  ~Doc()
  {
    xmlXPathFreeContext(xpath);
    xmlFreeDoc(doc);
  }

  int count(const std::string &expr)
  {
    xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST expr.c_str(), xpath);
    cr_assert_not_null(obj, "bad xpath %s", expr.c_str());
    int n = obj->nodesetval ? obj->nodesetval->nodeNr : 0;
    xmlXPathFreeObject(obj);
    return n;
  }

  std::string string(const std::string &expr)
  {
    xmlXPathObjectPtr obj = xmlXPathEvalExpression(BAD_CAST("string(" + expr + ")").c_str(), xpath);
    cr_assert_not_null(obj, "bad xpath %s", expr.c_str());
    std::string out = obj->stringval ? reinterpret_cast<const char *>(obj->stringval) : "";
    xmlXPathFreeObject(obj);
    return out;
  }
};

SubscriptionOffer sample_offer()
{
  SubscriptionOffer offer;
  offer.policy.name = "Security & <System>";
  offer.version = "219C5353-5F3D-4CD7-A644-F6B69E57C1C1";
  offer.identifier = "B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4";
  offer.delivery_address = "https://wec.windomain.local:5986/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4";
  offer.policy.query =
      R"(<QueryList><Query Id="0"><Select Path="Security">*[System[(Level=1  or Level=2)]]</Select><Select Path="Microsoft-Windows-WinRM/Operational">*</Select></Query></QueryList>)";
  offer.policy.rendered_text = true;
  offer.policy.locale = "en-US";
  offer.policy.data_locale = "fr-FR";
  offer.policy.heartbeat_seconds = 3600;
  offer.policy.retry_interval_seconds = 60;
  offer.policy.retry_count = 5;
  offer.policy.max_time_seconds = 30;
  offer.policy.max_envelope_size = 512000;
  offer.policy.read_existing_events = false;
  offer.policy.ignore_channel_error = true;
  offer.bookmark_xml = kBookmarkList;
  offer.auth = AuthProfile::HttpsMutual;
  offer.issuer_thumbprints = {"0123456789ABCDEF0123456789ABCDEF01234567", "FEDCBA9876543210FEDCBA9876543210FEDCBA98"};
  return offer;
}

// True when `s` at `pos` is an upper-case GUID (8-4-4-4-12 hex digits).
bool is_upper_guid_at(const std::string &s, size_t pos)
{
  if (pos + 36 > s.size())
    return false;
  for (size_t i = 0; i < 36; ++i)
    {
      char c = s[pos + i];
      if (i == 8 || i == 13 || i == 18 || i == 23)
        {
          if (c != '-')
            return false;
        }
      else if (!((c >= '0' && c <= '9') || (c >= 'A' && c <= 'F')))
        return false;
    }
  return true;
}

// Replaces every "uuid:<GUID>" that is a fresh id by a placeholder so shapes can be compared.
std::string mask_ids(const std::string &xml, const std::set<std::string> &keep)
{
  std::string out;
  size_t last = 0, pos;
  while ((pos = xml.find("uuid:", last)) != std::string::npos)
    {
      out.append(xml, last, pos - last);
      if (is_upper_guid_at(xml, pos + 5))
        {
          std::string id = xml.substr(pos, 41);
          out += keep.count(id) ? id : std::string("uuid:X");
          last = pos + 41;
        }
      else
        {
          out += "uuid:";
          last = pos + 5;
        }
    }
  out.append(xml, last, std::string::npos);
  return out;
}

} // namespace

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

Test(parse, events_bookmark_multiple_channels_and_escapes)
{
  std::string bookmark =
      "<BookmarkList Direction=\"backward\">\n  <Bookmark Channel=\"Security\" RecordId=\"1\"/>"
      "<Bookmark Channel=\"A &amp; B &lt;x&gt; &quot;q&quot;\" RecordId=\"18446744073709551615\" IsCurrent=\"true\"/>"
      "</BookmarkList>";
  Message m = parse_ok(events_envelope({kEvent1}, bookmark));
  cr_assert(m.bookmark.has_value());
  Doc again(*m.bookmark);
  cr_assert_eq(again.count("/BookmarkList[@Direction='backward']/Bookmark"), 2);
  EXPECT_STR(again.string("/BookmarkList/Bookmark[2]/@Channel").c_str(), "A & B <x> \"q\"");
  EXPECT_STR(again.string("/BookmarkList/Bookmark[2]/@RecordId").c_str(), "18446744073709551615");
}

Test(parse, bookmark_with_namespace_declared_on_ancestor)
{
  // Prefix declared on the Envelope: the serialised bookmark must declare it itself.
  std::string xml =
      events_envelope({}, "<bm:BookmarkList><bm:Bookmark Channel=\"Security\" bm:RecordId=\"7\"/></bm:BookmarkList>");
  xml.insert(xml.find(" xmlns:s="), " xmlns:bm=\"urn:example:bookmark\"");
  Message m = parse_ok(xml);
  cr_assert(m.bookmark.has_value());
  Doc again(*m.bookmark);
  xmlXPathRegisterNs(again.xpath, BAD_CAST "bm", BAD_CAST "urn:example:bookmark");
  cr_assert_eq(again.count("/bm:BookmarkList/bm:Bookmark[@Channel='Security'][@bm:RecordId='7']"), 1);
}

Test(parse, bookmark_that_is_not_a_bookmark_list_is_refused)
{
  // Text would go back into the next Subscribe: an injected '</w:Bookmark>' once redirected events.
  const char *refused[] = {
      " http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest ",
      "&lt;/w:Bookmark&gt;&lt;w:Injected/&gt;",
      "<BookmarkList/><BookmarkList/>",
      "<Other/>",
      "<BookmarkList/>trailing text",
  };
  for (const char *bookmark : refused)
    {
      std::string error = parse_error(events_envelope({kEvent1}, bookmark));
      cr_assert(error.find("refused bookmark") == 0, "%s: %s", bookmark, error.c_str());
    }
}

Test(parse, bookmark_is_re_serialised_escaped_and_without_comments)
{
  Message m = parse_ok(events_envelope(
      {}, "<BookmarkList><!-- x --><Bookmark Channel='a&lt;/w:Bookmark&gt;' RecordId='1'/>\n</BookmarkList>"));
  cr_assert(m.bookmark.has_value());
  EXPECT_STR(m.bookmark->c_str(),
             "<BookmarkList><Bookmark Channel=\"a&lt;/w:Bookmark&gt;\" RecordId=\"1\"/></BookmarkList>");
}

Test(parse, empty_bookmark_is_no_bookmark) { cr_assert_not(parse_ok(events_envelope({}, "  ")).bookmark.has_value()); }

Test(parse, bookmark_over_the_size_cap_is_refused)
{
  std::string items;
  while (items.size() < kMaxBookmarkBytes)
    items += "<Bookmark Channel=\"Microsoft-Windows-Sysmon/Operational\" RecordId=\"123456789\"/>";
  std::string error = parse_error(events_envelope({}, "<BookmarkList>" + items + "</BookmarkList>"));
  cr_assert(error.find("larger than 65536 bytes") != std::string::npos, "%s", error.c_str());
}

Test(bookmark, stored_text_is_checked_again)
{
  std::string out, error;
  cr_assert_eq(canonical_bookmark("<BookmarkList><Bookmark RecordId='5'/></BookmarkList>", out, error),
               BookmarkResult::Valid);
  EXPECT_STR(out.c_str(), "<BookmarkList><Bookmark RecordId=\"5\"/></BookmarkList>");
  cr_assert_eq(canonical_bookmark("</w:Bookmark><w:Injected/>", out, error), BookmarkResult::Refused);
  cr_assert_eq(canonical_bookmark("http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest", out, error),
               BookmarkResult::Refused);
  cr_assert_eq(canonical_bookmark("<!DOCTYPE x><BookmarkList/>", out, error), BookmarkResult::Refused);
  std::string crowded = "<BookmarkList><Bookmark";
  for (int i = 0; i < 65; ++i)
    crowded += " a" + std::to_string(i) + "='1'";
  cr_assert_eq(canonical_bookmark(crowded + "/></BookmarkList>", out, error), BookmarkResult::Refused);
  EXPECT_STARTS(error, "more than 64 attributes on one element");
  cr_assert_eq(canonical_bookmark(std::string(kMaxBookmarkBytes + 1, ' '), out, error), BookmarkResult::Refused);
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

// ================================================================================================
// Responses

Test(responses, message_id_format)
{
  std::set<std::string> seen;
  for (int i = 0; i < 1000; ++i)
    {
      std::string id = new_message_id();
      cr_assert(id.size() == 41 && starts_with(id, "uuid:") && is_upper_guid_at(id, 5), "bad id %s", id.c_str());
      cr_assert_eq(id[19], '4', "not a v4 UUID: %s", id.c_str());
      cr_assert(id[24] == '8' || id[24] == '9' || id[24] == 'A' || id[24] == 'B', "bad variant: %s", id.c_str());
      seen.insert(id);
    }
  cr_assert_eq(seen.size(), 1000u);
}

Test(responses, xml_escape)
{
  EXPECT_STR(xml_escape("a&b<c>d\"e'f").c_str(), "a&amp;b&lt;c&gt;d&quot;e'f");
  EXPECT_STR(xml_escape("\xE6\x97\xA5\r").c_str(), "\xE6\x97\xA5&#13;");
}

Test(responses, ack_shape)
{
  Message request = parse_ok(kHeartbeat);
  std::string ack = build_ack(request);
  std::string expected =
      R"(<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack</a:Action><a:MessageID>uuid:X</a:MessageID><p:OperationID s:mustUnderstand="false">uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22</p:OperationID><p:SequenceId>1</p:SequenceId><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><a:RelatesTo>uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:RelatesTo></s:Header><s:Body></s:Body></s:Envelope>)";
  std::string masked = mask_ids(ack, {request.operation_id, request.message_id});
  EXPECT_STR(masked.c_str(), expected.c_str());

  // RelatesTo is the request MessageID byte for byte (case preserved, even lower case).
  Doc doc(ack);
  EXPECT_STR(doc.string("/s:Envelope/s:Header/a:RelatesTo").c_str(), "uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA");
  EXPECT_STR_NE(doc.string("/s:Envelope/s:Header/a:MessageID").c_str(), request.message_id.c_str());

  Message lower = request;
  lower.message_id = "uuid:eec04f74-a27d-4c3a-aef5-bc5bf54359ba";
  lower.operation_id.clear();
  std::string ack2 = build_ack(lower);
  cr_assert(ack2.find("<a:RelatesTo>uuid:eec04f74-a27d-4c3a-aef5-bc5bf54359ba</a:RelatesTo>") != std::string::npos);
  cr_assert(ack2.find("OperationID") == std::string::npos);
  cr_assert(ack2.find("<p:SequenceId>1</p:SequenceId>") != std::string::npos);

  // Our own parser accepts the Ack (unknown action, but a valid envelope).
  Message parsed = parse_ok(ack);
  cr_assert_eq(parsed.action, Action::Unknown);
  EXPECT_STR(parsed.action_uri.c_str(), "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack");
}

Test(responses, enumerate_response_https)
{
  Message request = parse_ok(kEnumerate);
  SubscriptionOffer offer = sample_offer();
  std::string xml = build_enumerate_response(request, {offer});
  cr_assert(xml.find("Compression") == std::string::npos);
  cr_assert(xml.find("> <") == std::string::npos && xml.find(">\n") == std::string::npos);
  cr_assert(starts_with(
      xml,
      R"(<s:Envelope xml:lang="en-US" xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse</a:Action><a:MessageID>uuid:)"));
  cr_assert(
      xml.find(
          R"(</a:MessageID><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><p:OperationID s:mustUnderstand="false">uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4</p:OperationID><p:SequenceId>1</p:SequenceId><a:RelatesTo>uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E</a:RelatesTo></s:Header><s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items><m:Subscription xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/subscription"><m:Version>uuid:219C5353-5F3D-4CD7-A644-F6B69E57C1C1</m:Version><s:Envelope )") !=
      std::string::npos);
  cr_assert(xml.find(R"(</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>)") ==
            xml.size() -
                std::string(R"(</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>)").size());
  // Filter and bookmark are inserted verbatim.
  cr_assert(xml.find("<w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\">" +
                     offer.policy.query + "</w:Filter><w:Bookmark>" + kBookmarkList +
                     "</w:Bookmark><w:SendBookmarks/></e:Subscribe>") != std::string::npos);
  cr_assert(
      xml.find(
          R"(<w:ConnectionRetry Total="5">PT60.0S</w:ConnectionRetry><w:MaxTime>PT30.000S</w:MaxTime><w:MaxEnvelopeSize Policy="Notify">512000</w:MaxEnvelopeSize><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="fr-FR" s:mustUnderstand="false" /><w:ContentEncoding>UTF-16</w:ContentEncoding></e:Delivery>)") !=
      std::string::npos);
  cr_assert(
      xml.find(
          R"(<auth:Authentication Profile="http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual"><auth:ClientCertificate><auth:Thumbprint Role="issuer">0123456789ABCDEF0123456789ABCDEF01234567</auth:Thumbprint><auth:Thumbprint Role="issuer">FEDCBA9876543210FEDCBA9876543210FEDCBA98</auth:Thumbprint></auth:ClientCertificate></auth:Authentication>)") !=
      std::string::npos);

  Doc doc(xml);
  const std::string sub = "/s:Envelope/s:Body/n:EnumerateResponse/w:Items/m:Subscription";
  const std::string env = sub + "/s:Envelope";
  const std::string subscribe = env + "/s:Body/e:Subscribe";
  cr_assert_eq(doc.count(sub), 1);
  EXPECT_STR(doc.string("/s:Envelope/@xml:lang").c_str(), "en-US");
  EXPECT_STR(doc.string("/s:Envelope/s:Header/a:RelatesTo").c_str(), request.message_id.c_str());
  EXPECT_STR(doc.string("/s:Envelope/s:Header/p:OperationID").c_str(), request.operation_id.c_str());
  cr_assert_eq(doc.count("/s:Envelope/s:Body/n:EnumerateResponse/n:EnumerationContext[not(node())]"), 1);
  cr_assert_eq(doc.count("/s:Envelope/s:Body/n:EnumerateResponse/w:EndOfSequence"), 1);
  EXPECT_STR(doc.string(sub + "/m:Version").c_str(), "uuid:219C5353-5F3D-4CD7-A644-F6B69E57C1C1");
  EXPECT_STR(doc.string(env + "/s:Header/a:Action").c_str(),
             "http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe");
  EXPECT_STR(doc.string(env + "/s:Header/w:ResourceURI").c_str(),
             "http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog");
  EXPECT_STR(doc.string(env + "/s:Header/w:MaxEnvelopeSize").c_str(), "512000");
  EXPECT_STR(doc.string(env + "/s:Header/w:OptionSet/w:Option[@Name='SubscriptionName']").c_str(),
             "Security & <System>");
  EXPECT_STR(doc.string(env + "/s:Header/w:OptionSet/w:Option[@Name='ContentFormat']").c_str(), "RenderedText");
  EXPECT_STR(doc.string(env + "/s:Header/w:OptionSet/w:Option[@Name='CDATA']/@xsi:nil").c_str(), "true");
  cr_assert_eq(doc.count(env + "/s:Header/w:OptionSet/w:Option[@Name='IgnoreChannelError'][@xsi:nil='true']"), 1);
  cr_assert_eq(doc.count(env + "/s:Header/w:OptionSet/w:Option[@Name='ReadExistingEvents']"), 0);
  cr_assert_eq(doc.count(env + "/s:Header/w:OptionSet/w:Option[@Name='Compression']"), 0);
  EXPECT_STR(doc.string(env + "/s:Header/w:Locale/@xml:lang").c_str(), "en-US");
  EXPECT_STR(doc.string(env + "/s:Header/p:DataLocale/@xml:lang").c_str(), "fr-FR");
  EXPECT_STR(doc.string(env + "/s:Header/p:SequenceId").c_str(), "1");
  std::string inner_id = doc.string(env + "/s:Header/a:MessageID");
  std::string inner_op = doc.string(env + "/s:Header/p:OperationID");
  cr_assert(starts_with(inner_id, "uuid:") && inner_id != request.message_id);
  cr_assert(starts_with(inner_op, "uuid:") && inner_op != request.operation_id && inner_op != inner_id);

  for (const char *to : {"/e:EndTo", "/e:Delivery/e:NotifyTo"})
    {
      EXPECT_STR(doc.string(subscribe + to + "/a:Address").c_str(), offer.delivery_address.c_str());
      EXPECT_STR(doc.string(subscribe + to + "/a:ReferenceProperties/e:Identifier").c_str(), offer.identifier.c_str());
    }
  const std::string delivery = subscribe + "/e:Delivery";
  EXPECT_STR(doc.string(delivery + "/@Mode").c_str(), "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events");
  EXPECT_STR(doc.string(delivery + "/w:Heartbeats").c_str(), "PT3600.000S");
  cr_assert_eq(doc.count(delivery + "/e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication"
                                    "[@Profile='http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual']"
                                    "/auth:ClientCertificate/auth:Thumbprint[@Role='issuer']"),
               2);
  cr_assert_eq(doc.count(delivery + "/w:MaxElements"), 0);
  EXPECT_STR(doc.string(delivery + "/w:MaxEnvelopeSize/@Policy").c_str(), "Notify");
  EXPECT_STR(doc.string(delivery + "/w:ContentEncoding").c_str(), "UTF-16");
  cr_assert_eq(doc.count(subscribe + "/w:Filter[@Dialect='http://schemas.microsoft.com/win/2004/08/events/eventquery']"
                                     "/QueryList/Query[@Id='0']/Select"),
               2);
  cr_assert_eq(doc.count(subscribe + "/w:Bookmark/BookmarkList/Bookmark[@RecordId='149161']"), 1);
  cr_assert_eq(doc.count(subscribe + "/w:SendBookmarks"), 1);
  // Element order inside Subscribe: EndTo, Delivery, Filter, Bookmark, SendBookmarks.
  cr_assert_eq(doc.count(subscribe + "/*[1][self::e:EndTo]"), 1);
  cr_assert_eq(doc.count(subscribe + "/*[2][self::e:Delivery]"), 1);
  cr_assert_eq(doc.count(subscribe + "/*[3][self::w:Filter]"), 1);
  cr_assert_eq(doc.count(subscribe + "/*[4][self::w:Bookmark]"), 1);
  cr_assert_eq(doc.count(subscribe + "/*[5][self::w:SendBookmarks]"), 1);
}

Test(responses, enumerate_response_kerberos_earliest_and_several_offers)
{
  Message request = parse_ok(kEnumerate);
  request.operation_id.clear();
  request.locale = "ja-JP";
  SubscriptionOffer a = sample_offer();
  a.auth = AuthProfile::SpnegoKerberos;
  a.bookmark_xml.clear();
  a.policy.read_existing_events = true;
  a.policy.rendered_text = false;
  a.policy.ignore_channel_error = false;
  a.policy.max_elements = 250;
  a.policy.locale.clear();
  a.policy.data_locale.clear();
  a.policy.heartbeat_seconds = 900;
  a.policy.retry_count = 3;
  a.policy.retry_interval_seconds = 120;
  a.policy.max_time_seconds = 900;
  a.policy.max_envelope_size = 153600;
  SubscriptionOffer b = sample_offer();
  b.version = "11111111-2222-3333-4444-555555555555";
  b.identifier = "66666666-7777-8888-9999-000000000000";
  b.bookmark_xml.clear();
  b.policy.read_existing_events = false;

  std::string xml = build_enumerate_response(request, {a, b});
  cr_assert(xml.find("Compression") == std::string::npos);
  cr_assert(xml.find("OperationID s:mustUnderstand=\"false\">uuid:03A3D1BB") == std::string::npos);
  Doc doc(xml);
  EXPECT_STR(doc.string("/s:Envelope/@xml:lang").c_str(), "ja-JP");
  cr_assert_eq(doc.count("/s:Envelope/s:Header/p:OperationID"), 0);
  EXPECT_STR(doc.string("/s:Envelope/s:Header/p:SequenceId").c_str(), "1");
  const std::string subs = "/s:Envelope/s:Body/n:EnumerateResponse/w:Items/m:Subscription";
  cr_assert_eq(doc.count(subs), 2);

  const std::string env_a = subs + "[1]/s:Envelope";
  const std::string del_a = env_a + "/s:Body/e:Subscribe/e:Delivery";
  cr_assert_eq(doc.count(del_a +
                         "/e:NotifyTo/c:Policy/c:ExactlyOne/c:All/auth:Authentication"
                         "[@Profile='http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos']"),
               1);
  cr_assert_eq(doc.count("//auth:Thumbprint"), 2); // only offer b's
  EXPECT_STR(doc.string(env_a + "/s:Body/e:Subscribe/w:Bookmark").c_str(),
             "http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest");
  cr_assert_eq(doc.count(env_a + "/s:Header/w:OptionSet/w:Option[@Name='ReadExistingEvents'][@xsi:nil='true']"), 1);
  cr_assert_eq(doc.count(env_a + "/s:Header/w:OptionSet/w:Option[@Name='IgnoreChannelError']"), 0);
  EXPECT_STR(doc.string(env_a + "/s:Header/w:OptionSet/w:Option[@Name='ContentFormat']").c_str(), "Raw");
  cr_assert_eq(doc.count(env_a + "/s:Header/w:Locale"), 0);
  cr_assert_eq(doc.count(env_a + "/s:Header/p:DataLocale"), 0);
  cr_assert_eq(doc.count(del_a + "/w:Locale"), 0);
  EXPECT_STR(doc.string(del_a + "/w:MaxElements").c_str(), "250");
  EXPECT_STR(doc.string(del_a + "/w:Heartbeats").c_str(), "PT900.000S");
  EXPECT_STR(doc.string(del_a + "/w:ConnectionRetry").c_str(), "PT120.0S");
  EXPECT_STR(doc.string(del_a + "/w:ConnectionRetry/@Total").c_str(), "3");
  EXPECT_STR(doc.string(del_a + "/w:MaxTime").c_str(), "PT900.000S");
  EXPECT_STR(doc.string(del_a + "/w:MaxEnvelopeSize").c_str(), "153600");
  EXPECT_STR(doc.string(env_a + "/s:Header/w:MaxEnvelopeSize").c_str(), "153600");
  cr_assert(xml.find("</w:MaxTime><w:MaxElements>250</w:MaxElements><w:MaxEnvelopeSize Policy=\"Notify\">") !=
            std::string::npos);

  const std::string env_b = subs + "[2]/s:Envelope";
  EXPECT_STR(doc.string(subs + "[2]/m:Version").c_str(), "uuid:11111111-2222-3333-4444-555555555555");
  cr_assert_eq(doc.count(env_b + "/s:Body/e:Subscribe/w:Bookmark"), 0);
  cr_assert_eq(doc.count(env_b + "/s:Body/e:Subscribe/w:SendBookmarks"), 1);
  EXPECT_STR(doc.string(env_b + "/s:Body/e:Subscribe/e:EndTo/a:ReferenceProperties/e:Identifier").c_str(),
             "66666666-7777-8888-9999-000000000000");
  // Every embedded Subscribe has its own fresh MessageID.
  EXPECT_STR_NE(doc.string(env_a + "/s:Header/a:MessageID").c_str(),
                doc.string(env_b + "/s:Header/a:MessageID").c_str());

  // No offers: still a valid, empty enumeration.
  Doc empty(build_enumerate_response(request, {}));
  cr_assert_eq(empty.count("/s:Envelope/s:Body/n:EnumerateResponse/w:Items[not(*)]"), 1);
  cr_assert_eq(empty.count("/s:Envelope/s:Body/n:EnumerateResponse/w:EndOfSequence"), 1);
}

Test(responses, stored_bookmark_round_trips_into_subscribe)
{
  // Events bookmark -> stored string -> next Subscribe, verbatim.
  std::string bookmark = "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"42\" IsCurrent=\"true\"/>"
                         "<Bookmark Channel=\"System\" RecordId=\"7\"/></BookmarkList>";
  Message events = parse_ok(events_envelope({kEvent1}, bookmark));
  SubscriptionOffer offer = sample_offer();
  offer.bookmark_xml = *events.bookmark;
  std::string xml = build_enumerate_response(parse_ok(kEnumerate), {offer});
  cr_assert(xml.find("<w:Bookmark>" + bookmark + "</w:Bookmark>") != std::string::npos);
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
