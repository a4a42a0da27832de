// A linear pass over the raw bytes of an XML document that refuses, before libxml2 sees it, the
// shapes libxml2 2.9 parses in super-linear time (measured, see docs/hostile-input.md rows 8c and 8d):
// it compares every attribute and namespace declaration of an element with every other one,
// searches all namespace declarations in scope for every prefixed name, and its dictionary of
// names stops growing at about 16,000 buckets, so that every further name walks longer chains.
//
// The scan follows the markup the way libxml2 does (comments, CDATA sections, processing
// instructions, quoted attribute values that contain '>'), so it sees every tag libxml2 would
// parse, as long as libxml2 stops at its first error: see hardened-libxml.hpp.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace wec::xml {

struct MarkupLimits
{
  int max_depth = 64;                  // the root element is level 1
  int max_attributes_per_element = 64; // xmlns declarations not included
  int max_namespace_declarations_per_element = 32;
  int max_namespace_declarations_in_scope = 64; // on the element and its ancestors
  std::size_t max_distinct_names = 10000;       // element and attribute names, namespace URIs
};

struct MarkupCheck
{
  enum class Outcome
  {
    Within,    // libxml2 may parse the whole document
    Refused,   // over a limit, or a DTD: `reason` says which and where
    Malformed, // the markup breaks at `offset`; libxml2 refuses it there and needs no byte after it
  };
  Outcome outcome = Outcome::Within;
  std::size_t offset = 0;
  std::string reason; // "more than 64 attributes on one element at line 3, column 17"
};

// Linear in the size of `xml`; a document with more name occurrences than max_distinct_names
// is scanned a second time, to count its distinct names.
MarkupCheck check_markup(std::string_view xml, const MarkupLimits &limits);

} // namespace wec::xml
