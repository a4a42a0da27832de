#include "transfer.hpp"

#include <algorithm>
#include <iomanip>
#include <map>
#include <utility>

namespace wec::tool {

namespace {

using Key = std::pair<std::string, std::string>; // owner, subscription

std::string label(const Record &record) { return record.owner + "  " + record.subscription; }

// Canonical records, one per key; the invalid ones reported. A key given twice counts once when
// both bookmarks agree, and is invalid when they differ.
std::vector<Record> checked_records(std::vector<Record> records, std::ostream &report, std::size_t &invalid)
{
  std::map<Key, Record> by_key;
  std::map<Key, bool> conflicting;
  for (std::size_t i = 0; i < records.size(); ++i)
    {
      Record &record = records[i];
      if (const auto reason = canonicalize(record))
        {
          report << "invalid   entry " << i << " (" << label(record) << "): " << *reason << '\n';
          ++invalid;
          continue;
        }
      Key key{record.owner, record.subscription};
      const auto [it, inserted] = by_key.emplace(key, record);
      if (!inserted && it->second.bookmark != record.bookmark && !conflicting[key])
        {
          report << "invalid   " << label(record) << ": given twice with different bookmarks\n";
          conflicting[key] = true;
          invalid += 2;
        }
    }
  std::vector<Record> result;
  for (auto &[key, record] : by_key)
    if (!conflicting[key])
      result.push_back(std::move(record));
  return result;
}

} // namespace

ImportResult import_records(std::vector<Record> records, BookmarkTarget &target, const ImportOptions &options,
                            std::ostream &report)
{
  ImportResult result;
  std::vector<Record> valid = checked_records(std::move(records), report, result.invalid);
  if (result.invalid && !options.skip_invalid)
    throw ToolError(std::to_string(result.invalid) +
                    " entries cannot be imported (listed above); nothing was written: correct them, or add "
                    "--skip-invalid to import the others");
  for (const auto &record : valid)
    {
      const std::optional<std::string> stored = target.get(record.owner, record.subscription);
      if (stored && *stored == record.bookmark)
        {
          ++result.unchanged;
          continue;
        }
      if (stored && !options.overwrite)
        {
          report << "kept      " << label(record) << ": a different bookmark is stored; --overwrite replaces it\n";
          ++result.kept;
          continue;
        }
      if (!options.dry_run && !target.put(record, !stored))
        {
          // written meanwhile by a running collector: its bookmark is newer than any import
          report << "kept      " << label(record) << ": a collector stored one meanwhile\n";
          ++result.kept;
          continue;
        }
      report << (stored ? "replaced  " : "added     ") << label(record) << '\n';
      ++(stored ? result.replaced : result.added);
    }
  if (!options.dry_run)
    target.commit();
  return result;
}

std::size_t delete_records(BookmarkTarget &target, const Selection &selection, bool dry_run, std::ostream &report)
{
  std::size_t deleted = 0;
  for (const auto &record : target.list())
    {
      if (!selection.matches(record))
        continue;
      if (dry_run || target.remove(record.owner, record.subscription))
        {
          report << "deleted   " << label(record) << '\n';
          ++deleted;
        }
    }
  if (!dry_run)
    target.commit();
  return deleted;
}

void print_table(const std::vector<Record> &records, std::ostream &out)
{
  std::size_t owner_width = 5, subscription_width = 12;
  for (const auto &record : records)
    {
      owner_width = std::max(owner_width, record.owner.size());
      subscription_width = std::max(subscription_width, record.subscription.size());
    }
  out << std::left << std::setw(owner_width) << "OWNER"
      << "  " << std::setw(subscription_width) << "SUBSCRIPTION"
      << "  CHANNELS  BYTES\n";
  for (const auto &record : records)
    out << std::left << std::setw(owner_width) << record.owner << "  " << std::setw(subscription_width)
        << record.subscription << "  " << std::right << std::setw(8) << channel_count(record.bookmark) << "  "
        << std::setw(5) << record.bookmark.size() << std::left << '\n';
}

} // namespace wec::tool
