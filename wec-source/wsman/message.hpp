// A parsed WS-Management SOAP request, as a Windows forwarder sends it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wec::wsman {

enum class Action
{
  Enumerate,
  End,
  Heartbeat,
  Events,
  SubscriptionEnd,
  Unknown,
};

struct Message
{
  Action action = Action::Unknown;
  std::string action_uri;              // a:Action text
  std::string message_id;              // a:MessageID, byte for byte (RelatesTo echoes it)
  std::string to;                      // a:To
  std::string resource_uri;            // w:ResourceURI
  std::string machine_id;              // m:MachineID (informational only, never identity)
  std::string identifier;              // e:Identifier header echoed from our ReferenceProperties
  std::string operation_id;            // p:OperationID
  std::string session_id;              // p:SessionId
  std::string locale;                  // w:Locale xml:lang
  unsigned long max_envelope_size = 0; // w:MaxEnvelopeSize, 0 when absent
  bool ack_requested = false;          // w:AckRequested present

  // Events: the w:Bookmark content (its <BookmarkList>, re-serialised, see bookmark.hpp) and each event's XML.
  std::optional<std::string> bookmark;
  std::vector<std::string> events;

  // SubscriptionEnd
  std::string end_status;    // e:Status URI
  std::string fault_code;    // f:WSManFault Code attribute, empty when absent
  std::string fault_message; // text of f:WSManFault (all descendants), whitespace-collapsed
};

struct ParseLimits
{
  int max_depth = 64;
};

// `xml` is the UTF-8 SOAP envelope, parsed with the hardened libxml2 set-up (xml-parser/
// hardened-libxml.hpp: no DTDs or entities, markup limits). Needs the SOAP 1.2 Envelope,
// a Header with a:Action and a:MessageID, and a Body. Returns false with a one-line reason.
bool parse_message(std::string_view xml, Message &out, std::string &error, const ParseLimits &limits = ParseLimits{});

} // namespace wec::wsman
