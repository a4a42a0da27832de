#include "bookmark.hpp"

#include "hardened-libxml.hpp"

#include <libxml/tree.h>

#include <cstring>
#include <vector>

namespace wec::wsman {

namespace {

constexpr int kMaxBookmarkDepth = 8; // BookmarkList > Bookmark is all Windows writes

struct NamespaceBinding
{
  std::string prefix;
  std::string href;
};

void append_escaped(std::string &out, const xmlChar *text)
{
  for (const char *p = reinterpret_cast<const char *>(text); p && *p; ++p)
    switch (*p)
      {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\t': out += "&#9;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      default: out += *p; break;
      }
}

bool whitespace_only(const xmlChar *text)
{
  for (const xmlChar *p = text; p && *p; ++p)
    if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
      return false;
  return true;
}

// Writes a declaration when `ns` is not what the prefix means here already.
void bind(std::string &out, std::vector<NamespaceBinding> &scope, const xmlNs *ns, bool attribute)
{
  std::string prefix = ns && ns->prefix ? reinterpret_cast<const char *>(ns->prefix) : "";
  std::string href = ns && ns->href ? reinterpret_cast<const char *>(ns->href) : "";
  if ((!ns && attribute) || prefix == "xml")
    return; // unprefixed attributes have no namespace; xml: is predeclared
  const NamespaceBinding *current = nullptr;
  for (auto it = scope.rbegin(); it != scope.rend() && !current; ++it)
    if (it->prefix == prefix)
      current = &*it;
  if (current ? current->href == href : href.empty())
    return; // already means this here (no binding at all means "no namespace")
  out += prefix.empty() ? " xmlns=\"" : " xmlns:" + prefix + "=\"";
  append_escaped(out, BAD_CAST href.c_str());
  out += '"';
  scope.push_back({prefix, href});
}

void append_name(std::string &out, const xmlNs *ns, const xmlChar *name)
{
  if (ns && ns->prefix)
    {
      out += reinterpret_cast<const char *>(ns->prefix);
      out += ':';
    }
  out += reinterpret_cast<const char *>(name);
}

bool serialize(const xmlNode *element, int depth, std::vector<NamespaceBinding> &scope, std::string &out,
               std::string &error)
{
  if (depth > kMaxBookmarkDepth)
    {
      error = "bookmark nested deeper than " + std::to_string(kMaxBookmarkDepth) + " levels";
      return false;
    }
  const std::size_t mark = scope.size();
  out += '<';
  append_name(out, element->ns, element->name);
  bind(out, scope, element->ns, false);
  for (const xmlAttr *a = element->properties; a; a = a->next)
    bind(out, scope, a->ns, true);
  for (const xmlAttr *a = element->properties; a; a = a->next)
    {
      out += ' ';
      append_name(out, a->ns, a->name);
      out += "=\"";
      for (const xmlNode *t = a->children; t; t = t->next)
        append_escaped(out, t->content);
      out += '"';
    }
  std::string inner;
  for (const xmlNode *c = element->children; c; c = c->next)
    {
      if (c->type == XML_ELEMENT_NODE)
        {
          if (!serialize(c, depth + 1, scope, inner, error))
            return false;
        }
      else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && !whitespace_only(c->content))
        append_escaped(inner, c->content);
      // comments and processing instructions are not part of a position
    }
  if (inner.empty())
    out += "/>";
  else
    {
      out += '>';
      out += inner;
      out += "</";
      append_name(out, element->ns, element->name);
      out += '>';
    }
  scope.resize(mark);
  if (out.size() > kMaxBookmarkBytes)
    {
      error = "bookmark larger than " + std::to_string(kMaxBookmarkBytes) + " bytes";
      return false;
    }
  return true;
}

} // namespace

BookmarkResult bookmark_from_header(const xmlNode *header, std::string &out, std::string &error)
{
  out.clear();
  const xmlNode *list = nullptr;
  for (const xmlNode *c = header->children; c; c = c->next)
    {
      if (c->type == XML_ELEMENT_NODE)
        {
          if (list || std::strcmp(reinterpret_cast<const char *>(c->name), "BookmarkList") != 0)
            {
              error = "w:Bookmark must hold exactly one <BookmarkList> element";
              return BookmarkResult::Refused;
            }
          list = c;
        }
      else if ((c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE) && !whitespace_only(c->content))
        {
          error = "w:Bookmark holds text instead of a <BookmarkList> element";
          return BookmarkResult::Refused;
        }
    }
  if (!list)
    return BookmarkResult::Empty;
  std::vector<NamespaceBinding> scope;
  if (!serialize(list, 1, scope, out, error))
    {
      out.clear();
      return BookmarkResult::Refused;
    }
  return BookmarkResult::Valid;
}

BookmarkResult canonical_bookmark(std::string_view xml, std::string &out, std::string &error)
{
  out.clear();
  if (xml.size() > kMaxBookmarkBytes)
    {
      error = "bookmark larger than " + std::to_string(kMaxBookmarkBytes) + " bytes";
      return BookmarkResult::Refused;
    }
  if (xml.find("<!") != std::string_view::npos)
    {
      error = "bookmark holds a DTD, comment or CDATA section";
      return BookmarkResult::Refused;
    }
  // Wrapped like the header it came from, so that one function checks both.
  std::string wrapped = "<Bookmark>" + std::string(xml) + "</Bookmark>";
  wec::xml::DocumentPtr doc =
      wec::xml::read_hardened_document(wrapped, wec::xml::MarkupLimits{}, "bookmark is not well-formed XML", error);
  if (!doc)
    return BookmarkResult::Refused;
  return bookmark_from_header(xmlDocGetRootElement(doc.get()), out, error);
}

} // namespace wec::wsman
