// Parsing of the WS-Management SOAP 1.2 requests a Windows forwarder sends (libxml2 DOM,
// namespace-aware: elements are matched by namespace URI + local name, never by prefix).
#include "message.hpp"

#include "bookmark.hpp"

#include "hardened-libxml.hpp"

#include <cstring>
#include <vector>

#include <libxml/tree.h>

namespace wec::wsman {

namespace {

constexpr const char *kNsSoap = "http://www.w3.org/2003/05/soap-envelope";
constexpr const char *kNsAddressing = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
constexpr const char *kNsEventing = "http://schemas.xmlsoap.org/ws/2004/08/eventing";
constexpr const char *kNsWsman = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
constexpr const char *kNsMsWsman = "http://schemas.microsoft.com/wbem/wsman/1/wsman.xsd";
constexpr const char *kNsMachineId = "http://schemas.microsoft.com/wbem/wsman/1/machineid";
constexpr const char *kNsWsmanFault = "http://schemas.microsoft.com/wbem/wsman/1/wsmanfault";

constexpr const char *kActionEnumerate = "http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate";
constexpr const char *kActionEnd = "http://schemas.microsoft.com/wbem/wsman/1/wsman/End";
constexpr const char *kActionHeartbeat = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat";
constexpr const char *kActionEvents = "http://schemas.dmtf.org/wbem/wsman/1/wsman/Events";
constexpr const char *kActionSubscriptionEnd = "http://schemas.xmlsoap.org/ws/2004/08/eventing/SubscriptionEnd";

std::string one_line(const char *text)
{
  std::string out;
  if (!text)
    return out;
  bool space = false;
  for (const char *p = text; *p; ++p)
    {
      unsigned char c = static_cast<unsigned char>(*p);
      if (c == '\n' || c == '\r' || c == '\t' || c == ' ')
        space = !out.empty();
      else
        {
          if (space)
            out.push_back(' ');
          space = false;
          out.push_back(static_cast<char>(c));
        }
    }
  return out;
}

// ---------------------------------------------------------------------------------------------
// DOM helpers

inline bool str_eq(const xmlChar *a, const char *b)
{
  return a && std::strcmp(reinterpret_cast<const char *>(a), b) == 0;
}

inline bool is_element(const xmlNode *node, const char *ns, const char *name)
{
  return node->type == XML_ELEMENT_NODE && node->ns && str_eq(node->ns->href, ns) && str_eq(node->name, name);
}

const xmlNode *find_child(const xmlNode *parent, const char *ns, const char *name)
{
  for (const xmlNode *c = parent->children; c; c = c->next)
    if (is_element(c, ns, name))
      return c;
  return nullptr;
}

const xmlNode *find_descendant(const xmlNode *parent, const char *ns, const char *name)
{
  for (const xmlNode *c = parent->children; c; c = c->next)
    {
      if (c->type != XML_ELEMENT_NODE)
        continue;
      if (is_element(c, ns, name))
        return c;
      if (const xmlNode *found = find_descendant(c, ns, name))
        return found;
    }
  return nullptr;
}

void append_descendant_text(const xmlNode *node, std::string &out)
{
  for (const xmlNode *c = node->children; c; c = c->next)
    {
      if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && c->content)
        out.append(reinterpret_cast<const char *>(c->content));
      else if (c->type == XML_ELEMENT_NODE)
        append_descendant_text(c, out);
    }
}

inline bool is_xml_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string trimmed(std::string s)
{
  size_t b = 0, e = s.size();
  while (b < e && is_xml_space(s[b]))
    ++b;
  while (e > b && is_xml_space(s[e - 1]))
    --e;
  if (b == 0 && e == s.size())
    return s;
  return s.substr(b, e - b);
}

std::string text_of(const xmlNode *node)
{
  std::string out;
  append_descendant_text(node, out);
  return trimmed(std::move(out));
}

std::string collapsed_text_of(const xmlNode *node)
{
  std::string raw;
  append_descendant_text(node, raw);
  std::string out;
  out.reserve(raw.size());
  bool space = false;
  for (char c : raw)
    {
      if (is_xml_space(c))
        space = !out.empty();
      else
        {
          if (space)
            out.push_back(' ');
          space = false;
          out.push_back(c);
        }
    }
  return out;
}

std::string attribute(const xmlNode *node, const char *name, const char *ns = nullptr)
{
  xmlChar *value = ns ? xmlGetNsProp(node, BAD_CAST name, BAD_CAST ns) : xmlGetNoNsProp(node, BAD_CAST name);
  if (!value)
    return {};
  std::string out(reinterpret_cast<const char *>(value));
  xmlFree(value);
  return out;
}

// ---------------------------------------------------------------------------------------------
// A small serializer for events sent as elements instead of CDATA. It
// declares every namespace the subtree uses, so the result is a standalone well-formed document
// even when the declarations lived on ancestors.

void escape_into(std::string &out, const char *text, bool attribute_value)
{
  for (const char *p = text; *p; ++p)
    {
      switch (*p)
        {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"':
          if (attribute_value)
            out += "&quot;";
          else
            out += '"';
          break;
        case '\t':
          if (attribute_value)
            out += "&#9;";
          else
            out += '\t';
          break;
        case '\n':
          if (attribute_value)
            out += "&#10;";
          else
            out += '\n';
          break;
        case '\r': out += "&#13;"; break;
        default: out += *p; break;
        }
    }
}

struct Binding
{
  std::string prefix; // "" = default namespace
  std::string href;   // "" = no namespace
};

const std::string *lookup(const std::vector<Binding> &scope, const std::string &prefix)
{
  for (auto it = scope.rbegin(); it != scope.rend(); ++it)
    if (it->prefix == prefix)
      return &it->href;
  return nullptr;
}

void declare(std::string &out, std::vector<Binding> &scope, const std::string &prefix, const std::string &href)
{
  out += prefix.empty() ? " xmlns=\"" : " xmlns:" + prefix + "=\"";
  escape_into(out, href.c_str(), true);
  out += '"';
  scope.push_back({prefix, href});
}

void ensure_binding(std::string &out, std::vector<Binding> &scope, const xmlNs *ns, bool is_attribute)
{
  if (!ns)
    {
      if (is_attribute)
        return; // unprefixed attributes are never in a namespace
      const std::string *current = lookup(scope, "");
      if (current && !current->empty())
        declare(out, scope, "", "");
      return;
    }
  std::string prefix = ns->prefix ? reinterpret_cast<const char *>(ns->prefix) : "";
  if (prefix == "xml")
    return;
  std::string href = ns->href ? reinterpret_cast<const char *>(ns->href) : "";
  const std::string *current = lookup(scope, prefix);
  if (!current || *current != href)
    declare(out, scope, prefix, href);
}

void append_qname(std::string &out, const xmlNs *ns, const xmlChar *name)
{
  if (ns && ns->prefix)
    {
      out += reinterpret_cast<const char *>(ns->prefix);
      out += ':';
    }
  out += reinterpret_cast<const char *>(name);
}

void serialize(const xmlNode *node, std::string &out, std::vector<Binding> &scope)
{
  switch (node->type)
    {
    case XML_TEXT_NODE:
    case XML_CDATA_SECTION_NODE:
      if (node->content)
        escape_into(out, reinterpret_cast<const char *>(node->content), false);
      return;
    case XML_COMMENT_NODE:
      out += "<!--";
      if (node->content)
        out += reinterpret_cast<const char *>(node->content);
      out += "-->";
      return;
    case XML_PI_NODE:
      out += "<?";
      out += reinterpret_cast<const char *>(node->name);
      if (node->content && *node->content)
        {
          out += ' ';
          out += reinterpret_cast<const char *>(node->content);
        }
      out += "?>";
      return;
    case XML_ELEMENT_NODE: break;
    default: return;
    }

  const size_t mark = scope.size();
  out += '<';
  append_qname(out, node->ns, node->name);
  for (const xmlNs *def = node->nsDef; def; def = def->next)
    {
      std::string prefix = def->prefix ? reinterpret_cast<const char *>(def->prefix) : "";
      std::string href = def->href ? reinterpret_cast<const char *>(def->href) : "";
      const std::string *current = lookup(scope, prefix);
      if (!current || *current != href)
        declare(out, scope, prefix, href);
    }
  ensure_binding(out, scope, node->ns, false);
  for (const xmlAttr *a = node->properties; a; a = a->next)
    ensure_binding(out, scope, a->ns, true);
  for (const xmlAttr *a = node->properties; a; a = a->next)
    {
      out += ' ';
      append_qname(out, a->ns, a->name);
      out += "=\"";
      for (const xmlNode *t = a->children; t; t = t->next)
        if (t->content)
          escape_into(out, reinterpret_cast<const char *>(t->content), true);
      out += '"';
    }
  if (!node->children)
    out += "/>";
  else
    {
      out += '>';
      for (const xmlNode *c = node->children; c; c = c->next)
        serialize(c, out, scope);
      out += "</";
      append_qname(out, node->ns, node->name);
      out += '>';
    }
  scope.resize(mark);
}

// ---------------------------------------------------------------------------------------------

Action action_from_uri(const std::string &uri)
{
  if (uri == kActionEvents)
    return Action::Events;
  if (uri == kActionHeartbeat)
    return Action::Heartbeat;
  if (uri == kActionEnumerate)
    return Action::Enumerate;
  if (uri == kActionEnd)
    return Action::End;
  if (uri == kActionSubscriptionEnd)
    return Action::SubscriptionEnd;
  return Action::Unknown;
}

unsigned long parse_unsigned(const std::string &text)
{
  if (text.empty() || text.size() > 19)
    return 0;
  unsigned long value = 0;
  for (char c : text)
    {
      if (c < '0' || c > '9')
        return 0;
      value = value * 10 + static_cast<unsigned long>(c - '0');
    }
  return value;
}

std::string namespace_name(const xmlNode *node)
{
  std::string out = "{";
  if (node->ns && node->ns->href)
    out += reinterpret_cast<const char *>(node->ns->href);
  out += "}";
  out += reinterpret_cast<const char *>(node->name);
  return one_line(out.c_str());
}

// Only a well-formed <BookmarkList> is kept, re-serialised: it goes back into a later response.
bool read_bookmark(const xmlNode *node, Message &out, std::string &error)
{
  std::string canonical;
  switch (bookmark_from_header(node, canonical, error))
    {
    case BookmarkResult::Valid: out.bookmark = std::move(canonical); return true;
    case BookmarkResult::Empty: return true;
    case BookmarkResult::Refused: break;
    }
  error = "refused bookmark: " + error;
  return false;
}

void read_events(const xmlNode *events, Message &out)
{
  size_t count = 0;
  for (const xmlNode *c = events->children; c; c = c->next)
    if (is_element(c, kNsWsman, "Event"))
      ++count;
  out.events.reserve(count);
  for (const xmlNode *c = events->children; c; c = c->next)
    {
      if (!is_element(c, kNsWsman, "Event"))
        continue;
      std::string &event = out.events.emplace_back();
      const xmlNode *only = c->children;
      if (only && !only->next && (only->type == XML_CDATA_SECTION_NODE || only->type == XML_TEXT_NODE) && only->content)
        {
          event.assign(reinterpret_cast<const char *>(only->content)); // the usual single CDATA node
          continue;
        }
      std::vector<Binding> scope;
      for (const xmlNode *part = c->children; part; part = part->next)
        {
          if ((part->type == XML_CDATA_SECTION_NODE || part->type == XML_TEXT_NODE) && part->content)
            event.append(reinterpret_cast<const char *>(part->content));
          else if (part->type == XML_ELEMENT_NODE)
            serialize(part, event, scope); // a client sending events as elements instead of CDATA
        }
    }
}

bool read_header(const xmlNode *header, Message &out, bool &have_action, bool &have_message_id, std::string &error)
{
  for (const xmlNode *h = header->children; h; h = h->next)
    {
      if (h->type != XML_ELEMENT_NODE || !h->ns || !h->ns->href)
        continue;
      const char *ns = reinterpret_cast<const char *>(h->ns->href);
      const char *name = reinterpret_cast<const char *>(h->name);
      if (std::strcmp(ns, kNsAddressing) == 0)
        {
          if (std::strcmp(name, "Action") == 0)
            {
              if (!have_action)
                out.action_uri = text_of(h);
              have_action = true;
            }
          else if (std::strcmp(name, "MessageID") == 0)
            {
              if (!have_message_id)
                out.message_id = text_of(h);
              have_message_id = true;
            }
          else if (std::strcmp(name, "To") == 0)
            out.to = text_of(h);
          else if (std::strcmp(name, "ReferenceParameters") == 0 || std::strcmp(name, "ReferenceProperties") == 0)
            {
              // Some stacks echo the wrapper instead of its children; a direct e:Identifier wins.
              if (out.identifier.empty())
                if (const xmlNode *id = find_child(h, kNsEventing, "Identifier"))
                  out.identifier = text_of(id);
            }
        }
      else if (std::strcmp(ns, kNsWsman) == 0)
        {
          if (std::strcmp(name, "ResourceURI") == 0)
            out.resource_uri = text_of(h);
          else if (std::strcmp(name, "Locale") == 0)
            out.locale = attribute(h, "lang", reinterpret_cast<const char *>(XML_XML_NAMESPACE));
          else if (std::strcmp(name, "MaxEnvelopeSize") == 0)
            out.max_envelope_size = parse_unsigned(text_of(h));
          else if (std::strcmp(name, "AckRequested") == 0)
            out.ack_requested = true;
          else if (std::strcmp(name, "Bookmark") == 0 && !read_bookmark(h, out, error))
            return false;
        }
      else if (std::strcmp(ns, kNsMsWsman) == 0)
        {
          if (std::strcmp(name, "OperationID") == 0)
            out.operation_id = text_of(h);
          else if (std::strcmp(name, "SessionId") == 0)
            out.session_id = text_of(h);
        }
      else if (std::strcmp(ns, kNsEventing) == 0)
        {
          if (std::strcmp(name, "Identifier") == 0)
            out.identifier = text_of(h);
        }
      else if (std::strcmp(ns, kNsMachineId) == 0)
        {
          if (std::strcmp(name, "MachineID") == 0)
            out.machine_id = text_of(h);
        }
    }
  return true;
}

} // namespace

bool parse_message(std::string_view xml, Message &out, std::string &error, const ParseLimits &limits)
{
  out = Message{};
  error.clear();
  if (xml.empty())
    {
      error = "empty SOAP envelope";
      return false;
    }
  wec::xml::MarkupLimits markup;
  markup.max_depth = limits.max_depth;
  // XML_PARSE_COMPACT keeps short texts inside their nodes: fewer allocations.
  wec::xml::DocumentPtr doc =
      wec::xml::read_hardened_document(xml, markup, "XML parse error", error, XML_PARSE_COMPACT);
  if (!doc)
    return false;

  const xmlNode *root = xmlDocGetRootElement(doc.get());
  if (!root)
    {
      error = "XML document has no root element";
      return false;
    }
  if (!is_element(root, kNsSoap, "Envelope"))
    {
      error = "not a SOAP 1.2 envelope (root is " + namespace_name(root) + ")";
      return false;
    }
  const xmlNode *header = find_child(root, kNsSoap, "Header");
  const xmlNode *body = find_child(root, kNsSoap, "Body");
  if (!header)
    {
      error = "SOAP envelope has no s:Header";
      return false;
    }

  bool have_action = false, have_message_id = false;
  if (!read_header(header, out, have_action, have_message_id, error))
    {
      out.bookmark.reset();
      return false;
    }
  if (!have_action || out.action_uri.empty())
    {
      error = "SOAP header has no a:Action";
      return false;
    }
  if (!have_message_id || out.message_id.empty())
    {
      error = "SOAP header has no a:MessageID";
      return false;
    }
  if (!body)
    {
      error = "SOAP envelope has no s:Body";
      return false;
    }
  out.action = action_from_uri(out.action_uri);

  switch (out.action)
    {
    case Action::Events:
    case Action::Heartbeat:
      if (const xmlNode *events = find_child(body, kNsWsman, "Events"))
        read_events(events, out);
      break;
    case Action::SubscriptionEnd:
      if (const xmlNode *end = find_child(body, kNsEventing, "SubscriptionEnd"))
        {
          if (const xmlNode *status = find_child(end, kNsEventing, "Status"))
            out.end_status = text_of(status);
          if (const xmlNode *fault = find_descendant(end, kNsWsmanFault, "WSManFault"))
            {
              out.fault_code = trimmed(attribute(fault, "Code"));
              out.fault_message = collapsed_text_of(fault);
            }
        }
      break;
    default: break;
    }
  return true;
}

} // namespace wec::wsman
