// Unit tests for wec::wsman: the responses we build (message ids, Ack, EnumerateResponse with the
// embedded Subscribe of each offer).
#include <criterion/criterion.h>

#include "expect.hpp"
#include "wsman-captures.hpp"

#include <set>
#include <string>

#include "wsman/message.hpp"
#include "wsman/responses.hpp"

using namespace wec::wsman;

namespace {

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
