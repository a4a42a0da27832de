#include "markup-limits.hpp"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <random>
#include <unordered_set>
#include <vector>

namespace wec::xml {
namespace {

bool is_xml_space(char c)
{
  return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

// Where a name ends for the scan. Everything else, non-ASCII bytes included, is taken as part
// of the name: libxml2 refuses what is not a name character, and stops there.
bool ends_name(char c)
{
  return is_xml_space(c) || c == '/' || c == '>' || c == '=' || c == '\'' || c == '"' || c == '<';
}

bool is_namespace_declaration(std::string_view attribute_name)
{
  return attribute_name == "xmlns" || attribute_name.substr(0, 6) == "xmlns:";
}

std::string position_text(std::string_view xml, std::size_t offset)
{
  offset = std::min(offset, xml.size());
  const std::string_view before = xml.substr(0, offset);
  const std::size_t line = 1 + static_cast<std::size_t>(std::count(before.begin(), before.end(), '\n'));
  const std::size_t line_start = before.rfind('\n');
  const std::size_t column = line_start == std::string_view::npos ? offset + 1 : offset - line_start;
  return " at line " + std::to_string(line) + ", column " + std::to_string(column);
}

// SipHash-1-3 under a key drawn once per process. std::hash is MurmurHash, whose collisions
// do not depend on its seed: a sender could prepare names that all land in one bucket.
class KeyedHash
{
public:
  std::size_t operator()(std::string_view bytes) const
  {
    static const Key key = random_key();
    std::uint64_t v0 = key.k0 ^ 0x736f6d6570736575ULL, v1 = key.k1 ^ 0x646f72616e646f6dULL;
    std::uint64_t v2 = key.k0 ^ 0x6c7967656e657261ULL, v3 = key.k1 ^ 0x7465646279746573ULL;
    auto round = [&] {
      v0 += v1, v1 = rotate(v1, 13), v1 ^= v0, v0 = rotate(v0, 32);
      v2 += v3, v3 = rotate(v3, 16), v3 ^= v2;
      v0 += v3, v3 = rotate(v3, 21), v3 ^= v0;
      v2 += v1, v1 = rotate(v1, 17), v1 ^= v2, v2 = rotate(v2, 32);
    };
    auto absorb = [&](std::uint64_t word) {
      v3 ^= word;
      round();
      v0 ^= word;
    };
    std::size_t i = 0;
    for (; i + 8 <= bytes.size(); i += 8)
      absorb(little_endian_word(bytes.data() + i, 8));
    absorb(little_endian_word(bytes.data() + i, bytes.size() - i) | (std::uint64_t(bytes.size()) << 56));
    v2 ^= 0xff;
    round(), round(), round();
    return static_cast<std::size_t>(v0 ^ v1 ^ v2 ^ v3);
  }

private:
  struct Key
  {
    std::uint64_t k0, k1;
  };

  static Key random_key()
  {
    std::random_device device;
    auto word = [&device] { return (std::uint64_t(device()) << 32) | device(); };
    return Key{word(), word()};
  }

  static std::uint64_t rotate(std::uint64_t x, int bits) { return (x << bits) | (x >> (64 - bits)); }

  static std::uint64_t little_endian_word(const char *bytes, std::size_t count)
  {
    std::uint64_t word = 0;
    for (std::size_t i = 0; i < count; ++i)
      word |= std::uint64_t(static_cast<unsigned char>(bytes[i])) << (8 * i);
    return word;
  }
};

class MarkupScanner
{
public:
  MarkupScanner(std::string_view xml, const MarkupLimits &limits, bool count_distinct_names)
    : xml_(xml), limits_(limits), count_distinct_names_(count_distinct_names)
  {
    open_elements_.reserve(static_cast<std::size_t>(std::max(limits.max_depth, 0)) + 1);
    if (count_distinct_names_)
      distinct_names_.reserve(limits.max_distinct_names + 1);
  }

  MarkupCheck run()
  {
    while (result_.outcome == MarkupCheck::Outcome::Within)
      {
        pos_ = xml_.find('<', pos_);
        if (pos_ == std::string_view::npos)
          break;
        scan_markup();
      }
    return std::move(result_);
  }

  std::size_t name_occurrences() const { return name_occurrences_; }

private:
  // pos_ is at a '<'.
  void scan_markup()
  {
    const std::string_view rest = xml_.substr(pos_);
    if (starts_with(rest, "<!--"))
      skip_past("-->", 4);
    else if (starts_with(rest, "<![CDATA["))
      skip_past("]]>", 9);
    else if (starts_with(rest, "<?"))
      skip_past("?>", 2);
    else if (starts_with(rest, "<!DOCTYPE"))
      refuse("DTD not allowed", pos_);
    else if (starts_with(rest, "<!"))
      malformed(pos_ + 1);
    else if (starts_with(rest, "</"))
      scan_end_tag();
    else
      scan_start_tag();
  }

  static bool starts_with(std::string_view text, std::string_view prefix) { return text.substr(0, prefix.size()) == prefix; }

  // An unterminated comment, CDATA section or PI swallows the rest for libxml2 too.
  void skip_past(std::string_view terminator, std::size_t opener_length)
  {
    const std::size_t end = xml_.find(terminator, pos_ + opener_length);
    if (end == std::string_view::npos)
      malformed(xml_.size());
    else
      pos_ = end + terminator.size();
  }

  void scan_end_tag()
  {
    pos_ += 2;
    if (read_name().empty())
      return malformed(pos_);
    skip_space();
    if (pos_ >= xml_.size() || xml_[pos_] != '>')
      return malformed(pos_);
    ++pos_;
    if (!open_elements_.empty())
      {
        namespaces_in_scope_ -= open_elements_.back();
        open_elements_.pop_back();
      }
  }

  void scan_start_tag()
  {
    const std::size_t tag_start = pos_++;
    if (open_elements_.size() + 1 > static_cast<std::size_t>(limits_.max_depth))
      return refuse("XML nesting deeper than " + std::to_string(limits_.max_depth) + " levels", tag_start);
    const std::size_t name_start = pos_;
    const std::string_view element_name = read_name();
    if (element_name.empty())
      return malformed(pos_);
    if (!note_name(element_name, name_start))
      return;

    int attributes = 0, namespace_declarations = 0;
    for (;;)
      {
        skip_space();
        if (pos_ >= xml_.size())
          return malformed(xml_.size());
        const char c = xml_[pos_];
        if (c == '>' || c == '/')
          {
            if (c == '/' && (pos_ + 1 >= xml_.size() || xml_[pos_ + 1] != '>'))
              return malformed(pos_ + 1);
            pos_ += c == '>' ? 1 : 2;
            if (c == '>') // an empty element's declarations go out of scope with it
              open_elements_.push_back(namespace_declarations);
            else
              namespaces_in_scope_ -= namespace_declarations;
            return;
          }

        const std::size_t attribute_start = pos_;
        const std::string_view name = read_name();
        if (name.empty())
          return malformed(pos_); // '=', a quote or '<' where an attribute name should be
        std::string_view value;
        if (!read_attribute_value(value))
          return;
        if (is_namespace_declaration(name))
          {
            if (++namespace_declarations > limits_.max_namespace_declarations_per_element)
              return refuse("more than " + std::to_string(limits_.max_namespace_declarations_per_element) +
                              " namespace declarations on one element",
                            attribute_start);
            if (++namespaces_in_scope_ > limits_.max_namespace_declarations_in_scope)
              return refuse("more than " + std::to_string(limits_.max_namespace_declarations_in_scope) +
                              " namespace declarations in scope",
                            attribute_start);
            // libxml2 keeps every namespace URI in its dictionary, like a name.
            if (!note_name(value, attribute_start))
              return;
          }
        else if (++attributes > limits_.max_attributes_per_element)
          return refuse("more than " + std::to_string(limits_.max_attributes_per_element) +
                          " attributes on one element",
                        attribute_start);
        if (!note_name(name, attribute_start))
          return;
      }
  }

  // After an attribute name: S? '=' S? and a quoted value without '<' (XML allows none there).
  bool read_attribute_value(std::string_view &value)
  {
    skip_space();
    if (pos_ >= xml_.size() || xml_[pos_] != '=')
      {
        malformed(pos_);
        return false;
      }
    ++pos_;
    skip_space();
    if (pos_ >= xml_.size() || (xml_[pos_] != '"' && xml_[pos_] != '\''))
      {
        malformed(pos_);
        return false;
      }
    const char quote = xml_[pos_++];
    const std::size_t value_start = pos_;
    while (pos_ < xml_.size() && xml_[pos_] != quote)
      {
        if (xml_[pos_] == '<')
          {
            malformed(pos_);
            return false;
          }
        ++pos_;
      }
    if (pos_ >= xml_.size())
      {
        malformed(xml_.size());
        return false;
      }
    value = xml_.substr(value_start, pos_ - value_start);
    ++pos_;
    return true;
  }

  std::string_view read_name()
  {
    const std::size_t start = pos_;
    while (pos_ < xml_.size() && !ends_name(xml_[pos_]))
      ++pos_;
    return xml_.substr(start, pos_ - start);
  }

  void skip_space()
  {
    while (pos_ < xml_.size() && is_xml_space(xml_[pos_]))
      ++pos_;
  }

  bool note_name(std::string_view name, std::size_t offset)
  {
    ++name_occurrences_;
    if (!count_distinct_names_ || !distinct_names_.insert(name).second ||
        distinct_names_.size() <= limits_.max_distinct_names)
      return true;
    refuse("more than " + std::to_string(limits_.max_distinct_names) +
             " distinct element names, attribute names and namespace URIs",
           offset);
    return false;
  }

  void refuse(const std::string &reason, std::size_t offset)
  {
    result_.outcome = MarkupCheck::Outcome::Refused;
    result_.offset = offset;
    result_.reason = reason + position_text(xml_, offset);
  }

  void malformed(std::size_t offset)
  {
    result_.outcome = MarkupCheck::Outcome::Malformed;
    result_.offset = std::min(offset, xml_.size());
  }

  std::string_view xml_;
  const MarkupLimits &limits_;
  const bool count_distinct_names_;
  std::size_t pos_ = 0;
  std::vector<int> open_elements_; // namespace declarations of each open element
  int namespaces_in_scope_ = 0;
  std::size_t name_occurrences_ = 0;
  std::unordered_set<std::string_view, KeyedHash> distinct_names_;
  MarkupCheck result_;
};

} // namespace

MarkupCheck check_markup(std::string_view xml, const MarkupLimits &limits)
{
  // Events and most envelopes hold fewer names than the limit: they cannot exceed it, and
  // need no set of names.
  MarkupScanner structure(xml, limits, false);
  MarkupCheck check = structure.run();
  if (check.outcome == MarkupCheck::Outcome::Refused || structure.name_occurrences() <= limits.max_distinct_names)
    return check;
  return MarkupScanner(xml, limits, true).run();
}

} // namespace wec::xml
