// What import and delete do to a BookmarkTarget, and what they report.
#pragma once

#include "records.hpp"
#include "target.hpp"

#include <ostream>
#include <vector>

namespace wec::tool {

struct ImportOptions
{
  bool overwrite = false;    // replace a different stored bookmark (otherwise it is kept and reported)
  bool skip_invalid = false; // import the valid records when some are not (otherwise nothing is written)
  bool dry_run = false;      // report what would happen, write nothing
};

struct ImportResult
{
  std::size_t added = 0, replaced = 0, unchanged = 0, kept = 0, invalid = 0;
};

// Checks every record first (canonical_bookmark, owner and subscription); then writes those that
// differ from what is stored. Running it twice with the same input leaves the same state. One line
// per change or conflict to `report`; throws ToolError when records are invalid and not skipped.
ImportResult import_records(std::vector<Record> records, BookmarkTarget &target, const ImportOptions &options,
                            std::ostream &report);

// Removes the selected bookmarks; one line each to `report`. Returns how many.
std::size_t delete_records(BookmarkTarget &target, const Selection &selection, bool dry_run, std::ostream &report);

// The `list` table: owner, subscription, channels, bytes.
void print_table(const std::vector<Record> &records, std::ostream &out);

} // namespace wec::tool
