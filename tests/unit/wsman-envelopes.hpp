// WS-Management envelopes as a Windows forwarder sends them (UTF-8 here; the tests encode them).
#pragma once

#include <string>
#include <vector>

inline const char *kEnvelopeStart = "<s:Envelope xmlns:s='http://www.w3.org/2003/05/soap-envelope' "
                                    "xmlns:a='http://schemas.xmlsoap.org/ws/2004/08/addressing' "
                                    "xmlns:e='http://schemas.xmlsoap.org/ws/2004/08/eventing' "
                                    "xmlns:n='http://schemas.xmlsoap.org/ws/2004/09/enumeration' "
                                    "xmlns:w='http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd'><s:Header>";

inline std::string envelope(const std::string &action, const std::string &message_id, const std::string &extra_headers,
                            const std::string &body)
{
  return std::string(kEnvelopeStart) + "<a:Action>" + action + "</a:Action><a:MessageID>" + message_id +
         "</a:MessageID>" + extra_headers + "</s:Header><s:Body>" + body + "</s:Body></s:Envelope>";
}

inline std::string enumerate_envelope(const std::string &message_id)
{
  return envelope("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", message_id, "", "<n:Enumerate/>");
}

// An Events batch of these <Event> documents, acknowledging up to `bookmark_record` of Security.
inline std::string events_envelope(const std::string &message_id, const std::vector<std::string> &events,
                                   const std::string &bookmark_record)
{
  std::string items;
  for (const auto &event : events)
    items += "<w:Event Action='http://schemas.dmtf.org/wbem/wsman/1/wsman/Event'><![CDATA[" + event + "]]></w:Event>";
  return envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/Events", message_id,
                  "<w:Bookmark><BookmarkList><Bookmark Channel='Security' RecordId='" + bookmark_record +
                      "'/></BookmarkList></w:Bookmark><w:AckRequested/>",
                  "<w:Events>" + items + "</w:Events>");
}
