#include "hardened-libxml.hpp"

#include <libxml/encoding.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlversion.h>

#include <algorithm>
#include <climits>
#include <mutex>

namespace wec::xml {
namespace {

// libxml2 2.12 made the structured error handler take a const pointer.
#if LIBXML_VERSION >= 21200
using XmlErrorArg = const xmlError *;
#else
using XmlErrorArg = xmlErrorPtr;
#endif

// No network, libxml2 prints nothing, the encoding declaration is ignored (the bytes are
// UTF-8). Without XML_PARSE_NOENT no entity is substituted; never XML_PARSE_HUGE.
constexpr int kHardenedOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_IGNORE_ENC;

xmlParserCtxt *as_context(void *sax_user_data) { return static_cast<xmlParserCtxt *>(sax_user_data); }

std::string one_line(std::string_view text)
{
  std::string line;
  bool pending_space = false;
  for (char c : text)
    {
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r')
        {
          pending_space = !line.empty();
          continue;
        }
      if (pending_space)
        line.push_back(' ');
      pending_space = false;
      line.push_back(c);
    }
  return line;
}

std::string position_of(const xmlParserCtxt *context)
{
  if (context == nullptr || context->input == nullptr)
    return {};
  return " at line " + std::to_string(context->input->line) + ", column " + std::to_string(context->input->col);
}

void halt(xmlParserCtxt *context)
{
#if LIBXML_VERSION >= 21300
  xmlStopParser(context); // since 2.13 this leaves the input alone
#else
  // xmlStopParser() frees the input while the function that reported the error may still point
  // into it (xmlParseCharData on "]]>" sets input->cur from its own pointer after the report).
  // Ending the parser's loops is enough: every one of them checks instate.
  context->instate = XML_PARSER_EOF;
  context->disableSAX = 1;
#endif
}

void initialise_libxml2_once()
{
  static std::once_flag initialised; // xmlInitParser() must not race on its first call
  std::call_once(initialised, [] { xmlInitParser(); });
}

// Errors that libxml2 raises without a parser context go to the thread's structured handler,
// and to stderr without one. Route them to the session for one parse.
class ScopedThreadErrorHandler
{
public:
  ScopedThreadErrorHandler(void *context, xmlStructuredErrorFunc handler)
      : previous_handler_(xmlStructuredError), previous_context_(xmlStructuredErrorContext)
  {
    xmlSetStructuredErrorFunc(context, handler);
  }
  ~ScopedThreadErrorHandler() { xmlSetStructuredErrorFunc(previous_context_, previous_handler_); }
  ScopedThreadErrorHandler(const ScopedThreadErrorHandler &) = delete;
  ScopedThreadErrorHandler &operator=(const ScopedThreadErrorHandler &) = delete;

private:
  xmlStructuredErrorFunc previous_handler_;
  void *previous_context_;
};

void on_parser_error(void *sax_user_data, XmlErrorArg error)
{
  if (error == nullptr || error->level < XML_ERR_ERROR)
    return; // warnings do not make a document unusable
  ParseSession::of(sax_user_data).fail_with_libxml2_error(*error);
  halt(as_context(sax_user_data));
}

void on_contextless_error(void *session, XmlErrorArg error)
{
  if (error != nullptr && error->level >= XML_ERR_ERROR)
    static_cast<ParseSession *>(session)->fail_with_libxml2_error(*error);
}

std::string text_of(const xmlChar *text)
{
  return text ? std::string(reinterpret_cast<const char *>(text)) : std::string();
}

// The pre-scan refuses DOCTYPE already; these hooks make sure nothing of a DTD is ever used.
void refuse_dtd(void *sax_user_data)
{
  ParseSession::of(sax_user_data).refuse(as_context(sax_user_data), "DTD not allowed");
}

void on_subset(void *sax_user_data, const xmlChar *, const xmlChar *, const xmlChar *) { refuse_dtd(sax_user_data); }

void on_entity_declaration(void *sax_user_data, const xmlChar *, int, const xmlChar *, const xmlChar *, xmlChar *)
{
  refuse_dtd(sax_user_data);
}

void on_unparsed_entity_declaration(void *sax_user_data, const xmlChar *, const xmlChar *, const xmlChar *,
                                    const xmlChar *)
{
  refuse_dtd(sax_user_data);
}

void on_element_declaration(void *sax_user_data, const xmlChar *, int, xmlElementContentPtr)
{
  refuse_dtd(sax_user_data);
}

void on_attribute_declaration(void *sax_user_data, const xmlChar *, const xmlChar *, int, int, const xmlChar *,
                              xmlEnumerationPtr values)
{
  xmlFreeEnumeration(values); // the callback owns it
  refuse_dtd(sax_user_data);
}

void on_notation_declaration(void *sax_user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
  refuse_dtd(sax_user_data);
}

// Reached for names other than the five predefined ones, which libxml2 resolves itself.
xmlEntityPtr on_entity_reference(void *sax_user_data, const xmlChar *name)
{
  ParseSession::of(sax_user_data).refuse(as_context(sax_user_data), "entity '" + text_of(name) + "' not allowed");
  return nullptr;
}

xmlParserInputPtr on_resolve_external_entity(void *sax_user_data, const xmlChar *, const xmlChar *system_id)
{
  ParseSession::of(sax_user_data)
      .refuse(as_context(sax_user_data), "external entity '" + text_of(system_id) + "' not allowed");
  return nullptr;
}

void harden_sax_handler(xmlSAXHandler &handler)
{
  handler.initialized = XML_SAX2_MAGIC; // namespaced callbacks and structured errors
  handler.serror = on_parser_error;
  handler.internalSubset = on_subset;
  handler.externalSubset = on_subset;
  handler.entityDecl = on_entity_declaration;
  handler.unparsedEntityDecl = on_unparsed_entity_declaration;
  handler.elementDecl = on_element_declaration;
  handler.attributeDecl = on_attribute_declaration;
  handler.notationDecl = on_notation_declaration;
  handler.getEntity = on_entity_reference;
  handler.getParameterEntity = on_entity_reference;
  handler.resolveEntity = on_resolve_external_entity;
}

// libxml2 looks at the first four bytes and switches to UTF-16, UCS-4 or EBCDIC by itself.
const char *foreign_encoding(std::string_view xml)
{
  if (xml.size() < 4)
    return nullptr;
  const xmlCharEncoding detected = xmlDetectCharEncoding(reinterpret_cast<const unsigned char *>(xml.data()), 4);
  if (detected == XML_CHAR_ENCODING_NONE || detected == XML_CHAR_ENCODING_UTF8)
    return nullptr;
  const char *name = xmlGetCharEncodingName(detected);
  return name ? name : "another encoding";
}

} // namespace

ParseSession &ParseSession::of(void *sax_user_data)
{
  return *static_cast<ParseSession *>(as_context(sax_user_data)->_private);
}

void ParseSession::refuse(xmlParserCtxt *context, const std::string &reason)
{
  fail(reason + position_of(context));
  halt(context);
}

void ParseSession::fail(std::string message)
{
  if (error_.empty())
    error_ = message.empty() ? syntax_error_prefix_ : std::move(message);
}

void ParseSession::fail_with_libxml2_error(const xmlError &error)
{
  std::string message = syntax_error_prefix_;
  if (error.line > 0)
    message += " at line " + std::to_string(error.line) + ", column " + std::to_string(error.int2);
  message += ": " + one_line(error.message ? error.message : "unknown error");
  fail(std::move(message));
}

ParserContextPtr new_hardened_context(const xmlSAXHandler *handler)
{
  initialise_libxml2_once();
  ParserContextPtr context(xmlNewParserCtxt());
  if (!context || context->sax == nullptr)
    return nullptr;
  if (handler != nullptr)
    *context->sax = *handler; // the context owns a full table of its own
  harden_sax_handler(*context->sax);
  // Process-wide libxml2 defaults (xmlSubstituteEntitiesDefault, ...) must not leak in.
  context->options = 0;
  context->replaceEntities = 0;
  context->loadsubset = 0;
  context->validate = 0;
  return context;
}

DocumentPtr hardened_parse(xmlParserCtxt *context, std::string_view xml, const MarkupLimits &limits,
                           ParseSession &session, int extra_options)
{
  if (xml.size() > static_cast<std::size_t>(INT_MAX))
    {
      session.fail("document of " + std::to_string(xml.size()) + " bytes is too large for libxml2");
      return nullptr;
    }
  if (const char *encoding = foreign_encoding(xml))
    {
      session.fail(std::string("document is not UTF-8: its first bytes are those of ") + encoding);
      return nullptr;
    }
  const MarkupCheck check = check_markup(xml, limits);
  if (check.outcome == MarkupCheck::Outcome::Refused)
    {
      session.fail(check.reason);
      return nullptr;
    }
  // libxml2 refuses a document at the point where its markup breaks; it gets nothing past it,
  // where the pre-scan did not look.
  if (check.outcome == MarkupCheck::Outcome::Malformed)
    xml = xml.substr(0, std::min(xml.size(), check.offset + 1));

  DocumentPtr document;
  {
    ScopedThreadErrorHandler route_contextless_errors(&session, on_contextless_error);
    context->_private = &session;
    document.reset(xmlCtxtReadMemory(context, xml.data(), static_cast<int>(xml.size()), nullptr, nullptr,
                                     kHardenedOptions | extra_options));
    if (!context->wellFormed || !context->nsWellFormed || check.outcome == MarkupCheck::Outcome::Malformed)
      session.fail(session.syntax_error_prefix() + position_of(context));
    context->_private = nullptr;
  }
  if (session.failed())
    document.reset();
  return document;
}

DocumentPtr read_hardened_document(std::string_view xml, const MarkupLimits &limits, std::string syntax_error_prefix,
                                   std::string &error, int extra_options)
{
  ParseSession session(std::move(syntax_error_prefix));
  ParserContextPtr context = new_hardened_context();
  if (!context)
    {
      error = "out of memory creating the XML parser";
      return nullptr;
    }
  DocumentPtr document = hardened_parse(context.get(), xml, limits, session, extra_options);
  if (!document && !session.failed())
    session.fail(session.syntax_error_prefix());
  if (session.failed())
    error = session.take_error();
  return document;
}

} // namespace wec::xml
