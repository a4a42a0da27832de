#include "markup-limits.hpp"

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <exception>
#include <random>
#include <unordered_set>
#include <vector>

namespace wec::xml {
namespace {

bool is_xml_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

// Where a name ends for the scan. Everything else, non-ASCII bytes included, is taken as part
// of the name: libxml2 refuses what is not a name character, and stops there. A table: the
// scan runs over every event before libxml2 does, and must cost little next to it.
struct NameEnds
{
  bool table[256] = {};
  constexpr NameEnds()
  {
    for (unsigned char c : {' ', '\t', '\n', '\r', '/', '>', '=', '\'', '"', '<'})
      table[c] = true;
  }
};
constexpr NameEnds kNameEnds;

bool ends_name(char c) { return kNameEnds.table[static_cast<unsigned char>(c)]; }

// The first byte in [p, end) that is `a` or `b`, else end; eight bytes at a time (attribute
// values, a good part of an event's bytes, are short and must be searched for two bytes).
// A byte of (word ^ pattern) is zero where the word holds the pattern's byte; the lowest byte
// flagged by the zero-byte test is always a real one (little-endian only).
const char *find_either(const char *p, const char *end, char a, char b)
{
  static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__, "find_either() reads words little-endian");
  constexpr std::uint64_t kOnes = 0x0101010101010101ULL, kHighBits = 0x8080808080808080ULL;
  const std::uint64_t pattern_a = kOnes * static_cast<unsigned char>(a);
  const std::uint64_t pattern_b = kOnes * static_cast<unsigned char>(b);
  for (; end - p >= 8; p += 8)
    {
      std::uint64_t word;
      std::memcpy(&word, p, sizeof word);
      const std::uint64_t at_a = word ^ pattern_a, at_b = word ^ pattern_b;
      const std::uint64_t zero_bytes = (((at_a - kOnes) & ~at_a) | ((at_b - kOnes) & ~at_b)) & kHighBits;
      if (zero_bytes != 0)
        return p + (__builtin_ctzll(zero_bytes) >> 3);
    }
  while (p < end && *p != a && *p != b)
    ++p;
  return p;
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
    try
      {
        std::random_device device;
        auto word = [&device] { return (std::uint64_t(device()) << 32) | device(); };
        return Key{word(), word()};
      }
    catch (const std::exception &)
      {
        // No entropy source: a key that still differs between processes and runs (this is
        // reached from C callbacks, where an exception must not go).
        const auto now = static_cast<std::uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
        return Key{now, reinterpret_cast<std::uintptr_t>(&now) ^ (now << 17)};
      }
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
  // `open_elements` holds the namespace declarations of each open element; passed in so that
  // its storage is reused from one document to the next.
  MarkupScanner(std::string_view xml, const MarkupLimits &limits, std::vector<int> &open_elements,
                bool count_distinct_names)
      : begin_(xml.data()), end_(xml.data() + xml.size()), p_(begin_), limits_(limits), open_elements_(open_elements),
        count_distinct_names_(count_distinct_names)
  {
    open_elements_.clear();
    if (count_distinct_names_)
      distinct_names_.reserve(limits.max_distinct_names + 1);
  }

  MarkupCheck run()
  {
    while (result_.outcome == MarkupCheck::Outcome::Within && p_ < end_)
      {
        p_ = static_cast<const char *>(std::memchr(p_, '<', static_cast<std::size_t>(end_ - p_)));
        if (p_ == nullptr)
          break;
        scan_markup();
      }
    return std::move(result_);
  }

  std::size_t name_occurrences() const { return name_occurrences_; }

private:
  char peek(const char *p) const { return p < end_ ? *p : '\0'; }

  const char *skip_space(const char *p) const
  {
    while (p < end_ && is_xml_space(*p))
      ++p;
    return p;
  }

  const char *skip_name(const char *p) const
  {
    while (p < end_ && !ends_name(*p))
      ++p;
    return p;
  }

  bool at(std::string_view text) const
  {
    return static_cast<std::size_t>(end_ - p_) >= text.size() && std::memcmp(p_, text.data(), text.size()) == 0;
  }

  // p_ is at a '<'.
  void scan_markup()
  {
    const char next = peek(p_ + 1);
    if (next == '/')
      return scan_end_tag();
    if (next == '?')
      return skip_past("?>", 2);
    if (next != '!')
      return scan_start_tag();
    if (at("<!--"))
      skip_past("-->", 4);
    else if (at("<![CDATA["))
      skip_past("]]>", 9);
    else if (at("<!DOCTYPE"))
      refuse("DTD not allowed", p_);
    else
      malformed(p_ + 1);
  }

  // An unterminated comment, CDATA section or PI swallows the rest for libxml2 too.
  void skip_past(std::string_view terminator, std::size_t opener_length)
  {
    const std::string_view rest(p_ + opener_length, static_cast<std::size_t>(end_ - p_) - opener_length);
    const std::size_t found = rest.find(terminator);
    if (found == std::string_view::npos)
      malformed(end_);
    else
      p_ = rest.data() + found + terminator.size();
  }

  void scan_end_tag()
  {
    const char *name = p_ + 2;
    const char *p = skip_name(name);
    if (p == name)
      return malformed(p);
    p = skip_space(p);
    if (peek(p) != '>')
      return malformed(p);
    p_ = p + 1;
    if (!open_elements_.empty())
      {
        namespaces_in_scope_ -= open_elements_.back();
        open_elements_.pop_back();
      }
  }

  void scan_start_tag()
  {
    if (open_elements_.size() >= static_cast<std::size_t>(std::max(limits_.max_depth, 0)))
      return refuse("XML nesting deeper than " + std::to_string(limits_.max_depth) + " levels", p_);
    const char *name = p_ + 1;
    const char *p = skip_name(name);
    if (p == name)
      return malformed(p);
    if (!note_name(std::string_view(name, static_cast<std::size_t>(p - name)), name))
      return;

    int attributes = 0, namespace_declarations = 0;
    for (;;)
      {
        p = skip_space(p);
        if (p >= end_)
          return malformed(end_);
        if (*p == '>')
          {
            open_elements_.push_back(namespace_declarations);
            p_ = p + 1;
            return;
          }
        if (*p == '/')
          {
            if (peek(p + 1) != '>')
              return malformed(p + 1);
            namespaces_in_scope_ -= namespace_declarations; // out of scope with the empty element
            p_ = p + 2;
            return;
          }

        // Name S? '=' S? and a quoted value without '<' (XML allows none there).
        const char *attribute = p;
        p = skip_name(p);
        if (p == attribute)
          return malformed(p); // '=', a quote or '<' where an attribute name should be
        const std::string_view attribute_name(attribute, static_cast<std::size_t>(p - attribute));
        p = skip_space(p);
        if (peek(p) != '=')
          return malformed(p);
        p = skip_space(p + 1);
        const char quote = peek(p);
        if (quote != '"' && quote != '\'')
          return malformed(p);
        const char *value = ++p;
        p = find_either(p, end_, quote, '<');
        if (p >= end_ || *p == '<')
          return malformed(p);
        const std::string_view value_text(value, static_cast<std::size_t>(p - value));
        ++p;

        if (is_namespace_declaration(attribute_name))
          {
            if (++namespace_declarations > limits_.max_namespace_declarations_per_element)
              return refuse("more than " + std::to_string(limits_.max_namespace_declarations_per_element) +
                                " namespace declarations on one element",
                            attribute);
            if (++namespaces_in_scope_ > limits_.max_namespace_declarations_in_scope)
              return refuse("more than " + std::to_string(limits_.max_namespace_declarations_in_scope) +
                                " namespace declarations in scope",
                            attribute);
            // libxml2 keeps every namespace URI in its dictionary, like a name.
            if (!note_name(value_text, attribute))
              return;
          }
        else if (++attributes > limits_.max_attributes_per_element)
          return refuse("more than " + std::to_string(limits_.max_attributes_per_element) +
                            " attributes on one element",
                        attribute);
        if (!note_name(attribute_name, attribute))
          return;
      }
  }

  bool note_name(std::string_view name, const char *where)
  {
    ++name_occurrences_;
    if (!count_distinct_names_ || !distinct_names_.insert(name).second ||
        distinct_names_.size() <= limits_.max_distinct_names)
      return true;
    refuse("more than " + std::to_string(limits_.max_distinct_names) +
               " distinct element names, attribute names and namespace URIs",
           where);
    return false;
  }

  void refuse(const std::string &reason, const char *where)
  {
    result_.outcome = MarkupCheck::Outcome::Refused;
    result_.offset = static_cast<std::size_t>(where - begin_);
    result_.reason =
        reason + position_text(std::string_view(begin_, static_cast<std::size_t>(end_ - begin_)), result_.offset);
  }

  void malformed(const char *where)
  {
    result_.outcome = MarkupCheck::Outcome::Malformed;
    result_.offset = static_cast<std::size_t>(std::min(where, end_) - begin_);
  }

  const char *const begin_;
  const char *const end_;
  const char *p_;
  const MarkupLimits &limits_;
  std::vector<int> &open_elements_;
  const bool count_distinct_names_;
  int namespaces_in_scope_ = 0;
  std::size_t name_occurrences_ = 0;
  std::unordered_set<std::string_view, KeyedHash> distinct_names_;
  MarkupCheck result_;
};

} // namespace

MarkupCheck check_markup(std::string_view xml, const MarkupLimits &limits)
{
  thread_local std::vector<int> open_elements;
  // Events and most envelopes hold fewer names than the limit: they cannot exceed it, and
  // need no set of names.
  MarkupScanner structure(xml, limits, open_elements, false);
  MarkupCheck check = structure.run();
  if (check.outcome == MarkupCheck::Outcome::Refused || structure.name_occurrences() <= limits.max_distinct_names)
    return check;
  return MarkupScanner(xml, limits, open_elements, true).run();
}

} // namespace wec::xml
