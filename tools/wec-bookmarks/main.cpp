// wec-bookmarks: lists, exports, imports and deletes the bookmarks of windowsevent() collectors,
// in a syslog-ng persist file or in Redis, and imports those of an OpenWEC database.
#include "openwec-source.hpp"
#include "persist-target.hpp"
#include "redis-target.hpp"
#include "transfer.hpp"

#include <getopt.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>

namespace {

using namespace wec::tool;

constexpr int kExitError = 1;
constexpr int kExitUsage = 2;
constexpr int kExitKept = 3;

const char *const kHelp = R"(Usage: wec-bookmarks COMMAND [OPTIONS]

Lists, exports, imports and deletes the bookmarks (the forwarders' positions) of the
windowsevent() collector: one per owner ("certificate:<CN>" or "kerberos:<principal>") and
subscription name.

Commands:
  list      one line per bookmark: owner, subscription, channels, bytes
  export    the bookmarks as JSON, to standard output or --output FILE:
            [{"owner": "...", "subscription": "...", "bookmark": "<BookmarkList>...</BookmarkList>"}]
  import    bookmarks from that JSON (standard input or --input FILE), or from an OpenWEC
            database (--openwec-db FILE). Every bookmark is checked as the collector checks it
            first; nothing is written when one is invalid (see --skip-invalid). A stored bookmark
            that differs is kept and reported (see --overwrite). Running it twice changes nothing.
  delete    removes the bookmarks chosen with --owner and/or --subscription, or --all

Where the bookmarks are (one of):
  --persist-file FILE     syslog-ng's persist file (default location:
                          /var/lib/syslog-ng/syslog-ng.persist). list and export read a private
                          copy: they work while syslog-ng runs, and on a read-only backup. import
                          and delete rewrite the file: stop syslog-ng first (they refuse while a
                          process has the file open); keep a copy of it.
  --persist-name NAME     the source's persist-name() (default: "default")
  --redis-host HOST       a Redis server (--redis-port, default 6379)
  --sentinel HOST:PORT    a Redis Sentinel (repeat for several) that names the master of
                          --master-name NAME; --sentinel-password PASSWORD if the sentinels need one
  --redis-username NAME   an ACL user (Redis 6 and later)
  --redis-password PASS   or the environment variable WEC_REDIS_PASSWORD (not seen in ps)
  --redis-db N            the database number (default 0)
  --key-prefix PREFIX     the collectors' key-prefix() (default "wec:"); key = prefix + owner

Choosing bookmarks (list, export, delete, and import's input):
  --owner OWNER           only this owner, e.g. certificate:win01.corp.example
  --subscription NAME     only this subscription
  --all                   delete: every bookmark

Import:
  --input FILE            the JSON (default: standard input)
  --openwec-db FILE       OpenWEC's SQLite database, opened read-only, instead of JSON
  --openwec-method M      how those machines authenticate: certificate (OpenWEC's machine is
                          the certificate's CN), kerberos (it is the principal, WIN01$@REALM),
                          or auto (a name with '@' is a principal). Required with --openwec-db.
  --map-subscription OPENWEC=NAME
                          OpenWEC's subscription OPENWEC is subscription(name("NAME")) here
                          (repeatable; without it the names are kept)
  --overwrite             replace stored bookmarks that differ
  --skip-invalid          import the valid bookmarks when some are not
  --dry-run               import, delete: report what would change, write nothing

Output:
  --output FILE           export: write here instead of standard output

Moving a node's bookmarks into Redis (syslog-ng stopped, or a copy of its persist file):
  wec-bookmarks export --persist-file /var/lib/syslog-ng/syslog-ng.persist |
      wec-bookmarks import --redis-host redis.corp.example

Exit status: 0 done; 1 failed: the message says why (a persist file is left as it was; in
Redis what was written before the failure stays, and running the command again is safe);
2 wrong usage; 3 import done, but stored bookmarks that differ were kept (listed; --overwrite
replaces them).
)";

struct Options
{
  std::string command;
  std::string persist_file;
  std::string persist_name = "default";
  bool persist_name_given = false;
  wec::RedisOptions redis; // the collector's bookmarks(redis()) options; port 0: 6379
  Selection selection;
  bool all = false;
  std::string input = "-";
  std::string output;
  std::string openwec_db;
  std::string openwec_method;
  OpenWecOptions openwec;
  ImportOptions import;
};

class UsageError : public std::runtime_error
{
public:
  using std::runtime_error::runtime_error;
};

int to_number(const char *text, const char *option, int low, int high)
{
  char *end = nullptr;
  const long value = std::strtol(text, &end, 10);
  if (!*text || *end || value < low || value > high)
    throw UsageError(std::string("--") + option + " takes a number from " + std::to_string(low) + " to " +
                     std::to_string(high) + ", not '" + text + "'");
  return static_cast<int>(value);
}

Options parse(int argc, char **argv)
{
  enum
  {
    PersistFile = 256,
    PersistName,
    RedisHost,
    RedisPort,
    RedisUsername,
    RedisPassword,
    RedisDb,
    KeyPrefix,
    Sentinel,
    MasterName,
    SentinelPassword,
    Owner,
    Subscription,
    All,
    Input,
    Output,
    OpenwecDb,
    OpenwecMethodOption,
    MapSubscription,
    Overwrite,
    SkipInvalid,
    DryRun,
    Help,
  };
  static const option long_options[] = {
      {"persist-file", required_argument, nullptr, PersistFile},
      {"persist-name", required_argument, nullptr, PersistName},
      {"redis-host", required_argument, nullptr, RedisHost},
      {"redis-port", required_argument, nullptr, RedisPort},
      {"redis-username", required_argument, nullptr, RedisUsername},
      {"redis-password", required_argument, nullptr, RedisPassword},
      {"redis-db", required_argument, nullptr, RedisDb},
      {"key-prefix", required_argument, nullptr, KeyPrefix},
      {"sentinel", required_argument, nullptr, Sentinel},
      {"master-name", required_argument, nullptr, MasterName},
      {"sentinel-password", required_argument, nullptr, SentinelPassword},
      {"owner", required_argument, nullptr, Owner},
      {"subscription", required_argument, nullptr, Subscription},
      {"all", no_argument, nullptr, All},
      {"input", required_argument, nullptr, Input},
      {"output", required_argument, nullptr, Output},
      {"openwec-db", required_argument, nullptr, OpenwecDb},
      {"openwec-method", required_argument, nullptr, OpenwecMethodOption},
      {"map-subscription", required_argument, nullptr, MapSubscription},
      {"overwrite", no_argument, nullptr, Overwrite},
      {"skip-invalid", no_argument, nullptr, SkipInvalid},
      {"dry-run", no_argument, nullptr, DryRun},
      {"help", no_argument, nullptr, Help},
      {nullptr, 0, nullptr, 0},
  };
  Options o;
  if (const char *password = std::getenv("WEC_REDIS_PASSWORD"))
    o.redis.password = password;
  opterr = 0;
  int c;
  while ((c = getopt_long(argc, argv, "h", long_options, nullptr)) != -1)
    {
      switch (c)
        {
        case PersistFile: o.persist_file = optarg; break;
        case PersistName:
          o.persist_name = optarg;
          o.persist_name_given = true;
          break;
        case RedisHost: o.redis.host = optarg; break;
        case RedisPort: o.redis.port = to_number(optarg, "redis-port", 1, 65535); break;
        case RedisUsername: o.redis.username = optarg; break;
        case RedisPassword: o.redis.password = optarg; break;
        case RedisDb: o.redis.database = to_number(optarg, "redis-db", 0, 1 << 20); break;
        case KeyPrefix: o.redis.key_prefix = optarg; break;
          case Sentinel: {
            const std::optional<wec::RedisAddress> sentinel = wec::RedisAddress::parse(optarg);
            if (!sentinel)
              throw UsageError(std::string("--sentinel ") + optarg + " is not HOST:PORT (for example 10.0.0.5:26379)");
            o.redis.sentinels.push_back(*sentinel);
            break;
          }
        case MasterName: o.redis.master_name = optarg; break;
        case SentinelPassword: o.redis.sentinel_password = optarg; break;
        case Owner: o.selection.owner = optarg; break;
        case Subscription: o.selection.subscription = optarg; break;
        case All: o.all = true; break;
        case Input: o.input = optarg; break;
        case Output: o.output = optarg; break;
        case OpenwecDb: o.openwec_db = optarg; break;
        case OpenwecMethodOption: o.openwec_method = optarg; break;
          case MapSubscription: {
            const char *equals = std::strchr(optarg, '=');
            if (!equals || equals == optarg || !equals[1])
              throw UsageError(std::string("--map-subscription takes OPENWEC_NAME=NAME, not '") + optarg + "'");
            o.openwec.subscription_names[std::string(optarg, static_cast<std::size_t>(equals - optarg))] = equals + 1;
            break;
          }
        case Overwrite: o.import.overwrite = true; break;
        case SkipInvalid: o.import.skip_invalid = true; break;
        case DryRun: o.import.dry_run = true; break;
        case Help:
        case 'h': o.command = "help"; return o;
        default:
          throw UsageError(optopt ? std::string("unknown option or missing value: -") + static_cast<char>(optopt)
                                  : std::string("unknown option or missing value: ") + argv[optind - 1]);
        }
    }
  if (optind >= argc)
    throw UsageError("say what to do: list, export, import or delete");
  o.command = argv[optind++];
  if (optind < argc)
    throw UsageError(std::string("unexpected argument '") + argv[optind] + "'");
  return o;
}

void check(const Options &o)
{
  const bool is_import = o.command == "import", is_delete = o.command == "delete", is_export = o.command == "export";
  if (!is_import && !is_delete && !is_export && o.command != "list")
    throw UsageError("unknown command '" + o.command + "': use list, export, import or delete");
  const int places = !o.persist_file.empty() + !o.redis.host.empty() + !o.redis.sentinels.empty();
  if (places != 1)
    throw UsageError(places ? "give only one of --persist-file, --redis-host and --sentinel"
                            : "say where the bookmarks are: --persist-file FILE, --redis-host HOST, or "
                              "--sentinel HOST:PORT --master-name NAME");
  if (!o.redis.sentinels.empty() && o.redis.master_name.empty())
    throw UsageError("--sentinel needs --master-name (the name of the sentinels' 'monitor' line)");
  if (o.persist_file.empty() && o.persist_name_given)
    throw UsageError("--persist-name applies to --persist-file only: Redis keys are not scoped by it");
  if (!o.persist_file.empty() && (o.redis.port != 0 || !o.redis.username.empty() || o.redis.database != 0))
    throw UsageError("--redis-* options apply to --redis-host and --sentinel only");
  if (!is_import && (o.import.overwrite || o.import.skip_invalid || o.input != "-" || !o.openwec_db.empty()))
    throw UsageError("--input, --openwec-db, --overwrite and --skip-invalid apply to import only");
  if (o.import.dry_run && !is_import && !is_delete)
    throw UsageError("--dry-run applies to import and delete only");
  if (!o.output.empty() && !is_export)
    throw UsageError("--output applies to export only");
  if (o.all && !is_delete)
    throw UsageError("--all applies to delete only");
  if (is_delete && !o.all && !o.selection.owner && !o.selection.subscription)
    throw UsageError("say which bookmarks to delete: --owner, --subscription, or --all");
  if (is_delete && o.all && (o.selection.owner || o.selection.subscription))
    throw UsageError("--all deletes every bookmark: give it without --owner and --subscription");
  if (!o.openwec_db.empty() && o.input != "-")
    throw UsageError("give --input or --openwec-db, not both");
  if (!o.openwec_db.empty() && o.openwec_method.empty())
    throw UsageError("--openwec-db needs --openwec-method certificate, kerberos or auto: how the machines "
                     "authenticate (OpenWEC does not record it)");
  if (o.openwec_db.empty() && (!o.openwec_method.empty() || !o.openwec.subscription_names.empty()))
    throw UsageError("--openwec-method and --map-subscription apply to --openwec-db only");
  if (!o.openwec_method.empty() && o.openwec_method != "certificate" && o.openwec_method != "kerberos" &&
      o.openwec_method != "auto")
    throw UsageError("--openwec-method takes certificate, kerberos or auto, not '" + o.openwec_method + "'");
}

std::unique_ptr<BookmarkTarget> open_target(const Options &o, bool writes)
{
  if (!o.persist_file.empty())
    return std::make_unique<PersistFileTarget>(o.persist_file, o.persist_name,
                                               writes ? PersistFileTarget::Mode::Write : PersistFileTarget::Mode::Read);
  return std::make_unique<RedisTarget>(o.redis);
}

std::vector<Record> selected(BookmarkTarget &target, const Selection &selection)
{
  std::vector<Record> records;
  for (auto &record : target.list())
    if (selection.matches(record))
      records.push_back(std::move(record));
  return records;
}

// When a persist file has nothing under the persist-name given, say which names it has.
void hint_other_persist_names(BookmarkTarget &target, const Options &o, std::size_t found)
{
  auto *persist = dynamic_cast<PersistFileTarget *>(&target);
  if (!persist || found)
    return;
  std::string names;
  for (const auto &name : persist->persist_names())
    if (name != o.persist_name)
      names += (names.empty() ? "" : ", ") + name;
  if (!names.empty())
    std::cerr << "wec-bookmarks: no bookmarks under persist-name '" << o.persist_name
              << "'; this file has bookmarks under --persist-name " << names << '\n';
}

std::vector<Record> read_input(const Options &o)
{
  std::vector<Record> records;
  if (!o.openwec_db.empty())
    {
      OpenWecOptions openwec = o.openwec;
      openwec.database = o.openwec_db;
      openwec.method = o.openwec_method == "kerberos" ? OpenWecMethod::Kerberos
                       : o.openwec_method == "auto"   ? OpenWecMethod::Auto
                                                      : OpenWecMethod::Certificate;
      records = read_openwec(openwec);
    }
  else if (o.input == "-")
    records = read_json(std::cin, "standard input");
  else
    {
      std::ifstream in(o.input, std::ios::binary);
      if (!in)
        throw ToolError("cannot read " + o.input + ": " + std::strerror(errno));
      records = read_json(in, o.input);
    }
  std::vector<Record> chosen;
  for (auto &record : records)
    if (o.selection.matches(record))
      chosen.push_back(std::move(record));
  return chosen;
}

int run(const Options &o)
{
  if (o.command == "list" || o.command == "export")
    {
      auto target = open_target(o, false);
      const std::vector<Record> records = selected(*target, o.selection);
      hint_other_persist_names(*target, o, records.size());
      if (o.command == "list")
        {
          print_table(records, std::cout);
          return 0;
        }
      if (o.output.empty())
        write_json(records, std::cout);
      else
        {
          std::ofstream out(o.output, std::ios::binary | std::ios::trunc);
          write_json(records, out);
          if (!out.flush())
            throw ToolError("cannot write " + o.output + ": " + std::strerror(errno));
        }
      std::cerr << "wec-bookmarks: " << records.size() << " bookmarks exported from " << target->describe() << '\n';
      return 0;
    }
  if (o.command == "import")
    {
      std::vector<Record> records = read_input(o); // before the target: a bad input opens nothing
      auto target = open_target(o, !o.import.dry_run);
      const ImportResult r = import_records(std::move(records), *target, o.import, std::cout);
      std::cout << (o.import.dry_run ? "dry run, nothing written: " : "") << "import into " << target->describe()
                << ": " << r.added << " added, " << r.replaced << " replaced, " << r.unchanged << " unchanged, "
                << r.kept << " kept" << (r.kept ? " (different bookmark stored; --overwrite replaces it)" : "")
                << (r.invalid ? ", " + std::to_string(r.invalid) + " invalid skipped" : "") << '\n';
      return r.kept ? kExitKept : 0;
    }
  auto target = open_target(o, !o.import.dry_run);
  const std::size_t deleted = delete_records(*target, o.selection, o.import.dry_run, std::cout);
  hint_other_persist_names(*target, o, deleted);
  std::cout << (o.import.dry_run ? "dry run, nothing written: " : "") << deleted << " deleted from "
            << target->describe() << '\n';
  return 0;
}

} // namespace

int main(int argc, char **argv)
{
  Options options;
  try
    {
      options = parse(argc, argv);
      if (options.command == "help")
        {
          std::cout << kHelp;
          return 0;
        }
      check(options);
    }
  catch (const UsageError &e)
    {
      std::cerr << "wec-bookmarks: " << e.what() << " (see wec-bookmarks --help)\n";
      return kExitUsage;
    }
  try
    {
      return run(options);
    }
  catch (const ToolError &e)
    {
      std::cerr << "wec-bookmarks: " << e.what() << '\n';
      return kExitError;
    }
  catch (const std::exception &e)
    {
      std::cerr << "wec-bookmarks: unexpected failure: " << e.what() << '\n';
      return kExitError;
    }
}
