// The Redis bookmark store against real redis-server processes on 127.0.0.1 that the test starts:
// the key format, Pending until Redis confirmed the write, an outage (nothing committed, loads
// refused at once, one log line each way, recovery by itself), a hung Redis (the worker's wait is
// bounded by timeout()), a start while Redis is down, AUTH, and a Sentinel failover.
#include <criterion/criterion.h>

#include "bookmarks/redis-bookmark-store.hpp"
#include "expect.hpp"
#include "test-redis.hpp"

#include <atomic>
#include <mutex>

using namespace wec;
using test_redis::ask;
using test_redis::Server;
using test_redis::wait_until;
using namespace std::chrono_literals;

namespace {

const std::string kOwner = "certificate:win01.corp.example";
const std::string kBookmark =
    "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"42\" IsCurrent=\"true\"/></BookmarkList>";

std::string bookmark(int record)
{
  return "<BookmarkList><Bookmark Channel=\"Security\" RecordId=\"" + std::to_string(record) +
         "\" IsCurrent=\"true\"/></BookmarkList>";
}

// The store with its log lines and wake-ups counted.
struct Node
{
  std::mutex lock;
  std::vector<std::string> lines;
  std::atomic<int> wakes{0};
  std::unique_ptr<RedisBookmarkStore> store;

  explicit Node(RedisOptions options)
  {
    options.enabled = true;
    store = std::make_unique<RedisBookmarkStore>(
        options, [this] { ++wakes; },
        [this](LogLevel, const std::string &message, const LogTags &tags) {
          std::string line = message;
          for (const auto &tag : tags)
            line += " " + std::string(tag.name) + "='" + tag.value + "'";
          std::lock_guard<std::mutex> guard(lock);
          lines.push_back(line);
        });
  }

  int count(const std::string &needle)
  {
    std::lock_guard<std::mutex> guard(lock);
    int n = 0;
    for (const auto &line : lines)
      n += line.find(needle) != std::string::npos;
    return n;
  }
  std::string log()
  {
    std::lock_guard<std::mutex> guard(lock);
    std::string all;
    for (const auto &line : lines)
      all += line + "\n";
    return all;
  }

  // Asks again, as the collector does, until the answer is not Pending (bounded).
  BookmarkStore::SaveResult save_until_answered(const std::string &owner, const std::string &subscription,
                                                const std::string &value, std::chrono::milliseconds limit = 5000ms)
  {
    std::string error;
    BookmarkStore::SaveResult result = BookmarkStore::SaveResult::Pending;
    wait_until(
        [&] { return (result = store->save(owner, subscription, value, error)) != BookmarkStore::SaveResult::Pending; },
        limit);
    return result;
  }
};

RedisOptions direct(int port, std::chrono::milliseconds timeout = 1000ms)
{
  RedisOptions options;
  options.host = "127.0.0.1";
  options.port = port;
  options.timeout = timeout;
  return options;
}

long elapsed_ms(std::chrono::steady_clock::time_point since)
{
  return static_cast<long>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - since).count());
}

} // namespace

Test(redis_store, save_and_load_round_trip_in_the_documented_key_format)
{
  Server redis;
  cr_assert(redis.ready());
  Node node(direct(redis.port()));
  std::string error;
  cr_assert_eq(node.store->load(kOwner, "security").status, BookmarkStore::LoadStatus::None);

  // Pending at first: nothing is durable before Redis confirmed the HSET; then the store wakes the worker.
  cr_assert_eq(node.store->save(kOwner, "security", kBookmark, error), BookmarkStore::SaveResult::Pending);
  cr_assert(wait_until([&] { return node.wakes.load() > 0; }, 5000ms), "the store never woke the worker");
  cr_assert_eq(node.save_until_answered(kOwner, "security", kBookmark), BookmarkStore::SaveResult::Committed);

  // One hash per machine, key = key-prefix + "<method>:<identity>", field = subscription, value = the XML.
  EXPECT_STR(ask(redis.port(), {"HGET", "wec:certificate:win01.corp.example", "security"}), kBookmark);
  cr_assert_eq(node.save_until_answered("kerberos:WIN01$@CORP.EXAMPLE", "system", bookmark(7)),
               BookmarkStore::SaveResult::Committed);
  EXPECT_STR(ask(redis.port(), {"HGETALL", "wec:kerberos:WIN01$@CORP.EXAMPLE"}), "system " + bookmark(7));
  EXPECT_STR(ask(redis.port(), {"TYPE", "wec:certificate:win01.corp.example"}), "hash");

  const BookmarkStore::LoadResult loaded = node.store->load(kOwner, "security");
  cr_assert_eq(loaded.status, BookmarkStore::LoadStatus::Found);
  EXPECT_STR(loaded.bookmark, kBookmark);
  cr_assert_eq(node.store->load(kOwner, "system").status, BookmarkStore::LoadStatus::None);

  // A second collector of the cluster sees the same bookmarks; a newer one replaces the old.
  RedisOptions prefixed = direct(redis.port());
  Node other(prefixed);
  EXPECT_STR(other.store->load(kOwner, "security").bookmark, kBookmark);
  cr_assert_eq(other.save_until_answered(kOwner, "security", bookmark(43)), BookmarkStore::SaveResult::Committed);
  EXPECT_STR(node.store->load(kOwner, "security").bookmark, bookmark(43));
  EXPECT_STR(node.store->key_of(kOwner), "wec:certificate:win01.corp.example");
  cr_assert_eq(node.count("bookmarks are kept in Redis"), 1, "%s", node.log().c_str());
}

Test(redis_store, key_prefix_database_and_expiry_are_applied)
{
  Server redis;
  RedisOptions options = direct(redis.port());
  options.key_prefix = "site1:wec:";
  options.database = 3;
  options.expiry_seconds = 3600;
  Node node(options);
  cr_assert_eq(node.save_until_answered(kOwner, "security", kBookmark), BookmarkStore::SaveResult::Committed);
  EXPECT_STR(ask(redis.port(), {"EXISTS", "site1:wec:" + kOwner}), "0"); // database 0 holds nothing
  std::string error;
  auto connection = RedisConnection::open("127.0.0.1", redis.port(), 1000ms, nullptr, error);
  cr_assert(connection);
  connection->command({"SELECT", "3"}, error);
  auto value = connection->command({"HGET", "site1:wec:" + kOwner, "security"}, error);
  cr_assert(value);
  EXPECT_STR(reply_text(*value), kBookmark);
  auto ttl = connection->command({"TTL", "site1:wec:" + kOwner}, error); // bookmark-expiry()
  cr_assert(ttl && reply_integer(*ttl) > 3500 && reply_integer(*ttl) <= 3600);
}

Test(redis_store, outage_keeps_saves_pending_refuses_loads_at_once_and_recovers_with_one_line_each_way)
{
  auto redis = std::make_unique<Server>();
  const int port = redis->port();
  Node node(direct(port));
  cr_assert_eq(node.save_until_answered(kOwner, "security", bookmark(1)), BookmarkStore::SaveResult::Committed);

  redis->stop();
  // The store notices within about a second (its idle check), and says so once.
  cr_assert(wait_until([&] { return node.count("Redis unreachable") == 1; }, 5000ms), "%s", node.log().c_str());
  const auto started = std::chrono::steady_clock::now();
  const BookmarkStore::LoadResult refused = node.store->load(kOwner, "security");
  cr_assert_eq(refused.status, BookmarkStore::LoadStatus::Unavailable);
  cr_assert_lt(elapsed_ms(started), 100, "a load waited %ld ms while Redis was known to be down", elapsed_ms(started));
  EXPECT_CONTAINS(refused.error, "Redis unreachable");

  // Nothing is committed while Redis is away, however often the collector asks.
  std::string error;
  cr_assert_eq(node.save_until_answered(kOwner, "security", bookmark(2), 2500ms), BookmarkStore::SaveResult::Pending);
  cr_assert_eq(node.count("Redis unreachable"), 1, "%s", node.log().c_str());
  EXPECT_CONTAINS(node.log(), "hint=");

  redis = std::make_unique<Server>(std::vector<std::string>{}, port); // empty: no persistence in this test
  cr_assert(redis->ready());
  cr_assert_eq(node.save_until_answered(kOwner, "security", bookmark(2)), BookmarkStore::SaveResult::Committed);
  EXPECT_STR(ask(port, {"HGET", node.store->key_of(kOwner), "security"}), bookmark(2));
  cr_assert_eq(node.store->load(kOwner, "security").status, BookmarkStore::LoadStatus::Found);
  cr_assert_eq(node.count("Redis reachable again"), 1, "%s", node.log().c_str());
  cr_assert_eq(node.count("Redis unreachable"), 1, "%s", node.log().c_str());
}

Test(redis_store, a_hung_redis_costs_the_worker_one_timeout_then_nothing)
{
  Server redis;
  Node node(direct(redis.port(), 300ms));
  cr_assert_eq(node.save_until_answered(kOwner, "security", kBookmark), BookmarkStore::SaveResult::Committed);
  redis.pause(); // accepts TCP, answers nothing

  auto started = std::chrono::steady_clock::now();
  cr_assert_eq(node.store->load(kOwner, "security").status, BookmarkStore::LoadStatus::Unavailable);
  const long first = elapsed_ms(started);
  cr_assert(first >= 250 && first < 600, "the first load waited %ld ms, timeout() is 300 ms", first);
  started = std::chrono::steady_clock::now();
  cr_assert_eq(node.store->load(kOwner, "system").status, BookmarkStore::LoadStatus::Unavailable);
  cr_assert_lt(elapsed_ms(started), 100, "the second load waited %ld ms", elapsed_ms(started));
  cr_assert(wait_until([&] { return node.count("Redis unreachable") == 1; }, 5000ms), "%s", node.log().c_str());
  EXPECT_CONTAINS(node.log(), "no answer within timeout()");

  redis.resume();
  cr_assert(wait_until([&] { return node.count("Redis reachable again") == 1; }, 5000ms), "%s", node.log().c_str());
  EXPECT_STR(node.store->load(kOwner, "security").bookmark, kBookmark);
  cr_assert_eq(node.count("Redis unreachable"), 1, "%s", node.log().c_str());
}

Test(redis_store, a_node_started_while_redis_is_down_starts_and_waits)
{
  const int port = test_redis::free_port();
  const auto started = std::chrono::steady_clock::now();
  Node node(direct(port));
  cr_assert_lt(elapsed_ms(started), 100, "the constructor waited %ld ms", elapsed_ms(started));
  cr_assert(wait_until([&] { return node.count("Redis unreachable") == 1; }, 5000ms), "%s", node.log().c_str());
  EXPECT_CONTAINS(node.log(), "127.0.0.1:" + std::to_string(port));
  cr_assert_eq(node.store->load(kOwner, "security").status, BookmarkStore::LoadStatus::Unavailable);
  std::string error;
  cr_assert_eq(node.store->save(kOwner, "security", kBookmark, error), BookmarkStore::SaveResult::Pending);

  Server redis({}, port);
  cr_assert(redis.ready());
  cr_assert_eq(node.save_until_answered(kOwner, "security", kBookmark), BookmarkStore::SaveResult::Committed);
  EXPECT_STR(ask(port, {"HGET", node.store->key_of(kOwner), "security"}), kBookmark);
  cr_assert_eq(node.count("Redis reachable again"), 1, "%s", node.log().c_str());
}

Test(redis_store, password_and_acl_user)
{
  Server redis({"--requirepass", "s3cret"});
  cr_assert(redis.ready());
  RedisOptions wrong = direct(redis.port());
  wrong.password = "wrong";
  Node refused(wrong);
  cr_assert(wait_until([&] { return refused.count("Redis unreachable") == 1; }, 5000ms));
  EXPECT_CONTAINS(refused.log(), "AUTH (check username() and password()) refused");

  RedisOptions right = direct(redis.port());
  right.username = "default";
  right.password = "s3cret";
  Node node(right);
  cr_assert_eq(node.save_until_answered(kOwner, "security", kBookmark), BookmarkStore::SaveResult::Committed);
}

Test(redis_store, a_key_that_is_not_a_hash_fails_that_save_only)
{
  Server redis;
  ask(redis.port(), {"SET", "wec:" + kOwner, "not a hash"});
  Node node(direct(redis.port()));
  std::string error;
  BookmarkStore::SaveResult result = BookmarkStore::SaveResult::Pending;
  wait_until(
      [&] {
        return (result = node.store->save(kOwner, "security", kBookmark, error)) != BookmarkStore::SaveResult::Pending;
      },
      5000ms);
  cr_assert_eq(result, BookmarkStore::SaveResult::Failed);
  EXPECT_CONTAINS(error, "WRONGTYPE");
  cr_assert_eq(node.store->load(kOwner, "security").status, BookmarkStore::LoadStatus::Unavailable);
  cr_assert_eq(node.save_until_answered("certificate:win02.corp.example", "security", kBookmark),
               BookmarkStore::SaveResult::Committed);
  cr_assert_eq(node.count("Redis unreachable"), 0, "%s", node.log().c_str());
}

// One master, one replica, three Sentinels on loopback; SENTINEL FAILOVER promotes the replica and
// the store follows it.
Test(redis_store, sentinel_failover_is_followed, .timeout = 120)
{
  Server master;
  Server replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  cr_assert(master.ready() && replica.ready());
  cr_assert(wait_until([&] { return ask(replica.port(), {"ROLE"}).find("connected") != std::string::npos; }, 20000ms),
            "replica not in sync: %s", ask(replica.port(), {"ROLE"}).c_str());

  const std::string config = "sentinel monitor wec 127.0.0.1 " + std::to_string(master.port()) +
                             " 2\nsentinel down-after-milliseconds wec 1000\nsentinel failover-timeout wec 5000\n";
  std::vector<std::unique_ptr<Server>> sentinels;
  RedisOptions options;
  options.master_name = "wec";
  for (int i = 0; i < 3; ++i)
    {
      const int port = test_redis::free_port();
      sentinels.push_back(std::make_unique<Server>(Server::sentinel_arguments(master.directory(), port, config), port));
      cr_assert(sentinels.back()->ready());
      std::string error;
      cr_assert(options.add_sentinel("127.0.0.1:" + std::to_string(port), error), "%s", error.c_str());
    }
  // The first Sentinel in the list is down: the store asks the next.
  std::string error;
  RedisOptions with_dead_sentinel = options;
  with_dead_sentinel.sentinels.insert(with_dead_sentinel.sentinels.begin(),
                                      RedisAddress{"127.0.0.1", test_redis::free_port()});
  cr_assert(wait_until(
      [&] {
        return ask(sentinels[0]->port(), {"SENTINEL", "replicas", "wec"}).find(std::to_string(replica.port())) !=
               std::string::npos;
      },
      30000ms));

  Node node(with_dead_sentinel);
  cr_assert_eq(node.save_until_answered(kOwner, "security", bookmark(1)), BookmarkStore::SaveResult::Committed);
  EXPECT_STR(ask(master.port(), {"HGET", "wec:" + kOwner, "security"}), bookmark(1));

  const std::string promoted = "127.0.0.1 " + std::to_string(replica.port());
  std::string answer;
  cr_assert(wait_until(
                [&] {
                  answer = ask(sentinels[1]->port(), {"SENTINEL", "failover", "wec"});
                  return answer == "OK";
                },
                20000ms),
            "SENTINEL FAILOVER: %s", answer.c_str());
  cr_assert(wait_until(
      [&] {
        return ask(sentinels[0]->port(), {"SENTINEL", "get-master-addr-by-name", "wec"}) == promoted;
      },
      30000ms));
  // Until the Sentinels have turned the old master into a replica it still takes writes, which its
  // resynchronisation then drops (Redis replicates asynchronously; docs/configuration.md says what
  // that costs: at most duplicates). Once it is a replica, every write goes to the new master.
  cr_assert(wait_until([&] { return ask(master.port(), {"ROLE"}).rfind("slave", 0) == 0; }, 30000ms),
            "old master not converted: %s", ask(master.port(), {"ROLE"}).c_str());

  cr_assert_eq(node.save_until_answered(kOwner, "security", bookmark(2), 30000ms), BookmarkStore::SaveResult::Committed,
               "%s", node.log().c_str());
  EXPECT_STR(ask(replica.port(), {"HGET", "wec:" + kOwner, "security"}), bookmark(2));
  EXPECT_STR(node.store->load(kOwner, "security").bookmark, bookmark(2));
  cr_assert(wait_until([&] { return node.count("Redis master changed") == 1; }, 5000ms), "%s", node.log().c_str());
  EXPECT_CONTAINS(node.log(), "master='127.0.0.1:" + std::to_string(replica.port()) + "'");
}
