// What wec-bookmarks moves: one bookmark per (owner, subscription), as the collector keys them
// (bookmarks/bookmark-store.hpp), the JSON form of a set of them, and the checks every bookmark
// passes before it is written anywhere.
#pragma once

#include <istream>
#include <optional>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

namespace wec::tool {

// A failure that ends the command: one line that says what is wrong and what to do.
class ToolError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

struct Record
{
  std::string owner;        // "<method>:<identity>": certificate:win01.corp.example, kerberos:WIN01$@CORP.EXAMPLE
  std::string subscription; // the subscription's name()
  std::string bookmark;     // the forwarder's <BookmarkList>
};

// Which bookmarks a command works on: all, or those of one owner and/or one subscription.
struct Selection
{
  std::optional<std::string> owner;
  std::optional<std::string> subscription;
  bool matches(const Record &record) const;
};

// The export format: a JSON array of {"owner", "subscription", "bookmark"} objects, in this order.
void write_json(const std::vector<Record> &records, std::ostream &out);
// Reads that format; `origin` names the input in errors. Throws ToolError with the position of a
// syntax error or the index of a malformed entry.
std::vector<Record> read_json(std::istream &in, const std::string &origin);

// Checks the owner and subscription and puts the bookmark into the collector's canonical form
// (wsman::canonical_bookmark); the reason when the record cannot be stored.
std::optional<std::string> canonicalize(Record &record);

// Number of <Bookmark> elements (channels) in a <BookmarkList>.
std::size_t channel_count(const std::string &bookmark);

} // namespace wec::tool
