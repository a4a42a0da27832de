// The way to a usable Redis that the collector's store and wec-bookmarks share
// (bookmarks/redis-connection.hpp), against real redis-server processes on 127.0.0.1: the login
// (AUTH, SELECT) and its refusals, ROLE on a replica, and the Sentinel lookup with each Sentinel's
// failure reported in parts (a dead one, one that needs a password, an unknown master name, a
// master that refuses the login).
#include <criterion/criterion.h>

#include "bookmarks/redis-connection.hpp"
#include "expect.hpp"
#include "test-redis.hpp"

using namespace wec;
using test_redis::ask;
using test_redis::Server;
using namespace std::chrono_literals;
using Kind = RedisFailure::Kind;

namespace {

RedisOptions with_password(const std::string &password, int database = 0)
{
  RedisOptions options;
  options.password = password;
  options.database = database;
  options.timeout = 2000ms;
  return options;
}

RedisAddress local(int port) { return {"127.0.0.1", port}; }

} // namespace

Test(redis_connection, login_sends_auth_and_select_and_reports_a_refusal_in_parts)
{
  Server redis({"--requirepass", "s3cret"});
  cr_assert(redis.ready());
  RedisFailure failure;

  cr_assert(!redis_login(local(redis.port()), with_password("wrong"), failure));
  cr_assert_eq(failure.kind, Kind::Refused);
  EXPECT_STR(failure.command, "AUTH");
  EXPECT_CONTAINS(failure.reason, "WRONGPASS");
  EXPECT_STR(failure.server.text(), "127.0.0.1:" + std::to_string(redis.port()));
  cr_assert_not(failure.at_sentinel);

  // No password, no AUTH: the SELECT is what Redis refuses.
  cr_assert(!redis_login(local(redis.port()), with_password("", 2), failure));
  cr_assert_eq(failure.kind, Kind::Refused);
  EXPECT_STR(failure.command, "SELECT");
  EXPECT_CONTAINS(failure.reason, "NOAUTH");

  std::unique_ptr<RedisConnection> connection = redis_login(local(redis.port()), with_password("s3cret", 2), failure);
  cr_assert(connection, "%s", failure.reason.c_str());
  std::string error;
  cr_assert(connection->command({"SET", "in-database-2", "yes"}, error), "%s", error.c_str());
  std::unique_ptr<RedisConnection> other = redis_login(local(redis.port()), with_password("s3cret"), failure);
  cr_assert(other);
  RedisReply in_database_0 = other->command({"EXISTS", "in-database-2"}, error);
  cr_assert(in_database_0 && reply_integer(*in_database_0) == 0, "SELECT 2 was not applied");

  const int nobody = test_redis::free_port();
  cr_assert(!redis_login(local(nobody), with_password("s3cret"), failure));
  cr_assert_eq(failure.kind, Kind::Connect);
  cr_assert_eq(failure.server.port, nobody);
  cr_assert(!failure.reason.empty());
}

Test(redis_connection, role_of_a_replica_is_not_master)
{
  Server master;
  Server replica({"--replicaof", "127.0.0.1", std::to_string(master.port())});
  cr_assert(master.ready() && replica.ready());
  RedisFailure failure;
  std::unique_ptr<RedisConnection> to_master = redis_login(local(master.port()), with_password(""), failure);
  std::unique_ptr<RedisConnection> to_replica = redis_login(local(replica.port()), with_password(""), failure);
  cr_assert(to_master && to_replica);
  cr_assert(is_master(*to_master, local(master.port()), failure), "%s", failure.reason.c_str());
  cr_assert_not(is_master(*to_replica, local(replica.port()), failure));
  cr_assert_eq(failure.kind, Kind::NotMaster);
  EXPECT_STR(failure.reason, "slave");
  cr_assert_eq(failure.server.port, replica.port());
}

Test(redis_connection, find_master_asks_the_sentinels_in_turn_and_says_why_each_failed, .timeout = 60)
{
  Server master({"--requirepass", "s3cret"});
  cr_assert(master.ready());
  const int sentinel_port = test_redis::free_port();
  const std::string config = "sentinel monitor wec 127.0.0.1 " + std::to_string(master.port()) +
                             " 1\nsentinel auth-pass wec s3cret\nrequirepass sentinel-pw\n";
  Server sentinel(Server::sentinel_arguments(master.directory(), sentinel_port, config), sentinel_port);
  cr_assert(sentinel.ready());
  const int dead = test_redis::free_port();

  RedisOptions options = with_password("s3cret", 1);
  options.master_name = "wec";
  options.sentinels = {local(dead), local(sentinel_port)};

  // The Sentinel needs its own password.
  RedisMaster found = find_master(options);
  cr_assert(!found.connection);
  cr_assert_eq(found.failures.size(), 2);
  cr_assert_eq(found.failures[0].kind, Kind::Connect);
  cr_assert(found.failures[0].at_sentinel);
  cr_assert_eq(found.failures[0].sentinel.port, dead);
  cr_assert_eq(found.failures[1].kind, Kind::Refused);
  EXPECT_STR(found.failures[1].command, "SENTINEL");
  EXPECT_CONTAINS(found.failures[1].reason, "NOAUTH");
  cr_assert_eq(found.failures[1].sentinel.port, sentinel_port);

  options.sentinel_password = "sentinel-pw";
  options.master_name = "other";
  found = find_master(options);
  cr_assert(!found.connection);
  cr_assert_eq(found.failures.size(), 2);
  cr_assert_eq(found.failures[1].kind, Kind::UnknownMaster);

  // The master the Sentinel names refuses the login: reported at the master, with the Sentinel.
  options.master_name = "wec";
  options.password = "wrong";
  found = find_master(options, 1);
  cr_assert(!found.connection);
  cr_assert_eq(found.failures.size(), 2);
  cr_assert_eq(found.failures[0].kind, Kind::Refused);
  EXPECT_STR(found.failures[0].command, "AUTH");
  cr_assert_not(found.failures[0].at_sentinel);
  cr_assert_eq(found.failures[0].server.port, master.port());
  cr_assert_eq(found.failures[0].sentinel.port, sentinel_port);

  options.password = "s3cret";
  found = find_master(options);
  cr_assert(found.connection);
  EXPECT_STR(found.address.text(), "127.0.0.1:" + std::to_string(master.port()));
  cr_assert_eq(found.sentinel, 1);
  cr_assert_eq(found.failures.size(), 1); // the dead one, asked first
  std::string error;
  cr_assert(found.connection->command({"SET", "through-sentinel", "yes"}, error), "%s", error.c_str());
  RedisReply exists = found.connection->command({"EXISTS", "through-sentinel"}, error);
  cr_assert(exists && reply_integer(*exists) == 1);

  // Asked first, the Sentinel that answered last: no failure at all. A stop request asks nobody.
  found = find_master(options, 1);
  cr_assert(found.connection && found.failures.empty());
  found = find_master(options, 0, [] { return true; });
  cr_assert(!found.connection && found.failures.empty());
}
