// Shared by the test_wsman_*.cpp unit tests: the requests Windows sends, helpers that parse them,
// and an XPath view of the XML we build. (wsman-envelopes.hpp holds the short envelopes of the
// engine tests.)
#pragma once

#include <criterion/criterion.h>

#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xpath.h>
#include <libxml/xpathInternals.h>

#include <string>
#include <vector>

#include "wsman/message.hpp"

// ---- The envelopes of wef-protocol.md §1.3, byte for byte where the capture is known ----------

inline const std::string kEnumerate =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:n="http://schemas.xmlsoap.org/ws/2004/09/enumeration" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd" xmlns:b="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd"><s:Header><a:To>http://srv.windomain.local:5985/wsman/SubscriptionManager/WEC</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/SubscriptionManager/Subscription</w:ResourceURI><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:E9802257-6A7D-4C0D-BFA4-E81C7B1C447E</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:D25DD033-C406-44AB-8443-85E1BC794F10</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout></s:Header><s:Body><n:Enumerate><w:OptimizeEnumeration/><w:MaxElements>32000</w:MaxElements></n:Enumerate></s:Body></s:Envelope>)";

inline const std::string kEnd =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:To><w:ResourceURI s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/FullDuplex</w:ResourceURI><a:Action s:mustUnderstand="true">http://schemas.microsoft.com/wbem/wsman/1/wsman/End</a:Action><a:MessageID>uuid:5A622A71-B73A-426E-B1CB-048A6079EB23</a:MessageID><p:OperationID>uuid:03A3D1BB-9B16-4847-9F04-C9A8ED38E1E4</p:OperationID></s:Header><s:Body></s:Body></s:Envelope>)";

inline const std::string kHeartbeat =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://srv.windomain.local:5985/wsman/subscriptions/B6BDBB59-FB07-4EE5-841F-EBEC9D67CDD4/1</a:To><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:EEC04F74-A27D-4C3A-AEF5-BC5BF54359BA</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:981C530F-BE2A-4AAB-BACB-6FB4CD1A14AB</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:EA2EE566-2CC1-49A0-A726-BCE7DC356E22</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT60.000S</w:OperationTimeout><e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">219C5353-5F3D-4CD7-A644-F6B69E57C1C1</e:Identifier><w:AckRequested/></s:Header><s:Body><w:Events></w:Events></s:Body></s:Envelope>)";

inline const std::string kEvent1 =
    R"(<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider Name='Microsoft-Windows-WinRM' Guid='{a7975c8f-ac13-49f1-87da-5a984a4ab417}'/><EventID>254</EventID><Version>0</Version><Level>4</Level><Task>10</Task><Opcode>1</Opcode><Keywords>0x4000000000000004</Keywords><TimeCreated SystemTime='2022-09-21T14:48:21.6986159Z'/><EventRecordID>149141</EventRecordID><Correlation ActivityID='{cbb1e2a6-cdbd-0002-4ae4-b1cbbdcdd801}'/><Execution ProcessID='1204' ThreadID='3384'/><Channel>Microsoft-Windows-WinRM/Operational</Channel><Computer>win10.windomain.local</Computer><Security UserID='S-1-5-20'/></System><EventData><Data Name='operationName'>Enumeration</Data></EventData><RenderingInfo Culture='en-US'><Message>Activity Transfer &amp; "quotes" <not-a-tag></Message><Level>Information</Level><Task>Activity Transfer</Task><Opcode>Start</Opcode><Keywords><Keyword>Client</Keyword></Keywords></RenderingInfo></Event>)";

// Japanese RenderingInfo, a tab, a CR/LF pair and a non-BMP character.
inline const std::string kEvent2 =
    "<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider "
    "Name='Microsoft-Windows-WinRM' "
    "Guid='{a7975c8f-ac13-49f1-87da-5a984a4ab417}'/><EventID>161</EventID><Version>0</Version><Level>2</Level>"
    "<TimeCreated SystemTime='2022-09-21T14:48:22.0000001Z'/><EventRecordID>149161</EventRecordID>"
    "<Channel>Microsoft-Windows-WinRM/Operational</Channel><Computer>win10.windomain.local</Computer></System>"
    "<EventData><Data Name='authFailureMessage'>line1\r\nline2\tx \xF0\xA0\xAE\xB7</Data></EventData>"
    "<RenderingInfo Culture='ja-JP'><Message>\xE3\x82\xA2\xE3\x82\xAB\xE3\x82\xA6\xE3\x83\xB3\xE3\x83\x88</Message>"
    "</RenderingInfo></Event>";

inline const std::string kBookmarkList =
    R"(<BookmarkList><Bookmark Channel="Microsoft-Windows-WinRM/Operational" RecordId="149161" IsCurrent="true"/></BookmarkList>)";

inline std::string events_envelope(const std::vector<std::string> &events, const std::string &bookmark = kBookmarkList)
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

inline const std::string kSubscriptionEnd =
    R"(<s:Envelope xmlns:s="http://www.w3.org/2003/05/soap-envelope" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns:p="http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd"><s:Header><a:To>http://wec.windomain.local:5985/wsman/subscriptions/0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</a:To><m:MachineID xmlns:m="http://schemas.microsoft.com/wbem/wsman/1/machineid" s:mustUnderstand="false">win10.windomain.local</m:MachineID><a:ReplyTo><a:Address s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><a:Action s:mustUnderstand="true">http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd</a:Action><w:MaxEnvelopeSize s:mustUnderstand="true">512000</w:MaxEnvelopeSize><a:MessageID>uuid:1B7E3F22-9A1C-4D6E-8F2A-5C3B4D6E7F80</a:MessageID><w:Locale xml:lang="en-US" s:mustUnderstand="false" /><p:DataLocale xml:lang="en-US" s:mustUnderstand="false" /><p:SessionId s:mustUnderstand="false">uuid:2C8F4A33-AB2D-4E7F-9A3B-6D4C5E7F8091</p:SessionId><p:OperationID s:mustUnderstand="false">uuid:3D9A5B44-BC3E-4F80-AB4C-7E5D6F8091A2</p:OperationID><p:SequenceId s:mustUnderstand="false">1</p:SequenceId><w:OperationTimeout>PT0.500S</w:OperationTimeout><e:Identifier xmlns:e="http://schemas.xmlsoap.org/ws/2004/08/eventing">0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</e:Identifier><w:AckRequested/></s:Header><s:Body><e:SubscriptionEnd><e:SubscriptionManager><a:Address>http://wec.windomain.local:5985/wsman/subscriptions/0C98CAE1-5B2C-4F7E-9C39-3E8F1A2B4C5D</a:Address><a:ReferenceProperties><e:Identifier>820FEC3F-1A2B-4C3D-9E8F-A1B2C3D4E5F6</e:Identifier></a:ReferenceProperties></e:SubscriptionManager><e:Status>http://schemas.xmlsoap.org/ws/2004/08/eventing/SourceCancelling</e:Status><f:WSManFault xmlns:f="http://schemas.microsoft.com/wbem/wsman/1/wsmanfault" Code="1717" Machine="win10.windomain.local"><f:Message><f:ProviderFault provider="Unknown provider" path="Unknown path"><t:ProviderError xmlns:t="http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog">Windows Event Forward Plugin failed
   to read   events.</t:ProviderError></f:ProviderFault></f:Message></f:WSManFault></e:SubscriptionEnd></s:Body></s:Envelope>)";

inline wec::wsman::Message parse_ok(const std::string &xml)
{
  wec::wsman::Message m;
  std::string error;
  bool ok = wec::wsman::parse_message(xml, m, error);
  cr_assert(ok, "parse failed: %s", error.c_str());
  cr_assert(error.empty());
  return m;
}

inline std::string parse_error(const std::string &xml,
                               const wec::wsman::ParseLimits &limits = wec::wsman::ParseLimits{})
{
  wec::wsman::Message m;
  std::string error;
  bool ok = wec::wsman::parse_message(xml, m, error, limits);
  cr_assert_not(ok, "parse unexpectedly succeeded");
  cr_assert_not(error.empty());
  cr_assert(error.find('\n') == std::string::npos, "multi-line error: %s", error.c_str());
  return error;
}

inline bool starts_with(const std::string &s, const std::string &prefix)
{
  return s.compare(0, prefix.size(), prefix) == 0;
}

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
