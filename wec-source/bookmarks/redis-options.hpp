// bookmarks(redis(...)): where the Redis bookmark store finds Redis, directly or through Sentinel.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

namespace wec {

struct RedisAddress
{
  std::string host;
  int port = 0;
  std::string text() const; // "10.0.0.1:26379", "[fd00::1]:26379"
  // "host:port" or "[ipv6]:port" with a port from 1 to 65535; nothing otherwise.
  static std::optional<RedisAddress> parse(const std::string &text);
};

struct RedisOptions
{
  bool enabled = false;
  std::string host;                    // one Redis ...
  int port = 0;                        // 0: 6379
  std::vector<RedisAddress> sentinels; // ... or the master that these Sentinels name
  std::string master_name;
  std::string sentinel_password; // AUTH to the Sentinels (wec-bookmarks --sentinel-password; no redis() option)
  std::string username;          // Redis 6 ACL user; empty: AUTH with the password alone
  std::string password;
  int database = 0;
  std::string key_prefix = "wec:";
  // The longest wait for Redis: connecting, each reply on the store's thread, and a load() on the
  // worker thread (which waits only while Redis is believed reachable).
  std::chrono::milliseconds timeout{1000};
  unsigned expiry_seconds = 0; // bookmark-expiry(): a machine's hash expires unless written for that long
  // TLS to Redis and the Sentinels: needs hiredis 1.0 or newer.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;

  // sentinels("host:port" ...): each "host:port" or "[ipv6]:port"; a one-line reason otherwise.
  bool add_sentinel(const std::string &address, std::string &error);
  // At the end of redis(...): host() or sentinels(), and what each needs.
  bool check(std::string &error) const;
  std::string describe() const; // for log lines: "127.0.0.1:6379" or "master wec of sentinels ..."
  int host_port() const { return port ? port : 6379; }
  // The Redis key of a machine's hash: key-prefix() + owner ("wec:certificate:win01.corp.example").
  std::string key_of(const std::string &owner) const { return key_prefix + owner; }
};

} // namespace wec
