// Unit tests of the markup pre-scan (xml-parser/markup-limits) and of the hardened libxml2
// set-up every parser uses (xml-parser/hardened-libxml).
#include "hardened-libxml.hpp"
#include "markup-limits.hpp"

#include <criterion/criterion.h>

#include "expect.hpp"

#include <ctime>
#include <fstream>
#include <random>
#include <string>
#include <vector>

using wec::xml::check_markup;
using wec::xml::MarkupCheck;
using wec::xml::MarkupLimits;

namespace {

using Outcome = MarkupCheck::Outcome;

MarkupCheck check(const std::string &xml) { return check_markup(xml, MarkupLimits{}); }

void expect_within(const std::string &xml)
{
  const MarkupCheck result = check(xml);
  cr_assert(result.outcome == Outcome::Within, "refused (%d at %zu): %s\n  %.200s", static_cast<int>(result.outcome),
            result.offset, result.reason.c_str(), xml.c_str());
}

std::string refusal(const std::string &xml)
{
  const MarkupCheck result = check(xml);
  cr_assert(result.outcome == Outcome::Refused, "not refused: %.200s", xml.c_str());
  return result.reason;
}

std::size_t malformed_at(const std::string &xml)
{
  const MarkupCheck result = check(xml);
  cr_assert(result.outcome == Outcome::Malformed, "not malformed (%d): %s", static_cast<int>(result.outcome),
            xml.c_str());
  return result.offset;
}

std::string attributes(int count, const std::string &value = "v")
{
  std::string text;
  for (int i = 0; i < count; ++i)
    text += " a" + std::to_string(i) + "='" + value + "'";
  return text;
}

std::string namespace_declarations(int count, int first = 0)
{
  std::string text;
  for (int i = first; i < first + count; ++i)
    text += " xmlns:p" + std::to_string(i) + "='urn:" + std::to_string(i) + "'";
  return text;
}

std::string nested(int depth, const std::string &innermost = "")
{
  std::string open, close;
  for (int level = 1; level <= depth; ++level)
    {
      open += "<n>";
      close += "</n>";
    }
  return open + innermost + close;
}

std::string distinct_elements(int count)
{
  std::string text = "<r>";
  for (int i = 1; i < count; ++i) // <r> is the first name
    text += "<e" + std::to_string(i) + "/>";
  return text + "</r>";
}

double cpu_ms_of(void (*work)())
{
  const std::clock_t start = std::clock();
  work();
  return 1000.0 * static_cast<double>(std::clock() - start) / CLOCKS_PER_SEC;
}

} // namespace

Test(markup_limits, attributes_per_element)
{
  expect_within("<r" + attributes(64) + "/>");
  expect_within("<r><e" + attributes(64) + ">text</e><e" + attributes(64) + "/></r>");
  // xmlns declarations are counted on their own
  expect_within("<r" + attributes(64) + namespace_declarations(32) + "/>");
  EXPECT_STR(refusal("<r" + attributes(65) + "/>"), "more than 64 attributes on one element at line 1, column 506");
  EXPECT_STARTS(refusal("<r>\n  <e" + attributes(40000) + "/></r>"),
                "more than 64 attributes on one element at line 2, ");
}

Test(markup_limits, namespace_declarations_per_element_and_in_scope)
{
  expect_within("<r" + namespace_declarations(32) + "/>");
  EXPECT_STARTS(refusal("<r" + namespace_declarations(33) + "/>"),
                "more than 32 namespace declarations on one element");
  EXPECT_STARTS(refusal("<r xmlns='urn:d'" + namespace_declarations(32) + "/>"),
                "more than 32 namespace declarations on one element");

  // In scope: the element's own and its ancestors'.
  expect_within("<r" + namespace_declarations(32) + "><e" + namespace_declarations(32, 32) + "/></r>");
  EXPECT_STARTS(
      refusal("<r" + namespace_declarations(32) + "><e" + namespace_declarations(32, 32) + "><f xmlns:x='u'/></e></r>"),
      "more than 64 namespace declarations in scope");
  // Siblings do not add up: a closed element's declarations, and an empty one's, leave scope.
  std::string siblings = "<r" + namespace_declarations(32) + ">";
  for (int i = 0; i < 100; ++i)
    siblings += i % 2 ? "<e" + namespace_declarations(32, 32) + "/>" : "<e" + namespace_declarations(32, 32) + "></e>";
  expect_within(siblings + "</r>");
}

Test(markup_limits, depth)
{
  expect_within(nested(64));
  expect_within(nested(63, "<leaf/>"));
  EXPECT_STR(refusal(nested(65)), "XML nesting deeper than 64 levels at line 1, column 193");
  EXPECT_STARTS(refusal(nested(64, "<leaf/>")), "XML nesting deeper than 64 levels");
  // Unclosed tags count like open ones.
  std::string unclosed;
  for (int i = 0; i < 100000; ++i)
    unclosed += "<x>";
  EXPECT_STARTS(refusal(unclosed), "XML nesting deeper than 64 levels");
  MarkupLimits shallow;
  shallow.max_depth = 2;
  cr_assert(check_markup("<a><b/></a>", shallow).outcome == Outcome::Within);
  cr_assert(check_markup("<a><b><c/></b></a>", shallow).outcome == Outcome::Refused);
}

Test(markup_limits, distinct_names)
{
  expect_within(distinct_elements(10000));
  EXPECT_STARTS(refusal(distinct_elements(10001)),
                "more than 10000 distinct element names, attribute names and namespace URIs at line 1, column ");
  // Repeated names cost nothing, however many.
  std::string repeated = "<r>";
  for (int i = 0; i < 100000; ++i)
    repeated += "<a b='1'/><c d='2'>x</c>";
  expect_within(repeated + "</r>");
  // Namespace URIs are names for libxml2 too.
  std::string uris = "<r>";
  for (int i = 0; i < 10001; ++i)
    uris += "<e xmlns:p='urn:" + std::to_string(i) + "'/>";
  EXPECT_STARTS(refusal(uris + "</r>"), "more than 10000 distinct");
  // Attribute names count.
  std::string attribute_names = "<r>";
  for (int i = 0; i < 10001; ++i)
    attribute_names += "<e a" + std::to_string(i) + "='1'/>";
  EXPECT_STARTS(refusal(attribute_names + "</r>"), "more than 10000 distinct");
}

Test(markup_limits, text_comments_cdata_and_instructions_are_not_markup)
{
  const std::string crowded = "<x" + attributes(100) + "/>";
  expect_within("<r><!--" + crowded + "--></r>");
  expect_within("<r><![CDATA[" + crowded + nested(100) + "]]></r>");
  expect_within("<?pi " + crowded + "?><r><?pi " + crowded + "?></r>");
  expect_within("<r>a &lt; b &amp;&amp; c > d ]] &#60;x" + attributes(100) + "/></r>");
  // '>' and '/>' inside quoted values do not end the tag: the 65th attribute is still seen.
  expect_within("<r" + attributes(64, "/>") + "/>");
  EXPECT_STARTS(refusal("<r" + attributes(64, "a > b") + " last='\"/>'/>"), "more than 64 attributes");
  EXPECT_STARTS(refusal("<r q=\"it's > 1\"" + attributes(64) + "/>"), "more than 64 attributes");
  // Whitespace around '=' and between attributes.
  expect_within("<r\n\ta = 'b'\r\n  c=\t\"d\"  />");
}

Test(markup_limits, dtd_is_refused)
{
  EXPECT_STR(refusal("<!DOCTYPE r><r/>"), "DTD not allowed at line 1, column 1");
  EXPECT_STR(refusal("<?xml version='1.0'?>\n<!DOCTYPE r [<!ENTITY e 'x'>]><r>&e;</r>"),
             "DTD not allowed at line 2, column 1");
  // inside a comment or CDATA section it is text
  expect_within("<r><!--<!DOCTYPE r>--><![CDATA[<!DOCTYPE r>]]></r>");
}

Test(markup_limits, broken_markup_is_left_to_libxml2_up_to_where_it_breaks)
{
  cr_expect_eq(malformed_at("<r><a b></r>"), 7);            // attribute without value
  cr_expect_eq(malformed_at("<r a=b/>"), 5);                // unquoted value
  cr_expect_eq(malformed_at("<r a='1<' b='2'/>"), 7);       // '<' in a value
  cr_expect_eq(malformed_at("<r a='1/>"), 9);               // value never closed
  cr_expect_eq(malformed_at("<r>a < b</r>"), 6);            // '<' not followed by a name
  cr_expect_eq(malformed_at("<r><!ELEMENT r ANY></r>"), 4); // declaration outside a DTD
  cr_expect_eq(malformed_at("<r><!-- never closed"), 20);
  cr_expect_eq(malformed_at("<r/ >"), 3);
  cr_expect_eq(malformed_at("<r></r x>"), 7);
  cr_expect_eq(malformed_at("<r"), 2);
}

// The hardened parse hands libxml2 a document only up to where the pre-scan found its markup
// broken, which is sound only if libxml2 refuses every such document too. Corpus events with
// random damage of the kind that confuses a scanner (stray quotes, '<', '>', comment and CDATA
// delimiters) check that, and that undamaged real events are never refused.
Test(markup_limits, malformed_only_where_libxml2_refuses_too)
{
  std::ifstream corpus(std::string(WEC_TEST_DATA_DIR) + "/events-permissive.xml");
  std::vector<std::string> events;
  for (std::string line; events.size() < 400 && std::getline(corpus, line);)
    if (!line.empty())
      events.push_back(line);
  cr_assert_eq(events.size(), 400);

  const std::vector<std::string> damage = {"<",    ">",   "\"",        "'",   "=",  "/",  " ",  "!",  "?", "-",  "]",
                                           "<!--", "-->", "<![CDATA[", "]]>", "<?", "?>", "</", "/>", "&", "<!", "\n"};
  std::mt19937 random(20240501);
  int malformed = 0;
  for (const std::string &event : events)
    {
      expect_within(event);
      for (int round = 0; round < 40; ++round)
        {
          std::string damaged = event;
          for (int edits = 1 + static_cast<int>(random() % 3); edits > 0; --edits)
            {
              const std::size_t at = random() % damaged.size();
              if (random() % 4 == 0)
                damaged.erase(at, 1);
              else
                damaged.insert(at, damage[random() % damage.size()]);
            }
          if (check(damaged).outcome != Outcome::Malformed)
            continue;
          ++malformed;
          xmlDoc *document = xmlReadMemory(damaged.data(), static_cast<int>(damaged.size()), nullptr, "UTF-8",
                                           XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
          cr_assert_null(document, "the pre-scan calls this broken, libxml2 does not: %s", damaged.c_str());
        }
    }
  cr_expect_gt(malformed, 1000); // the damage did reach the pre-scan's refusals
}

Test(markup_limits, linear_in_the_size_of_the_document)
{
  // 8 MB of elements at the attribute and name limits; the scan itself takes some 20 ms.
  static std::string document;
  document = "<r>";
  const std::string element = "<e" + attributes(60) + ">text<![CDATA[<x y='1'>]]><!-- c --></e>\n";
  while (document.size() < 8 * 1024 * 1024)
    document += element;
  document += "</r>";
  const double ms = cpu_ms_of([] { cr_assert(check_markup(document, MarkupLimits{}).outcome == Outcome::Within); });
  cr_expect_lt(ms, 1000.0, "8 MB scanned in %.0f ms", ms);
}

// ---------------------------------------------------------------------------------------------
// The hardened set-up around libxml2

namespace {

std::string read_error(const std::string &xml)
{
  std::string error;
  wec::xml::DocumentPtr document = wec::xml::read_hardened_document(xml, MarkupLimits{}, "XML parse error", error);
  cr_assert_null(document.get(), "parsed: %.200s", xml.c_str());
  return error;
}

} // namespace

Test(hardened_libxml, only_utf8_is_read)
{
  // libxml2 switches to UTF-16 when a document starts with "<?" in it.
  std::string utf16le;
  for (char c : std::string("<?xml version='1.0'?><r><x/></r>"))
    utf16le += std::string(1, c) + '\0';
  EXPECT_STR(read_error(utf16le), "document is not UTF-8: its first bytes are those of UTF-16");
  EXPECT_STARTS(read_error(utf16le.substr(42)), "XML parse error at line 1, column 2: Char 0x0 out of allowed range");
  EXPECT_STARTS(read_error("\x4c\x6f\xa7\x94\x93\x40\xa5\x85\x99\xa2"),
                "document is not UTF-8: its first bytes are those of EBCDIC");

  // An encoding declaration is ignored: UTF-7 markup stays text.
  std::string error;
  wec::xml::DocumentPtr document = wec::xml::read_hardened_document(
      "<?xml version='1.0' encoding='UTF-7'?><r>+ADw-x/+AD4-</r>", MarkupLimits{}, "XML parse error", error);
  cr_assert_not_null(document.get(), "%s", error.c_str());
  const xmlNode *root = xmlDocGetRootElement(document.get());
  cr_assert(root->children && root->children->type == XML_TEXT_NODE);
}

Test(hardened_libxml, the_parse_stops_at_the_first_error)
{
  // libxml2 2.9 gives up a comment at an invalid character and goes on parsing what follows
  // as markup, where the pre-scan saw comment text: 40,000 attributes took it 0.5 s.
  static std::string hidden;
  hidden = "<r><!-- \x01 <e" + attributes(40000) + "/> --></r>";
  const double ms = cpu_ms_of([] { EXPECT_STARTS(read_error(hidden), "XML parse error at line 1, column "); });
  cr_expect_lt(ms, 100.0, "took %.0f ms", ms);
  hidden = "<r><? <e" + attributes(40000) + "/> ?></r>"; // a PI without a target
  const double pi_ms = cpu_ms_of([] { EXPECT_CONTAINS(read_error(hidden), "no target name"); });
  cr_expect_lt(pi_ms, 100.0, "took %.0f ms", pi_ms);
  // "]]>" in text: libxml2 sets its input position from its own pointer after reporting the
  // error; stopping must not free the input under it (run under ASan).
  EXPECT_STARTS(read_error("<r>a]]>b<e/></r>"), "XML parse error at line 1, column ");
}

Test(hardened_libxml, errors_name_their_place)
{
  EXPECT_STARTS(read_error("<r><a></b></r>"), "XML parse error at line 1, column ");
  EXPECT_STARTS(read_error("<r>&undeclared;</r>"), "entity 'undeclared' not allowed at line 1, column ");
  EXPECT_STARTS(read_error("<r>\n<a b>"), "XML parse error at line 2, column ");
  EXPECT_STARTS(read_error("<r" + attributes(65) + "/>"), "more than 64 attributes on one element");
}
