// Bookmarks in Redis, shared by the collectors of a cluster behind one balancer: one hash per
// machine, key = key-prefix() + owner ("wec:certificate:win01.corp.example"), field = subscription
// name, value = the canonical <BookmarkList>, as the persist file keeps it.
//
// A thread of the store's own talks to Redis. The worker thread never waits on the network for a
// save: save() answers Pending until Redis confirmed the HSET, then `wake` runs and the next save()
// with the same arguments answers Committed. A load() waits at most timeout() for its HGET, and not
// at all while Redis is known to be unreachable: it answers Unavailable at once. The thread retries
// every second, logs one line when Redis goes and one when it is back, and follows a Sentinel
// failover by asking the Sentinels again after any failure.
#pragma once

#include "bookmarks/bookmark-store.hpp"
#include "bookmarks/redis-options.hpp"
#include "core/log.hpp"

#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace wec {

class RedisBookmarkStore : public BookmarkStore
{
public:
  // Starts the store's thread, which connects by itself: never blocks, even when Redis is down.
  // `wake` runs on that thread whenever a pending save has an answer.
  RedisBookmarkStore(RedisOptions options, std::function<void()> wake, LogFunction log);
  ~RedisBookmarkStore() override; // waits for the thread: at most about twice timeout()

  LoadResult load(const std::string &owner, const std::string &subscription) override;
  SaveResult save(const std::string &owner, const std::string &subscription, const std::string &bookmark,
                  std::string &error) override;

  // The Redis key of a machine's hash: key-prefix() + owner.
  std::string key_of(const std::string &owner) const;

  struct State;

private:
  std::unique_ptr<State> state_;
  std::thread thread_;
};

} // namespace wec
