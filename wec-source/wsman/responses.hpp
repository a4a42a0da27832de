// The SOAP responses the collector sends: EnumerateResponse (one Subscribe per subscription)
// and Ack. Bytes are UTF-8 here; the caller encodes UTF-16LE with BOM.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "message.hpp"
#include "subscriptions/subscription.hpp"

namespace wec::wsman {

enum class AuthProfile
{
  HttpsMutual,    // secprofile/https/mutual with auth:Thumbprint Role="issuer"
  SpnegoKerberos, // secprofile/http/spnego-kerberos
};

// Everything a forwarder needs to create or keep one subscription.
struct SubscriptionOffer
{
  SubscriptionPolicy policy;
  std::string version;          // m:Version GUID, upper case, without "uuid:"
  std::string identifier;       // e:Identifier in ReferenceProperties (subscription GUID)
  std::string delivery_address; // NotifyTo and EndTo a:Address, e.g. https://host:5986/wsman/subscriptions/<GUID>
  bool compression = false;     // advertise SLDC: forwarders then compress their bodies
  std::string bookmark_xml;     // stored <BookmarkList>; empty: none (or earliest with read_existing_events)
  AuthProfile auth = AuthProfile::HttpsMutual;
  std::vector<std::string> issuer_thumbprints; // SHA-1 hex, upper case, for HttpsMutual
};

// A fresh "uuid:XXXXXXXX-XXXX-XXXX-XXXX-XXXXXXXXXXXX" (upper case, random).
std::string new_message_id();

std::string build_enumerate_response(const Message &request, const std::vector<SubscriptionOffer> &offers);
std::string build_ack(const Message &request);

// Escape text for XML character data and attribute values.
std::string xml_escape(std::string_view text);

} // namespace wec::wsman
