// A forwarder's position: the <BookmarkList> of its w:Bookmark header. Never stored or echoed as
// the client wrote it: parsed, re-serialised (every name checked, every value escaped) and
// size-capped, so a bookmark can never carry markup into the next Subscribe.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

struct _xmlNode;

namespace wec::wsman {

// One <Bookmark> per channel of the query, each about 100 to 250 bytes: 64 KiB holds a query of
// 256 channels with long names, several times what real subscriptions read.
constexpr std::size_t kMaxBookmarkBytes = 64 * 1024;

enum class BookmarkResult
{
  Valid,  // `out` holds the canonical <BookmarkList>
  Empty,  // nothing but whitespace: no position to store
  Refused // `error` says why in one line
};

// Canonical form of the content of a parsed w:Bookmark element.
BookmarkResult bookmark_from_header(const _xmlNode *header, std::string &out, std::string &error);

// Canonical form of a stored bookmark (checked again before it goes into a response: the store
// may hold one written by an older version, or by hand).
BookmarkResult canonical_bookmark(std::string_view xml, std::string &out, std::string &error);

} // namespace wec::wsman
