// Windows <Event> XML -> ordered (name, value) pairs, with libxml2's SAX2 interface.
//
// SAX instead of a DOM: no tree is built, so one event costs one pass over the bytes and a
// handful of string appends. The parser context is kept per thread and reused: creating one
// (dictionary, stacks, SAX table) per event measured about 20% slower on the corpus.
#include "event-xml-parser.hpp"

#include <libxml/parser.h>
#include <libxml/xmlerror.h>

#include <climits>
#include <cstdint>
#include <cstring>
#include <memory>
#include <mutex>

namespace wec::xml {
namespace {

constexpr std::string_view kEventNamespace = "http://schemas.microsoft.com/win/2004/08/events/event";
constexpr std::string_view kRootName = "Event";
constexpr std::string_view kEventDataPath = "Event.EventData";
constexpr std::string_view kDataElement = "Data";
constexpr std::string_view kDataNameAttribute = "Name";

// A reused context keeps every element and attribute name it has seen in its dictionary;
// senders that invent names would grow it without bound, so start afresh past this size.
constexpr std::size_t kMaxReusedDictionaryEntries = 20000;

// ---------------------------------------------------------------------------------------
// libxml2 handles

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

void initialise_libxml2_once()
{
  // xmlInitParser() is not safe to race on its first call.
  static std::once_flag initialised;
  std::call_once(initialised, [] { xmlInitParser(); });
}

// Errors that libxml2 raises without a parser context (some encoding errors) go to the
// thread's structured handler and, if there is none, to stderr. Route them to us for the
// duration of one parse and put back whatever the thread had before.
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

// ---------------------------------------------------------------------------------------
// Small string helpers

std::string_view as_view(const xmlChar *text)
{
  return text ? std::string_view(reinterpret_cast<const char *>(text)) : std::string_view();
}

std::string_view as_view(const xmlChar *begin, const xmlChar *end)
{
  return std::string_view(reinterpret_cast<const char *>(begin), static_cast<std::size_t>(end - begin));
}

bool is_xml_whitespace(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

bool is_list_edge_whitespace(char c)
{
  return is_xml_whitespace(c) || c == '\v' || c == '\f';
}

bool is_all_xml_whitespace(std::string_view text)
{
  for (char c : text)
    if (!is_xml_whitespace(c))
      return false;
  return true;
}

// syslog-ng list items are bare unless bare text would be read back differently.
// A leading single quote is included because syslog-ng's list scanner also treats it
// as an opening quote.
bool list_item_needs_quotes(std::string_view item)
{
  if (item.empty())
    return true;
  if (is_list_edge_whitespace(item.front()) || is_list_edge_whitespace(item.back()))
    return true;
  if (item.front() == '\'')
    return true;
  return item.find_first_of(",\"\\") != std::string_view::npos;
}

void append_list_item(std::string &list, std::string_view item)
{
  if (!list_item_needs_quotes(item))
    {
      list.append(item);
      return;
    }
  list.push_back('"');
  for (char c : item)
    {
      if (c == '"' || c == '\\')
        list.push_back('\\');
      list.push_back(c);
    }
  list.push_back('"');
}

// Without entity substitution libxml2 hands over every '&' of an attribute value (from
// "&amp;" or "&#38;") as the five characters "&#38;", so that a tree builder could re-parse
// the value. A literal '&' cannot occur otherwise, so turning each one back is exact.
std::string_view decode_attribute_value(std::string_view raw, std::string &scratch)
{
  constexpr std::string_view kEscapedAmpersand = "&#38;";
  if (raw.find('&') == std::string_view::npos)
    return raw;
  scratch.clear();
  for (std::size_t i = 0; i < raw.size(); ++i)
    {
      scratch.push_back(raw[i]);
      if (raw.compare(i, kEscapedAmpersand.size(), kEscapedAmpersand) == 0)
        i += kEscapedAmpersand.size() - 1;
    }
  return scratch;
}

// One line of text from a libxml2 message: no trailing newline, no embedded line breaks.
std::string single_line(std::string_view message)
{
  while (!message.empty() && is_xml_whitespace(message.back()))
    message.remove_suffix(1);
  std::string line(message);
  for (char &c : line)
    if (c == '\n' || c == '\r')
      c = ' ';
  return line;
}

// ---------------------------------------------------------------------------------------
// Output: fields in document order; a name seen again turns its value into a list.

class FieldCollector
{
public:
  explicit FieldCollector(std::vector<EventField> &fields) : fields_(fields)
  {
    fields_.reserve(64);
    occurrences_.reserve(64);
    slots_.assign(128, kEmptySlot);
  }

  void add(const std::string &name, std::string_view value)
  {
    const std::size_t hash = std::hash<std::string_view>{}(name);
    std::size_t slot = find_slot(name, hash);
    if (slots_[slot] == kEmptySlot)
      {
        slots_[slot] = static_cast<std::uint32_t>(fields_.size());
        fields_.push_back(EventField{name, std::string(value)});
        occurrences_.push_back(1);
        if (fields_.size() * 2 > slots_.size())
          grow_slots();
        return;
      }

    const std::size_t index = slots_[slot];
    std::string &list = fields_[index].value;
    if (occurrences_[index] == 1)
      {
        // The first value was stored bare; re-encode it as the list's first item.
        std::string first_item = std::move(list);
        list.clear();
        append_list_item(list, first_item);
      }
    list.push_back(',');
    append_list_item(list, value);
    ++occurrences_[index];
  }

  const std::string *find(std::string_view name) const
  {
    const std::size_t slot = find_slot(name, std::hash<std::string_view>{}(name));
    return slots_[slot] == kEmptySlot ? nullptr : &fields_[slots_[slot]].value;
  }

private:
  // Open addressing over indices into fields_: no per-name allocation, unlike a map of strings.
  static constexpr std::uint32_t kEmptySlot = UINT32_MAX;

  std::size_t find_slot(std::string_view name, std::size_t hash) const
  {
    const std::size_t mask = slots_.size() - 1;
    std::size_t slot = hash & mask;
    while (slots_[slot] != kEmptySlot && fields_[slots_[slot]].name != name)
      slot = (slot + 1) & mask;
    return slot;
  }

  void grow_slots()
  {
    slots_.assign(slots_.size() * 2, kEmptySlot);
    for (std::size_t index = 0; index < fields_.size(); ++index)
      {
        const std::string &name = fields_[index].name;
        slots_[find_slot(name, std::hash<std::string_view>{}(name))] = static_cast<std::uint32_t>(index);
      }
  }

  std::vector<EventField> &fields_;
  std::vector<unsigned> occurrences_; // parallel to fields_
  std::vector<std::uint32_t> slots_;  // power-of-two size, at most half full
};

// ---------------------------------------------------------------------------------------
// SAX walk

struct OpenElement
{
  std::size_t path_length_before; // to restore the parent's path on close
  std::size_t text_start;         // where this element's text begins in EventWalker::text_
  std::size_t run_start;          // start of the text run since the last child tag
  bool has_child_elements = false;
  bool is_event_data_item = false; // <Data> directly under <EventData>: always has a value
};

class EventWalker
{
public:
  EventWalker(std::vector<EventField> &fields, const ParseLimits &limits)
    : collector_(fields), limits_(limits)
  {
    path_.reserve(128);
    text_.reserve(1024);
    open_elements_.reserve(16);
  }

  const FieldCollector &collector() const { return collector_; }
  bool failed() const { return !error_.empty(); }
  bool saw_root() const { return saw_root_; }
  std::string take_error() { return std::move(error_); }

  // Remembers the first failure only; later ones are usually consequences of it.
  void fail(std::string message)
  {
    if (error_.empty())
      error_ = message.empty() ? std::string("parse failed") : std::move(message);
  }

  void fail_and_stop(xmlParserCtxt *context, const std::string &message)
  {
    fail(message + position_suffix(context));
    context->wellFormed = 0;
    xmlStopParser(context);
  }

  void start_element(xmlParserCtxt *context, const xmlChar *local_name, const xmlChar *prefix,
                     const xmlChar *namespace_uri, int attribute_count, const xmlChar **attributes)
  {
    std::string_view name = as_view(local_name);

    if (open_elements_.empty())
      {
        if (!check_root(context, name, as_view(prefix), as_view(namespace_uri)))
          return;
        saw_root_ = true;
      }
    if (open_elements_.size() + 1 > static_cast<std::size_t>(limits_.max_depth))
      {
        fail_and_stop(context, "nesting deeper than " + std::to_string(limits_.max_depth));
        return;
      }

    if (!open_elements_.empty())
      {
        OpenElement &parent = open_elements_.back();
        parent.has_child_elements = true;
        drop_whitespace_only_run(parent);
      }

    OpenElement element;
    element.path_length_before = path_.size();
    element.is_event_data_item = name == kDataElement && path_ == kEventDataPath;

    if (!path_.empty())
      path_.push_back('.');
    path_.append(name);

    // libxml2 passes attributes as (local name, prefix, URI, value begin, value end).
    // A <Data> item of <EventData> is addressed by its Name: Data.X, without a Name field.
    // An empty or missing Name makes it one of the nameless items listed under Data.
    auto is_data_name = [&element](const xmlChar **attribute) {
      return element.is_event_data_item && attribute[1] == nullptr && as_view(attribute[0]) == kDataNameAttribute;
    };
    for (int i = 0; i < attribute_count; ++i)
      {
        const xmlChar **attribute = attributes + 5 * i;
        if (!is_data_name(attribute))
          continue;
        std::string_view data_name = decode_attribute_value(as_view(attribute[3], attribute[4]), attribute_scratch_);
        if (!data_name.empty())
          {
            path_.push_back('.');
            path_.append(data_name);
          }
        break;
      }

    const std::size_t element_path_length = path_.size();
    for (int i = 0; i < attribute_count; ++i)
      {
        const xmlChar **attribute = attributes + 5 * i;
        if (is_data_name(attribute))
          continue;
        path_.append("._");
        path_.append(as_view(attribute[0]));
        collector_.add(path_, decode_attribute_value(as_view(attribute[3], attribute[4]), attribute_scratch_));
        path_.resize(element_path_length);
      }

    element.text_start = text_.size();
    element.run_start = text_.size();
    open_elements_.push_back(element);
  }

  void end_element()
  {
    if (open_elements_.empty())
      return;
    OpenElement &element = open_elements_.back();

    if (element.has_child_elements)
      drop_whitespace_only_run(element);
    std::string_view value = std::string_view(text_).substr(element.text_start);

    // Empty elements carry no value (their attributes, if any, are already out), except the
    // <Data> items of <EventData>, whose position and presence mean something.
    bool emit = !value.empty() || (element.is_event_data_item && !element.has_child_elements);
    if (emit)
      collector_.add(path_, value);

    text_.resize(element.text_start);
    path_.resize(element.path_length_before);
    open_elements_.pop_back();
    if (!open_elements_.empty())
      open_elements_.back().run_start = text_.size();
  }

  void append_text(const xmlChar *text, int length)
  {
    // Text outside the root (only whitespace is allowed there) belongs to no field.
    if (open_elements_.empty() || length <= 0)
      return;
    text_.append(reinterpret_cast<const char *>(text), static_cast<std::size_t>(length));
  }

  static std::string position_suffix(xmlParserCtxt *context)
  {
    if (context == nullptr || context->input == nullptr)
      return {};
    return " at line " + std::to_string(context->input->line) + ", column " +
           std::to_string(context->input->col);
  }

private:
  bool check_root(xmlParserCtxt *context, std::string_view name, std::string_view prefix,
                  std::string_view namespace_uri)
  {
    if (name != kRootName)
      {
        std::string qualified = prefix.empty() ? std::string(name) : std::string(prefix) + ":" + std::string(name);
        fail_and_stop(context, "root element is <" + qualified + ">, not <Event>");
        return false;
      }
    if (!namespace_uri.empty() && namespace_uri != kEventNamespace)
      {
        fail_and_stop(context, "root element <Event> is in namespace '" + std::string(namespace_uri) +
                                 "', not the event namespace");
        return false;
      }
    return true;
  }

  // Whitespace between child tags is layout, not content.
  void drop_whitespace_only_run(OpenElement &element)
  {
    std::string_view run = std::string_view(text_).substr(element.run_start);
    if (is_all_xml_whitespace(run))
      text_.resize(element.run_start);
    element.run_start = text_.size();
  }

  FieldCollector collector_;
  const ParseLimits &limits_;
  std::string path_;             // dot-separated path of the innermost open element
  std::string text_;             // texts of all open elements, innermost last
  std::vector<OpenElement> open_elements_;
  std::string attribute_scratch_; // decoded attribute values that contained '&'
  std::string error_;
  bool saw_root_ = false;
};

// ---------------------------------------------------------------------------------------
// SAX callbacks. libxml2 hands every callback ctxt->userData, which is the parser context
// itself; the walker for the current parse hangs off context->_private.

xmlParserCtxt *as_context(void *user_data)
{
  return static_cast<xmlParserCtxt *>(user_data);
}

EventWalker *walker_of(void *user_data)
{
  return static_cast<EventWalker *>(as_context(user_data)->_private);
}

void on_start_element(void *user_data, const xmlChar *local_name, const xmlChar *prefix,
                      const xmlChar *namespace_uri, int /*namespace_count*/, const xmlChar ** /*namespaces*/,
                      int attribute_count, int /*defaulted_count*/, const xmlChar **attributes)
{
  // xmlns declarations arrive separately in `namespaces` and are deliberately not emitted.
  walker_of(user_data)->start_element(as_context(user_data), local_name, prefix, namespace_uri,
                                      attribute_count, attributes);
}

void on_end_element(void *user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
  walker_of(user_data)->end_element();
}

void on_text(void *user_data, const xmlChar *text, int length)
{
  walker_of(user_data)->append_text(text, length);
}

void refuse_dtd(void *user_data)
{
  walker_of(user_data)->fail_and_stop(as_context(user_data), "DTD not allowed");
}

void on_internal_subset(void *user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
  refuse_dtd(user_data);
}

void on_entity_declaration(void *user_data, const xmlChar *name, int, const xmlChar *, const xmlChar *, xmlChar *)
{
  walker_of(user_data)->fail_and_stop(as_context(user_data),
                                      "entity '" + std::string(as_view(name)) + "' not allowed");
}

// Only reached for names other than the five predefined ones (libxml2 resolves those itself).
xmlEntityPtr on_entity_reference(void *user_data, const xmlChar *name)
{
  walker_of(user_data)->fail_and_stop(as_context(user_data),
                                      "entity '" + std::string(as_view(name)) + "' not allowed");
  return nullptr;
}

xmlParserInputPtr on_resolve_external_entity(void *user_data, const xmlChar *, const xmlChar *system_id)
{
  walker_of(user_data)->fail_and_stop(as_context(user_data),
                                      "external entity '" + std::string(as_view(system_id)) + "' not allowed");
  return nullptr;
}

void on_element_declaration(void *user_data, const xmlChar *, int, xmlElementContentPtr)
{
  refuse_dtd(user_data);
}

void on_attribute_declaration(void *user_data, const xmlChar *, const xmlChar *, int, int, const xmlChar *,
                              xmlEnumerationPtr tree)
{
  xmlFreeEnumeration(tree); // ownership passes to the callback
  refuse_dtd(user_data);
}

void on_notation_declaration(void *user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
  refuse_dtd(user_data);
}

void on_unparsed_entity_declaration(void *user_data, const xmlChar *name, const xmlChar *, const xmlChar *,
                                    const xmlChar *)
{
  on_entity_declaration(user_data, name, 0, nullptr, nullptr, nullptr);
}

std::string describe_libxml2_error(const xmlError &error)
{
  std::string description = "not well-formed";
  if (error.line > 0)
    description += " at line " + std::to_string(error.line) + ", column " + std::to_string(error.int2);
  description += ": ";
  description += single_line(error.message ? std::string_view(error.message) : std::string_view("unknown error"));
  return description;
}

// Errors raised with the parser context: user data is the parser context.
void on_parser_error(void *user_data, xmlErrorPtr error)
{
  if (error == nullptr || error->level < XML_ERR_ERROR)
    return; // warnings do not make an event unusable
  walker_of(user_data)->fail(describe_libxml2_error(*error));
}

// Errors raised without a parser context: user data is the walker (see ScopedThreadErrorHandler).
void on_contextless_error(void *user_data, xmlErrorPtr error)
{
  if (error == nullptr || error->level < XML_ERR_ERROR)
    return;
  static_cast<EventWalker *>(user_data)->fail(describe_libxml2_error(*error));
}

xmlSAXHandler make_event_sax_handler()
{
  xmlSAXHandler handler;
  std::memset(&handler, 0, sizeof handler);
  handler.initialized = XML_SAX2_MAGIC; // SAX2: namespaced callbacks and structured errors
  handler.startElementNs = on_start_element;
  handler.endElementNs = on_end_element;
  handler.characters = on_text;
  handler.ignorableWhitespace = on_text; // same function, so libxml2 never guesses "ignorable"
  handler.cdataBlock = on_text;
  handler.serror = on_parser_error;
  // Everything that could pull in a DTD or an entity fails the parse instead.
  handler.internalSubset = on_internal_subset;
  handler.externalSubset = on_internal_subset;
  handler.getEntity = on_entity_reference;
  handler.getParameterEntity = on_entity_reference;
  handler.resolveEntity = on_resolve_external_entity;
  handler.entityDecl = on_entity_declaration;
  handler.unparsedEntityDecl = on_unparsed_entity_declaration;
  handler.elementDecl = on_element_declaration;
  handler.attributeDecl = on_attribute_declaration;
  handler.notationDecl = on_notation_declaration;
  // No startDocument: without it libxml2 builds no tree at all.
  return handler;
}

// No entity substitution, no DTD loading, no network. Errors go to our serror only.
constexpr int kParseOptions = XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING;

ParserContextPtr new_event_parser_context()
{
  ParserContextPtr context(xmlNewParserCtxt());
  if (!context)
    return context;
  static const xmlSAXHandler event_handler = make_event_sax_handler();
  *context->sax = event_handler; // xmlNewParserCtxt allocated a full xmlSAXHandler for us
  // Process-wide libxml2 defaults (xmlSubstituteEntitiesDefault, ...) must not leak in.
  context->options = 0;
  context->replaceEntities = 0;
  context->loadsubset = 0;
  context->validate = 0;
  return context;
}

// One context per thread, reused across events.
xmlParserCtxt *thread_parser_context()
{
  thread_local ParserContextPtr context;
  if (context && context->dict && xmlDictSize(context->dict) > static_cast<int>(kMaxReusedDictionaryEntries))
    context.reset();
  if (!context)
    context = new_event_parser_context();
  return context.get();
}

void fill_summary(const FieldCollector &collector, EventSummary &summary)
{
  auto copy = [&collector](const char *name, std::string &target) {
    if (const std::string *value = collector.find(name))
      target = *value;
  };
  copy("Event.System.Provider._Name", summary.provider);
  copy("Event.System.EventID", summary.event_id);
  copy("Event.System.Level", summary.level);
  copy("Event.System.TimeCreated._SystemTime", summary.time_created);
  copy("Event.System.EventRecordID", summary.event_record_id);
  copy("Event.System.Execution._ProcessID", summary.process_id);
  copy("Event.System.Channel", summary.channel);
  copy("Event.System.Computer", summary.computer);
  copy("Event.RenderingInfo.Message", summary.message);
}

// Days between 1970-01-01 and the given proleptic Gregorian date, by counting in 400-year
// eras that start on March 1st (so the leap day is the last day of the counted year).
long long days_from_civil(long long year, unsigned month, unsigned day)
{
  year -= month <= 2 ? 1 : 0;
  const long long era = (year >= 0 ? year : year - 399) / 400;
  const unsigned year_of_era = static_cast<unsigned>(year - era * 400);                // [0, 399]
  const unsigned month_from_march = month > 2 ? month - 3 : month + 9;                  // [0, 11]
  const unsigned day_of_year = (153 * month_from_march + 2) / 5 + day - 1;              // [0, 365]
  const unsigned day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146097 + static_cast<long long>(day_of_era) - 719468;
}

bool is_leap_year(unsigned year)
{
  return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

unsigned days_in_month(unsigned year, unsigned month)
{
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : kDays[month - 1];
}

// Reads exactly `count` decimal digits at `position`.
bool read_digits(std::string_view text, std::size_t &position, std::size_t count, unsigned &value)
{
  if (position + count > text.size())
    return false;
  value = 0;
  for (std::size_t i = 0; i < count; ++i)
    {
      char c = text[position + i];
      if (c < '0' || c > '9')
        return false;
      value = value * 10 + static_cast<unsigned>(c - '0');
    }
  position += count;
  return true;
}

bool expect_char(std::string_view text, std::size_t &position, char expected)
{
  if (position >= text.size() || text[position] != expected)
    return false;
  ++position;
  return true;
}

bool starts_with(std::string_view text, std::string_view prefix)
{
  return text.substr(0, prefix.size()) == prefix;
}

} // namespace

bool parse_event(std::string_view xml, ParsedEvent &out, std::string &error, const ParseLimits &limits)
{
  out.fields.clear();
  out.summary = EventSummary{};
  error.clear();

  if (xml.size() > limits.max_bytes || xml.size() > static_cast<std::size_t>(INT_MAX))
    {
      error = "document of " + std::to_string(xml.size()) + " bytes exceeds the limit of " +
              std::to_string(limits.max_bytes) + " bytes";
      return false;
    }
  if (xml.empty())
    {
      error = "empty document";
      return false;
    }

  initialise_libxml2_once();
  xmlParserCtxt *context = thread_parser_context();
  if (context == nullptr)
    {
      error = "out of memory creating the XML parser";
      return false;
    }

  EventWalker walker(out.fields, limits);
  {
    ScopedThreadErrorHandler route_contextless_errors(&walker, on_contextless_error);
    context->_private = &walker;
    // SAX only: no document is built, but own whatever libxml2 might return anyway.
    DocumentPtr unexpected_document(
      xmlCtxtReadMemory(context, xml.data(), static_cast<int>(xml.size()), nullptr, nullptr, kParseOptions));
    context->_private = nullptr;

    if (!walker.failed() && !context->wellFormed)
      walker.fail("not well-formed" + EventWalker::position_suffix(context));
    if (!walker.failed() && !walker.saw_root())
      walker.fail("no root element");
    // Frees the input copy now rather than at the next parse on this thread.
    xmlCtxtReset(context);
  }

  if (walker.failed())
    {
      error = walker.take_error();
      out.fields.clear();
      return false;
    }
  fill_summary(walker.collector(), out.summary);
  return true;
}

bool parse_system_time(std::string_view text, long long &seconds, unsigned &microseconds)
{
  std::size_t position = 0;
  unsigned year, month, day, hour, minute, second;
  if (!read_digits(text, position, 4, year) || !expect_char(text, position, '-') ||
      !read_digits(text, position, 2, month) || !expect_char(text, position, '-') ||
      !read_digits(text, position, 2, day) || !expect_char(text, position, 'T') ||
      !read_digits(text, position, 2, hour) || !expect_char(text, position, ':') ||
      !read_digits(text, position, 2, minute) || !expect_char(text, position, ':') ||
      !read_digits(text, position, 2, second))
    return false;
  if (month < 1 || month > 12 || day < 1 || day > days_in_month(year, month) || hour > 23 || minute > 59 ||
      second > 59)
    return false;

  // Windows writes 7 fractional digits (100 ns); keep microseconds and drop the rest.
  unsigned fraction_micros = 0;
  if (position < text.size() && text[position] == '.')
    {
      ++position;
      std::size_t digit_count = 0;
      while (position < text.size() && text[position] >= '0' && text[position] <= '9')
        {
          if (digit_count < 6)
            fraction_micros = fraction_micros * 10 + static_cast<unsigned>(text[position] - '0');
          ++digit_count;
          ++position;
        }
      if (digit_count == 0 || digit_count > 9)
        return false;
      for (std::size_t i = digit_count; i < 6; ++i)
        fraction_micros *= 10;
    }

  long long offset_seconds = 0;
  if (position < text.size() && text[position] == 'Z')
    {
      ++position;
    }
  else if (position < text.size() && (text[position] == '+' || text[position] == '-'))
    {
      const bool east_of_utc = text[position] == '+';
      ++position;
      unsigned offset_hours, offset_minutes;
      if (!read_digits(text, position, 2, offset_hours) || !expect_char(text, position, ':') ||
          !read_digits(text, position, 2, offset_minutes) || offset_hours > 23 || offset_minutes > 59)
        return false;
      offset_seconds = (offset_hours * 3600LL + offset_minutes * 60LL) * (east_of_utc ? 1 : -1);
    }
  else
    {
      return false;
    }
  if (position != text.size())
    return false;

  seconds = days_from_civil(year, month, day) * 86400LL + hour * 3600LL + minute * 60LL + second - offset_seconds;
  microseconds = fraction_micros;
  return true;
}

std::string sdata_param_name(std::string_view relative_name)
{
  constexpr std::size_t kMaxParamNameLength = 32;
  std::string_view rest = relative_name;
  std::string name;

  if (starts_with(rest, "Event."))
    rest.remove_prefix(6);

  // Container elements add nothing to a parameter's meaning.
  bool event_payload = false;
  if (starts_with(rest, "System."))
    rest.remove_prefix(7);
  else if (starts_with(rest, "EventData.Data."))
    {
      rest.remove_prefix(15);
      event_payload = true;
    }
  else if (starts_with(rest, "EventData."))
    {
      rest.remove_prefix(10);
      event_payload = true;
    }
  else if (starts_with(rest, "UserData."))
    {
      std::string_view after_user_data = rest.substr(9);
      std::size_t end_of_wrapper = after_user_data.find('.');
      if (end_of_wrapper != std::string_view::npos)
        {
          rest = after_user_data.substr(end_of_wrapper + 1);
          event_payload = true;
        }
    }
  else if (starts_with(rest, "RenderingInfo.") || rest == "RenderingInfo")
    {
      name = "Rendering";
      rest.remove_prefix(13); // keeps the '.', which becomes the joining '_'
    }
  // A payload field named like a System field ("Channel", "Level", ...) must not overwrite it.
  static const std::string_view system_names[] = {"Provider", "EventID", "Version", "Level", "Task", "Opcode",
                                                  "Keywords", "TimeCreated", "EventRecordID", "Correlation",
                                                  "Execution", "Channel", "Computer", "Security"};
  if (event_payload)
    for (std::string_view system_name : system_names)
      if (rest == system_name || (starts_with(rest, system_name) && rest.size() > system_name.size() &&
                                  rest[system_name.size()] == '.'))
        {
          name = "Data_";
          break;
        }

  name.reserve(name.size() + rest.size());
  for (std::size_t i = 0; i < rest.size(); ++i)
    {
      char c = rest[i];
      if (c == '.')
        {
          // "._" marks an attribute: one '_' for the pair, not two.
          if (i + 1 < rest.size() && rest[i + 1] == '_')
            ++i;
          name.push_back('_');
          continue;
        }
      const unsigned char byte = static_cast<unsigned char>(c);
      const bool printable_ascii = byte >= 33 && byte <= 126;
      name.push_back(printable_ascii && c != '=' && c != ']' && c != '"' ? c : '_');
    }

  if (name.size() > kMaxParamNameLength)
    name.resize(kMaxParamNameLength);
  if (name.empty())
    name = "_";
  return name;
}

} // namespace wec::xml
