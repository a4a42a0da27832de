// Windows <Event> XML -> ordered (name, value) pairs, with libxml2's SAX2 interface.
//
// SAX instead of a DOM: no tree is built, so one event costs one pass over the bytes and a
// handful of string appends. The parser context is kept per thread and reused: creating one
// (dictionary, stacks, SAX table) per event measured about 20% slower on the corpus.
#include "event-xml-parser.hpp"

#include "hardened-libxml.hpp"

#include <climits>
#include <cstdint>
#include <cstring>

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

// What the names of an event's fields may add up to: four bytes per byte of the event, and
// 4 KiB for small events with many short fields. Real events stay under 0.8 bytes per byte.
constexpr std::size_t kFieldNameBytesPerEventByte = 4;
constexpr std::size_t kFieldNameBytesPerEvent = 4096;

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

bool is_xml_whitespace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

bool is_list_edge_whitespace(char c) { return is_xml_whitespace(c) || c == '\v' || c == '\f'; }

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

// ---------------------------------------------------------------------------------------
// Output: fields in document order; a name seen again turns its value into a list.

class FieldCollector
{
public:
  FieldCollector(std::vector<EventField> &fields, std::size_t name_budget) : fields_(fields), name_budget_(name_budget)
  {
    fields_.reserve(64);
    occurrences_.reserve(64);
    slots_.assign(128, kEmptySlot);
  }

  // False, and nothing added, when a new name would exceed the budget for all names.
  bool add(const std::string &name, std::string_view value)
  {
    const std::size_t hash = std::hash<std::string_view>{}(name);
    std::size_t slot = find_slot(name, hash);
    if (slots_[slot] == kEmptySlot)
      {
        if (name.size() > name_budget_ - name_bytes_)
          return false;
        name_bytes_ += name.size();
        slots_[slot] = static_cast<std::uint32_t>(fields_.size());
        fields_.push_back(EventField{name, std::string(value)});
        occurrences_.push_back(1);
        if (fields_.size() * 2 > slots_.size())
          grow_slots();
        return true;
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
    return true;
  }

  std::size_t name_budget() const { return name_budget_; }

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
  const std::size_t name_budget_;
  std::size_t name_bytes_ = 0;
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

// A parse's walker hangs off its ParseSession (context->_private); libxml2 hands every
// callback the parser context as its user data.
class EventWalker;
EventWalker &walker_of(void *sax_user_data)
{
  return *static_cast<EventWalker *>(ParseSession::of(sax_user_data).sax_state());
}

xmlParserCtxt *as_context(void *sax_user_data) { return static_cast<xmlParserCtxt *>(sax_user_data); }

class EventWalker
{
public:
  EventWalker(std::vector<EventField> &fields, const ParseLimits &limits, std::size_t field_name_budget)
      : collector_(fields, field_name_budget), limits_(limits)
  {
    path_.reserve(128);
    text_.reserve(1024);
    open_elements_.reserve(16);
  }

  const FieldCollector &collector() const { return collector_; }
  bool saw_root() const { return saw_root_; }

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
    // (The depth is limited by the markup pre-scan.)
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

    if (!path_within_limit(context))
      return;

    const std::size_t element_path_length = path_.size();
    for (int i = 0; i < attribute_count; ++i)
      {
        const xmlChar **attribute = attributes + 5 * i;
        if (is_data_name(attribute))
          continue;
        path_.append("._");
        path_.append(as_view(attribute[0]));
        if (!path_within_limit(context) ||
            !add_field(context, decode_attribute_value(as_view(attribute[3], attribute[4]), attribute_scratch_)))
          return;
        path_.resize(element_path_length);
      }

    element.text_start = text_.size();
    element.run_start = text_.size();
    open_elements_.push_back(element);
  }

  void end_element(xmlParserCtxt *context)
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
    if (emit && !add_field(context, value))
      return;

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

private:
  // Every field repeats its element's path: one long name above many small elements made the
  // names grow with the product of the two (a 238 KB event gave 400 MB of names).
  bool path_within_limit(xmlParserCtxt *context)
  {
    if (path_.size() <= limits_.max_field_name_bytes)
      return true;
    ParseSession::of(context).refuse(context, "field name longer than " + std::to_string(limits_.max_field_name_bytes) +
                                                  " bytes");
    return false;
  }

  // Within the path limit, many small elements under a long path still make names some 60
  // times the size of the event; the budget keeps them in proportion to it.
  bool add_field(xmlParserCtxt *context, std::string_view value)
  {
    if (collector_.add(path_, value))
      return true;
    ParseSession::of(context).refuse(context, "field names add up to more than " +
                                                  std::to_string(collector_.name_budget()) + " bytes");
    return false;
  }

  bool check_root(xmlParserCtxt *context, std::string_view name, std::string_view prefix,
                  std::string_view namespace_uri)
  {
    if (name != kRootName)
      {
        std::string qualified = prefix.empty() ? std::string(name) : std::string(prefix) + ":" + std::string(name);
        ParseSession::of(context).refuse(context, "root element is <" + qualified + ">, not <Event>");
        return false;
      }
    if (!namespace_uri.empty() && namespace_uri != kEventNamespace)
      {
        ParseSession::of(context).refuse(context, "root element <Event> is in namespace '" +
                                                      std::string(namespace_uri) + "', not the event namespace");
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
  std::string path_; // dot-separated path of the innermost open element
  std::string text_; // texts of all open elements, innermost last
  std::vector<OpenElement> open_elements_;
  std::string attribute_scratch_; // decoded attribute values that contained '&'
  bool saw_root_ = false;
};

// ---------------------------------------------------------------------------------------
// SAX callbacks

void on_start_element(void *user_data, const xmlChar *local_name, const xmlChar *prefix, const xmlChar *namespace_uri,
                      int /*namespace_count*/, const xmlChar ** /*namespaces*/, int attribute_count,
                      int /*defaulted_count*/, const xmlChar **attributes)
{
  // xmlns declarations arrive separately in `namespaces` and are deliberately not emitted.
  walker_of(user_data).start_element(as_context(user_data), local_name, prefix, namespace_uri, attribute_count,
                                     attributes);
}

void on_end_element(void *user_data, const xmlChar *, const xmlChar *, const xmlChar *)
{
  walker_of(user_data).end_element(as_context(user_data));
}

void on_text(void *user_data, const xmlChar *text, int length) { walker_of(user_data).append_text(text, length); }

xmlSAXHandler make_event_sax_handler()
{
  xmlSAXHandler handler;
  std::memset(&handler, 0, sizeof handler);
  handler.startElementNs = on_start_element;
  handler.endElementNs = on_end_element;
  handler.characters = on_text;
  handler.ignorableWhitespace = on_text; // same function, so libxml2 never guesses "ignorable"
  handler.cdataBlock = on_text;
  // No startDocument: without it libxml2 builds no tree at all. DTDs, entities and errors are
  // handled by the hardened set-up.
  return handler;
}

// One context per thread, reused across events.
xmlParserCtxt *thread_parser_context()
{
  thread_local ParserContextPtr context;
  if (context && context->dict && xmlDictSize(context->dict) > static_cast<int>(kMaxReusedDictionaryEntries))
    context.reset();
  if (!context)
    {
      static const xmlSAXHandler event_handler = make_event_sax_handler();
      context = new_hardened_context(&event_handler);
    }
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

bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

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

  xmlParserCtxt *context = thread_parser_context();
  if (context == nullptr)
    {
      error = "out of memory creating the XML parser";
      return false;
    }

  EventWalker walker(out.fields, limits, kFieldNameBytesPerEventByte * xml.size() + kFieldNameBytesPerEvent);
  ParseSession session("not well-formed", &walker);
  MarkupLimits markup;
  markup.max_depth = limits.max_depth;
  hardened_parse(context, xml, markup, session); // SAX only: no document
  if (!session.failed() && !walker.saw_root())
    session.fail("no root element");
  // Frees the input copy now rather than at the next parse on this thread.
  xmlCtxtReset(context);

  if (session.failed())
    {
      error = session.take_error();
      out.fields.clear();
      return false;
    }
  fill_summary(walker.collector(), out.summary);
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
  static const std::string_view system_names[] = {
      "Provider",    "EventID",       "Version",     "Level",     "Task",    "Opcode",   "Keywords",
      "TimeCreated", "EventRecordID", "Correlation", "Execution", "Channel", "Computer", "Security"};
  if (event_payload)
    for (std::string_view system_name : system_names)
      if (rest == system_name ||
          (starts_with(rest, system_name) && rest.size() > system_name.size() && rest[system_name.size()] == '.'))
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
