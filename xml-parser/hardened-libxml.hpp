// The one libxml2 set-up every XML parser of the project uses (SOAP envelopes, bookmarks,
// subscription queries, events):
//  - the markup pre-scan of markup-limits.hpp runs first;
//  - the input must be UTF-8: an encoding declaration is ignored and a document whose first
//    bytes make libxml2 switch to another encoding (UTF-16, UCS-4, EBCDIC) is refused, because
//    the pre-scan reads the bytes as UTF-8;
//  - every DTD, entity declaration and entity reference other than the five predefined ones is
//    refused, no network, never XML_PARSE_HUGE; libxml2 prints nothing;
//  - the parse stops at the first error. libxml2 2.9 would go on tokenising the rest (with its
//    SAX callbacks off), and the rest is no longer what the pre-scan saw.
#pragma once

#include "markup-limits.hpp"

#include <libxml/parser.h>

#include <memory>
#include <string>
#include <string_view>

namespace wec::xml {

struct ParserContextDeleter
{
  void operator()(xmlParserCtxt *context) const { xmlFreeParserCtxt(context); }
};
using ParserContextPtr = std::unique_ptr<xmlParserCtxt, ParserContextDeleter>;

struct DocumentDeleter
{
  void operator()(xmlDoc *document) const { xmlFreeDoc(document); }
};
using DocumentPtr = std::unique_ptr<xmlDoc, DocumentDeleter>;

// One parse: its first failure, and the caller's own SAX state. During the parse the context's
// _private points here; SAX callbacks get the context as their user data.
class ParseSession
{
public:
  // `syntax_error_prefix` starts the text of libxml2's own errors:
  // "<prefix> at line 3, column 17: Opening and ending tag mismatch: ...".
  explicit ParseSession(std::string syntax_error_prefix, void *sax_state = nullptr)
      : syntax_error_prefix_(std::move(syntax_error_prefix)), sax_state_(sax_state)
  {}

  static ParseSession &of(void *sax_user_data);
  void *sax_state() const { return sax_state_; }

  // Our own refusal, from a SAX callback: `reason` and where the parser is; the parse stops.
  void refuse(xmlParserCtxt *context, const std::string &reason);
  void fail(std::string message); // keeps the first failure only
  void fail_with_libxml2_error(const xmlError &error);

  bool failed() const { return !error_.empty(); }
  std::string take_error() { return std::move(error_); }
  const std::string &syntax_error_prefix() const { return syntax_error_prefix_; }

private:
  std::string syntax_error_prefix_;
  void *sax_state_;
  std::string error_;
};

// A context for hardened parses with the SAX table `handler` (which should not set
// startDocument, so that no tree is built), or with libxml2's tree builder when null.
// Reusable: hardened_parse() resets it.
ParserContextPtr new_hardened_context(const xmlSAXHandler *handler = nullptr);

// Pre-scan, then libxml2 over `xml` with `context`. Returns the tree (tree builder only; null when
// the session failed). `extra_options` may add XML_PARSE_COMPACT and the like.
DocumentPtr hardened_parse(xmlParserCtxt *context, std::string_view xml, const MarkupLimits &limits,
                           ParseSession &session, int extra_options = 0);

// A tree, or null with `error` in one line.
DocumentPtr read_hardened_document(std::string_view xml, const MarkupLimits &limits, std::string syntax_error_prefix,
                                   std::string &error, int extra_options = 0);

} // namespace wec::xml
