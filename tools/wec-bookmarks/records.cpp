#include "records.hpp"

#include "bookmarks/bookmark-store.hpp"
#include "wsman/bookmark.hpp"

#include <nlohmann/json.hpp>

namespace wec::tool {

namespace {

bool has_control_character(const std::string &text)
{
  for (unsigned char c : text)
    if (c < 0x20 || c == 0x7f)
      return true;
  return false;
}

std::string string_field(const nlohmann::json &entry, const char *name, std::size_t index, const std::string &origin)
{
  const auto it = entry.find(name);
  if (it == entry.end() || !it->is_string())
    throw ToolError(origin + ": entry " + std::to_string(index) + " has no string \"" + name +
                    "\" (each entry is {\"owner\": ..., \"subscription\": ..., \"bookmark\": ...})");
  return it->get<std::string>();
}

} // namespace

bool Selection::matches(const Record &record) const
{
  return (!owner || *owner == record.owner) && (!subscription || *subscription == record.subscription);
}

void write_json(const std::vector<Record> &records, std::ostream &out)
{
  nlohmann::ordered_json array = nlohmann::ordered_json::array();
  for (const auto &record : records)
    array.push_back({{"owner", record.owner}, {"subscription", record.subscription}, {"bookmark", record.bookmark}});
  // Invalid UTF-8 (an identity or a stored bookmark of an old version) is replaced, not fatal.
  out << array.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << '\n';
}

std::vector<Record> read_json(std::istream &in, const std::string &origin)
{
  nlohmann::json document;
  try
    {
      document = nlohmann::json::parse(in);
    }
  catch (const nlohmann::json::parse_error &e)
    {
      throw ToolError(origin + " is not valid JSON (byte " + std::to_string(e.byte) +
                      "); give the output of wec-bookmarks export");
    }
  if (!document.is_array())
    throw ToolError(origin + " is not a JSON array; give the output of wec-bookmarks export");
  std::vector<Record> records;
  for (std::size_t i = 0; i < document.size(); ++i)
    {
      const auto &entry = document[i];
      if (!entry.is_object())
        throw ToolError(origin + ": entry " + std::to_string(i) + " is not an object");
      records.push_back({string_field(entry, "owner", i, origin), string_field(entry, "subscription", i, origin),
                         string_field(entry, "bookmark", i, origin)});
    }
  return records;
}

std::optional<std::string> canonicalize(Record &record)
{
  if (!is_owner(record.owner))
    return "the owner must be certificate:<CN> or kerberos:<principal>";
  if (has_control_character(record.owner))
    return "the owner holds control characters";
  if (record.subscription.empty() || has_control_character(record.subscription))
    return "the subscription name is empty or holds control characters";
  std::string canonical, error;
  switch (wsman::canonical_bookmark(record.bookmark, canonical, error))
    {
    case wsman::BookmarkResult::Valid: record.bookmark = std::move(canonical); return std::nullopt;
    case wsman::BookmarkResult::Empty: return "the bookmark is empty";
    case wsman::BookmarkResult::Refused: break;
    }
  return "the bookmark is not one the collector accepts: " + error;
}

std::size_t channel_count(const std::string &bookmark)
{
  std::size_t count = 0;
  for (std::size_t at = bookmark.find("<Bookmark "); at != std::string::npos; at = bookmark.find("<Bookmark ", at + 1))
    ++count;
  return count;
}

} // namespace wec::tool
