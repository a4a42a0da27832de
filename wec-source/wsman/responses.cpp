// The SOAP responses of the collector, written as compact strings in the exact shape Windows
// WEC uses (the published Windows capture): prefixes s a n w p e, no whitespace between elements.
#include "responses.hpp"

#include <openssl/rand.h>

#include <random>

namespace wec::wsman {

namespace {

constexpr const char *kAnonymous = "http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous";

constexpr const char *kXmlnsS = " xmlns:s=\"http://www.w3.org/2003/05/soap-envelope\"";
constexpr const char *kXmlnsA = " xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\"";
constexpr const char *kXmlnsN = " xmlns:n=\"http://schemas.xmlsoap.org/ws/2004/09/enumeration\"";
constexpr const char *kXmlnsE = " xmlns:e=\"http://schemas.xmlsoap.org/ws/2004/08/eventing\"";
constexpr const char *kXmlnsW = " xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"";
constexpr const char *kXmlnsP = " xmlns:p=\"http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd\"";

void append_escaped(std::string &out, std::string_view text)
{
  for (char c : text)
    {
      switch (c)
        {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\t': out += "&#9;"; break;
        case '\n': out += "&#10;"; break;
        case '\r': out += "&#13;"; break;
        default: out += c; break;
        }
    }
}

// Appends <tag>escaped text</tag>.
void element(std::string &out, const char *tag, std::string_view text)
{
  out += '<';
  out += tag;
  out += '>';
  append_escaped(out, text);
  out += "</";
  out += tag;
  out += '>';
}

void envelope_open(std::string &out, std::string_view lang, const char *namespaces)
{
  out += "<s:Envelope xml:lang=\"";
  append_escaped(out, lang);
  out += '"';
  out += namespaces;
  out += '>';
}

// Response header common part: Action, MessageID, To, [OperationID], SequenceId, RelatesTo.
void response_header(std::string &out, const char *action, const Message &request, bool to_before_operation)
{
  out += "<s:Header>";
  element(out, "a:Action", action);
  element(out, "a:MessageID", new_message_id());
  if (to_before_operation)
    element(out, "a:To", kAnonymous);
  if (!request.operation_id.empty())
    {
      out += "<p:OperationID s:mustUnderstand=\"false\">";
      append_escaped(out, request.operation_id);
      out += "</p:OperationID>";
    }
  out += "<p:SequenceId>1</p:SequenceId>";
  if (!to_before_operation)
    element(out, "a:To", kAnonymous);
  element(out, "a:RelatesTo", request.message_id);
  out += "</s:Header>";
}

void locale_elements(std::string &out, const SubscriptionOffer &offer)
{
  if (!offer.policy.locale.empty())
    {
      out += "<w:Locale xml:lang=\"";
      append_escaped(out, offer.policy.locale);
      out += "\" s:mustUnderstand=\"false\" />";
    }
  if (!offer.policy.data_locale.empty())
    {
      out += "<p:DataLocale xml:lang=\"";
      append_escaped(out, offer.policy.data_locale);
      out += "\" s:mustUnderstand=\"false\" />";
    }
}

void address_and_reference(std::string &out, const SubscriptionOffer &offer)
{
  element(out, "a:Address", offer.delivery_address);
  out += "<a:ReferenceProperties>";
  element(out, "e:Identifier", offer.identifier);
  out += "</a:ReferenceProperties>";
}

void subscribe_envelope(std::string &out, const SubscriptionOffer &offer)
{
  out += "<s:Envelope";
  out += kXmlnsS;
  out += kXmlnsA;
  out += kXmlnsE;
  out += kXmlnsN;
  out += kXmlnsW;
  out += kXmlnsP;
  out += '>';

  // Header
  out += "<s:Header>";
  element(out, "a:To", kAnonymous);
  out += "<w:ResourceURI s:mustUnderstand=\"true\">http://schemas.microsoft.com/wbem/wsman/1/windows/EventLog"
         "</w:ResourceURI>";
  out += "<a:ReplyTo><a:Address s:mustUnderstand=\"true\">";
  out += kAnonymous;
  out += "</a:Address></a:ReplyTo>";
  out += "<a:Action s:mustUnderstand=\"true\">http://schemas.xmlsoap.org/ws/2004/08/eventing/Subscribe</a:Action>";
  out += "<w:MaxEnvelopeSize s:mustUnderstand=\"true\">";
  out += std::to_string(offer.policy.max_envelope_size);
  out += "</w:MaxEnvelopeSize>";
  element(out, "a:MessageID", new_message_id());
  locale_elements(out, offer);
  out += "<p:OperationID s:mustUnderstand=\"false\">";
  out += new_message_id();
  out += "</p:OperationID>";
  out += "<p:SequenceId s:mustUnderstand=\"false\">1</p:SequenceId>";
  out += "<w:OptionSet xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\">";
  out += "<w:Option Name=\"SubscriptionName\">";
  append_escaped(out, offer.policy.name);
  out += "</w:Option>";
  // Without the Compression option Windows sends uncompressed bodies.
  if (offer.compression)
    out += "<w:Option Name=\"Compression\">SLDC</w:Option>";
  out += "<w:Option Name=\"CDATA\" xsi:nil=\"true\"/>";
  out += offer.policy.rendered_text ? "<w:Option Name=\"ContentFormat\">RenderedText</w:Option>"
                                    : "<w:Option Name=\"ContentFormat\">Raw</w:Option>";
  if (offer.policy.ignore_channel_error)
    out += "<w:Option Name=\"IgnoreChannelError\" xsi:nil=\"true\"/>";
  if (offer.policy.read_existing_events)
    out += "<w:Option Name=\"ReadExistingEvents\" xsi:nil=\"true\"/>";
  out += "</w:OptionSet>";
  out += "</s:Header>";

  // Body
  out += "<s:Body><e:Subscribe>";
  out += "<e:EndTo>";
  address_and_reference(out, offer);
  out += "</e:EndTo>";
  out += "<e:Delivery Mode=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/Events\">";
  out += "<w:Heartbeats>PT";
  out += std::to_string(offer.policy.heartbeat_seconds);
  out += ".000S</w:Heartbeats>";
  out += "<e:NotifyTo>";
  address_and_reference(out, offer);
  out += "<c:Policy xmlns:c=\"http://schemas.xmlsoap.org/ws/2002/12/policy\" "
         "xmlns:auth=\"http://schemas.microsoft.com/wbem/wsman/1/authentication\">"
         "<c:ExactlyOne><c:All>";
  if (offer.auth == AuthProfile::HttpsMutual)
    {
      out += "<auth:Authentication Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/https/mutual\">"
             "<auth:ClientCertificate>";
      for (const std::string &thumbprint : offer.issuer_thumbprints)
        {
          out += "<auth:Thumbprint Role=\"issuer\">";
          append_escaped(out, thumbprint);
          out += "</auth:Thumbprint>";
        }
      out += "</auth:ClientCertificate></auth:Authentication>";
    }
  else
    {
      out += "<auth:Authentication "
             "Profile=\"http://schemas.dmtf.org/wbem/wsman/1/wsman/secprofile/http/spnego-kerberos\">"
             "</auth:Authentication>";
    }
  out += "</c:All></c:ExactlyOne></c:Policy>";
  out += "</e:NotifyTo>";
  out += "<w:ConnectionRetry Total=\"";
  out += std::to_string(offer.policy.retry_count);
  out += "\">PT";
  out += std::to_string(offer.policy.retry_interval_seconds);
  out += ".0S</w:ConnectionRetry>";
  out += "<w:MaxTime>PT";
  out += std::to_string(offer.policy.max_time_seconds);
  out += ".000S</w:MaxTime>";
  if (offer.policy.max_elements)
    {
      out += "<w:MaxElements>";
      out += std::to_string(*offer.policy.max_elements);
      out += "</w:MaxElements>";
    }
  out += "<w:MaxEnvelopeSize Policy=\"Notify\">";
  out += std::to_string(offer.policy.max_envelope_size);
  out += "</w:MaxEnvelopeSize>";
  locale_elements(out, offer);
  out += "<w:ContentEncoding>UTF-16</w:ContentEncoding>";
  out += "</e:Delivery>";

  out += "<w:Filter Dialect=\"http://schemas.microsoft.com/win/2004/08/events/eventquery\">";
  out += offer.policy.query; // XML already
  out += "</w:Filter>";
  if (!offer.bookmark_xml.empty())
    {
      out += "<w:Bookmark>";
      out += offer.bookmark_xml; // XML already (stored verbatim from the client)
      out += "</w:Bookmark>";
    }
  else if (offer.policy.read_existing_events)
    out += "<w:Bookmark>http://schemas.dmtf.org/wbem/wsman/1/wsman/bookmark/earliest</w:Bookmark>";
  out += "<w:SendBookmarks/>";
  out += "</e:Subscribe></s:Body></s:Envelope>";
}

std::string response_lang(const Message &request)
{
  return request.locale.empty() ? std::string("en-US") : request.locale;
}

} // namespace

std::string xml_escape(std::string_view text)
{
  std::string out;
  out.reserve(text.size() + 16);
  append_escaped(out, text);
  return out;
}

std::string new_message_id()
{
  unsigned char b[16];
  if (RAND_bytes(b, sizeof b) != 1)
    {
      // Extremely unlikely; fall back to the OS generator so that ids stay unique.
      static thread_local std::random_device device;
      for (unsigned char &byte : b)
        byte = static_cast<unsigned char>(device());
    }
  b[6] = static_cast<unsigned char>((b[6] & 0x0F) | 0x40); // version 4
  b[8] = static_cast<unsigned char>((b[8] & 0x3F) | 0x80); // RFC 4122 variant
  static constexpr char hex[] = "0123456789ABCDEF";
  std::string out = "uuid:";
  out.reserve(5 + 36);
  for (int i = 0; i < 16; ++i)
    {
      if (i == 4 || i == 6 || i == 8 || i == 10)
        out += '-';
      out += hex[b[i] >> 4];
      out += hex[b[i] & 0x0F];
    }
  return out;
}

std::string build_enumerate_response(const Message &request, const std::vector<SubscriptionOffer> &offers)
{
  std::string out;
  size_t estimate = 1024;
  for (const auto &offer : offers)
    estimate += 3072 + offer.policy.query.size() + offer.bookmark_xml.size();
  out.reserve(estimate);

  std::string namespaces = std::string(kXmlnsS) + kXmlnsA + kXmlnsN + kXmlnsW + kXmlnsP;
  envelope_open(out, response_lang(request), namespaces.c_str());
  response_header(out, "http://schemas.xmlsoap.org/ws/2004/09/enumeration/EnumerateResponse", request, true);
  out += "<s:Body><n:EnumerateResponse><n:EnumerationContext></n:EnumerationContext><w:Items>";
  for (const auto &offer : offers)
    {
      out += "<m:Subscription xmlns:m=\"http://schemas.microsoft.com/wbem/wsman/1/subscription\">";
      out += "<m:Version>uuid:";
      append_escaped(out, offer.version);
      out += "</m:Version>";
      subscribe_envelope(out, offer);
      out += "</m:Subscription>";
    }
  out += "</w:Items><w:EndOfSequence/></n:EnumerateResponse></s:Body></s:Envelope>";
  return out;
}

std::string build_ack(const Message &request)
{
  std::string out;
  out.reserve(1024);
  std::string namespaces = std::string(kXmlnsS) + kXmlnsA + kXmlnsW + kXmlnsP;
  envelope_open(out, response_lang(request), namespaces.c_str());
  response_header(out, "http://schemas.dmtf.org/wbem/wsman/1/wsman/Ack", request, false);
  out += "<s:Body></s:Body></s:Envelope>";
  return out;
}

} // namespace wec::wsman
