#include "subscription.hpp"

#include "hardened-libxml.hpp"

#include <libxml/tree.h>
#include <openssl/evp.h>

#include <cctype>
#include <cstdio>
#include <memory>
#include <sstream>

namespace wec {

namespace {

// Namespace of the subscription GUIDs: a fixed random UUID owned by this project.
constexpr std::string_view kSubscriptionNamespace = "6f1c1d2e-8a4b-4c1e-9d57-3b0f5e2a7c11";
constexpr std::string_view kVersionNamespace = "b2a7f0c4-1e5d-4f36-8c2b-90d4e6a1f3b5";

char fold(char c) { return static_cast<char>(std::tolower(static_cast<unsigned char>(c))); }

bool parse_uuid_bytes(std::string_view text, unsigned char out[16])
{
  int n = 0;
  for (std::size_t i = 0; i < text.size() && n < 32; ++i)
    {
      char c = text[i];
      if (c == '-')
        continue;
      if (!std::isxdigit(static_cast<unsigned char>(c)))
        return false;
      int v = std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : fold(c) - 'a' + 10;
      if (n % 2 == 0)
        out[n / 2] = static_cast<unsigned char>(v << 4);
      else
        out[n / 2] |= static_cast<unsigned char>(v);
      ++n;
    }
  return n == 32;
}

} // namespace

bool glob_match(std::string_view pattern, std::string_view text)
{
  // Iterative matcher with one backtrack point: linear for the patterns administrators write.
  std::size_t p = 0, t = 0, star = std::string_view::npos, star_text = 0;
  while (t < text.size())
    {
      if (p < pattern.size() && (pattern[p] == '?' || fold(pattern[p]) == fold(text[t])))
        {
          ++p;
          ++t;
        }
      else if (p < pattern.size() && pattern[p] == '*')
        {
          star = p++;
          star_text = t;
        }
      else if (star != std::string_view::npos)
        {
          p = star + 1;
          t = ++star_text;
        }
      else
        return false;
    }
  while (p < pattern.size() && pattern[p] == '*')
    ++p;
  return p == pattern.size();
}

bool subscription_allows(const SubscriptionConfig &subscription, const std::vector<std::string> &identity_names)
{
  // Principals ("WIN10$@CORP.EXAMPLE") are matched only by globs that name a realm, host names
  // only by globs without one: "*.corp.example" must not admit alice@CHILD.CORP.EXAMPLE.
  for (const auto &pattern : subscription.computers)
    {
      const bool pattern_is_principal = pattern.find('@') != std::string::npos;
      for (const auto &name : identity_names)
        if ((name.find('@') != std::string::npos) == pattern_is_principal && glob_match(pattern, name))
          return true;
    }
  return false;
}

std::string name_based_uuid(std::string_view name_space, std::string_view name)
{
  unsigned char ns[16] = {0};
  parse_uuid_bytes(name_space, ns);

  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int digest_len = 0;
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha1(), nullptr);
  EVP_DigestUpdate(ctx.get(), ns, sizeof(ns));
  EVP_DigestUpdate(ctx.get(), name.data(), name.size());
  EVP_DigestFinal_ex(ctx.get(), digest, &digest_len);

  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);
  char out[37];
  std::snprintf(out, sizeof(out), "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", digest[0],
                digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7], digest[8], digest[9],
                digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

std::string subscription_uuid(const SubscriptionConfig &subscription)
{
  return name_based_uuid(kSubscriptionNamespace, subscription.name);
}

std::string subscription_version(const SubscriptionPolicy &s, std::string_view listener_view)
{
  // Every field a forwarder can observe in the Subscribe envelope, each length-prefixed so
  // that no two different configurations serialise alike.
  std::ostringstream visible;
  auto field = [&visible](std::string_view v) { visible << v.size() << ':' << v << ';'; };
  field(s.name);
  field(s.rendered_text ? "RenderedText" : "Raw");
  field(s.locale);
  field(s.data_locale);
  field(std::to_string(s.heartbeat_seconds));
  field(std::to_string(s.retry_interval_seconds));
  field(std::to_string(s.retry_count));
  field(std::to_string(s.max_time_seconds));
  field(s.max_elements ? std::to_string(*s.max_elements) : "-");
  field(std::to_string(s.max_envelope_size));
  field(s.read_existing_events ? "read-existing" : "new-only");
  field(s.ignore_channel_error ? "ignore-channel-error" : "channel-error");
  field(s.query);
  field(listener_view);
  return name_based_uuid(kVersionNamespace, visible.str());
}

bool validate_query(std::string_view query_xml, std::string &error)
{
  xml::DocumentPtr doc =
      xml::read_hardened_document(query_xml, xml::MarkupLimits{}, "query is not well-formed XML", error);
  if (!doc)
    return false;
  xmlNode *root = xmlDocGetRootElement(doc.get());
  if (!root || xmlStrcmp(root->name, BAD_CAST "QueryList") != 0)
    {
      error = "query root element must be <QueryList>";
      return false;
    }
  bool has_select = false;
  for (xmlNode *q = root->children; q; q = q->next)
    if (q->type == XML_ELEMENT_NODE && xmlStrcmp(q->name, BAD_CAST "Query") == 0)
      for (xmlNode *s = q->children; s; s = s->next)
        if (s->type == XML_ELEMENT_NODE && xmlStrcmp(s->name, BAD_CAST "Select") == 0)
          has_select = true;
  if (!has_select)
    {
      error = "query has no <Query><Select Path='...'> element";
      return false;
    }
  return true;
}

} // namespace wec
