// Where a forwarder's position (its <BookmarkList>) is kept, per (owner, subscription). The owner
// is "<method>:<identity>": "certificate:win01.corp.example" or "kerberos:WIN01$@CORP.EXAMPLE".
#pragma once

#include <string>
#include <string_view>

namespace wec {

// Has `text` the owner's form: a method the collector knows, ':', and an identity?
inline bool is_owner(std::string_view text)
{
  for (std::string_view method : {"certificate:", "kerberos:"})
    if (text.size() > method.size() && text.compare(0, method.size(), method) == 0)
      return true;
  return false;
}

class BookmarkStore
{
public:
  enum class LoadStatus
  {
    Found,       // `bookmark` holds it
    None,        // no bookmark stored for this owner and subscription
    Unavailable, // the store cannot tell now (`error` says why): offering no bookmark would replay or skip
  };
  struct LoadResult
  {
    LoadStatus status = LoadStatus::None;
    std::string bookmark;
    std::string error;
  };

  enum class SaveResult
  {
    Committed, // durable now
    Pending,   // accepted, not durable yet: ask again with the same arguments later
    Failed,    // cannot be stored; `error` says why
  };

  virtual ~BookmarkStore() = default;
  // Called on the worker thread, which serves every connection: returns within a bounded time.
  virtual LoadResult load(const std::string &owner, const std::string &subscription) = 0;
  virtual SaveResult save(const std::string &owner, const std::string &subscription, const std::string &bookmark,
                          std::string &error) = 0;
};

} // namespace wec
