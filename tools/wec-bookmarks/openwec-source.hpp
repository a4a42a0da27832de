// Bookmarks read from an OpenWEC database (SQLite), opened read-only. OpenWEC keeps one row per
// (machine, subscription UUID) in `bookmarks`, and the subscriptions' names in `subscriptions`.
// Its machine is the client certificate's CN or the Kerberos principal, the same identities the
// collector uses; which of the two it is, OpenWEC does not record: `method` says it.
#pragma once

#include "records.hpp"

#include <map>
#include <string>
#include <vector>

namespace wec::tool {

enum class OpenWecMethod
{
  Certificate,
  Kerberos,
  Auto, // a machine name with '@' is a Kerberos principal, any other a certificate CN
};

struct OpenWecOptions
{
  std::string database;
  OpenWecMethod method = OpenWecMethod::Certificate;
  std::map<std::string, std::string> subscription_names; // OpenWEC name → subscription name() here
};

// Every bookmark in the database, as records of this collector (not yet checked).
std::vector<Record> read_openwec(const OpenWecOptions &options);

} // namespace wec::tool
