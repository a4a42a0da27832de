#include "openwec-source.hpp"

#include <sqlite3.h>

#include <memory>

namespace wec::tool {

namespace {

struct DatabaseDeleter
{
  void operator()(sqlite3 *db) const { sqlite3_close(db); }
};
struct StatementDeleter
{
  void operator()(sqlite3_stmt *statement) const { sqlite3_finalize(statement); }
};

std::string column_text(sqlite3_stmt *statement, int column)
{
  const auto *text = sqlite3_column_text(statement, column);
  return text ? std::string(reinterpret_cast<const char *>(text), sqlite3_column_bytes(statement, column)) : "";
}

std::string owner_of(const std::string &machine, OpenWecMethod method)
{
  const bool kerberos =
      method == OpenWecMethod::Kerberos || (method == OpenWecMethod::Auto && machine.find('@') != std::string::npos);
  return (kerberos ? "kerberos:" : "certificate:") + machine;
}

} // namespace

std::vector<Record> read_openwec(const OpenWecOptions &options)
{
  sqlite3 *raw = nullptr;
  const int opened = sqlite3_open_v2(options.database.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr);
  std::unique_ptr<sqlite3, DatabaseDeleter> db(raw);
  if (opened != SQLITE_OK)
    throw ToolError("cannot open the OpenWEC database " + options.database + ": " +
                    (db ? sqlite3_errmsg(db.get()) : sqlite3_errstr(opened)) +
                    " (give the file of OpenWEC's [database] path setting)");
  sqlite3_busy_timeout(db.get(), 5000); // a running OpenWEC may hold a write lock for a moment

  // The subscription column holds the subscription's UUID (OpenWEC's schema, migration 2).
  const char *query = "SELECT b.machine, s.name, b.bookmark FROM bookmarks AS b "
                      "JOIN subscriptions AS s ON s.uuid = b.subscription ORDER BY b.machine, s.name";
  sqlite3_stmt *raw_statement = nullptr;
  if (sqlite3_prepare_v2(db.get(), query, -1, &raw_statement, nullptr) != SQLITE_OK)
    throw ToolError(options.database + " is not an OpenWEC database (" + sqlite3_errmsg(db.get()) +
                    "); give the SQLite file of OpenWEC's [database] path setting");
  std::unique_ptr<sqlite3_stmt, StatementDeleter> statement(raw_statement);

  std::vector<Record> records;
  int step;
  while ((step = sqlite3_step(statement.get())) == SQLITE_ROW)
    {
      std::string subscription = column_text(statement.get(), 1);
      const auto renamed = options.subscription_names.find(subscription);
      if (renamed != options.subscription_names.end())
        subscription = renamed->second;
      records.push_back({owner_of(column_text(statement.get(), 0), options.method), std::move(subscription),
                         column_text(statement.get(), 2)});
    }
  if (step != SQLITE_DONE)
    throw ToolError("cannot read the bookmarks of " + options.database + ": " + sqlite3_errmsg(db.get()));
  return records;
}

} // namespace wec::tool
