#include "bookmarks/redis-bookmark-store.hpp"

#include "bookmarks/redis-connection.hpp"

#include <chrono>
#include <condition_variable>
#include <csignal>
#include <deque>
#include <map>
#include <mutex>
#include <optional>
#include <pthread.h>
#include <vector>

namespace wec {

namespace {

using Clock = std::chrono::steady_clock;

// How often the store's thread tries again while Redis is unreachable, and checks an idle connection.
constexpr auto kRetryInterval = std::chrono::seconds(1);
// A save not asked about for this long belongs to a batch that was answered 503 (commit-timeout())
// or abandoned: its write is dropped rather than made late, when newer bookmarks may be in Redis.
constexpr auto kForgetAfter = std::chrono::seconds(30);

struct Write
{
  std::string wanted;                 // the bookmark the collector asked for last
  std::optional<std::string> sending; // in the pipeline now
  std::optional<std::string> stored;  // confirmed by Redis
  std::string refused;                // Redis refused `wanted` (the key is not a hash): reported once
  Clock::time_point asked;
};

struct Read
{
  std::string key, field;
  bool done = false;
  BookmarkStore::LoadResult result;
};

enum class Health
{
  Starting, // not connected yet: loads wait (bounded)
  Up,
  Down, // loads answer Unavailable at once
};

// One round trip: HSETs (and EXPIREs) and HGETs pipelined, then their replies in order.
struct Exchange
{
  enum class Outcome
  {
    NotDone,
    Stored,
    Refused,
  };
  struct Sent
  {
    std::string key, field, value;
    Outcome outcome = Outcome::NotDone;
    std::string refusal;
  };
  std::vector<Sent> writes;
  std::vector<std::shared_ptr<Read>> reads;
  std::size_t reads_answered = 0;
  std::string broken; // the connection failed: why

  bool empty() const { return writes.empty() && reads.empty(); }
};

bool starts_with(const std::string &text, const char *prefix) { return text.rfind(prefix, 0) == 0; }

} // namespace

struct RedisBookmarkStore::State
{
  RedisOptions options;
  std::function<void()> wake;
  LogFunction log;

  std::mutex lock;
  std::condition_variable work;                                // the store's thread waits here
  std::condition_variable answered;                            // load() waits here
  std::map<std::pair<std::string, std::string>, Write> writes; // by (key, field)
  std::deque<std::shared_ptr<Read>> reads;
  bool work_waiting = false;
  bool stopping = false;
  Health health = Health::Starting;
  std::string down_error;

  // Only the store's thread touches these.
  std::unique_ptr<RedisConnection> connection;
  std::string lost_because; // why the last connection broke
  RedisAddress master;      // the address in use (port 0 before the first connection)
  bool reported_down = false;
  Clock::time_point down_since;
  std::size_t next_sentinel = 0; // the one that answered last is asked first

  bool stop_requested()
  {
    std::lock_guard<std::mutex> guard(lock);
    return stopping;
  }
};

namespace {

using State = RedisBookmarkStore::State;

// How the store words a failure in its log lines (docs/troubleshooting.md quotes them).
std::string failure_text(const RedisFailure &failure, const RedisOptions &options)
{
  using Kind = RedisFailure::Kind;
  const std::string server = failure.server.text(), &reason = failure.reason;
  const bool refused = failure.kind == Kind::Refused;
  std::string why;
  switch (failure.kind)
    {
    case Kind::Connect: why = failure.at_sentinel ? reason : server + ": " + reason; break;
    case Kind::UnknownMaster: why = "does not monitor master-name(\"" + options.master_name + "\")"; break;
    case Kind::OddAnswer: why = "answered " + reason; break;
    case Kind::NotMaster: why = server + " is a " + reason + ", not the master"; break;
    case Kind::NoAnswer:
    case Kind::Refused:
      if (failure.command == "SENTINEL")
        why = refused ? "answered " + reason : reason;
      else if (failure.command == "ROLE")
        why = server + " is " + (refused ? "ROLE refused: " : "") + reason;
      else
        why = server + ": " + failure.command +
              (failure.command == "AUTH" ? " (check username() and password())" : " (check database())") +
              " refused: " + reason;
      break;
    }
  return failure.sentinel.port ? "sentinel " + failure.sentinel.text() + ": " + why : why;
}

bool healthy_connection(RedisConnection &connection, std::string &error)
{
  RedisReply reply = connection.command({"PING"}, error);
  if (reply && reply_kind(*reply) == RedisReplyKind::Error)
    error = "PING refused: " + reply_text(*reply);
  return reply && error.empty();
}

std::unique_ptr<RedisConnection> connect(State &s, RedisAddress &address, std::string &error)
{
  if (!s.options.sentinels.empty())
    {
      // The Sentinel that answered last is asked first.
      RedisMaster found = find_master(s.options, s.next_sentinel, [&] { return s.stop_requested(); });
      for (const RedisFailure &failure : found.failures)
        error += (error.empty() ? "" : "; ") + failure_text(failure, s.options);
      if (found.connection)
        s.next_sentinel = found.sentinel;
      address = found.address;
      return std::move(found.connection);
    }
  address = {s.options.host, s.options.host_port()};
  RedisFailure failure;
  std::unique_ptr<RedisConnection> connection = redis_login(address, s.options, failure);
  if (!connection)
    error = failure_text(failure, s.options);
  // An answer, not only an accepted TCP connection: a stopped Redis still completes handshakes.
  else if (!healthy_connection(*connection, error))
    {
      error = address.text() + ": " + error;
      return nullptr;
    }
  return connection;
}

std::size_t waiting_writes(const State &s)
{
  std::size_t count = 0;
  for (const auto &[key, write] : s.writes)
    count += !write.stored || *write.stored != write.wanted;
  return count;
}

// Redis could not be reached, even on a fresh connection: loads fail fast, one line says so.
void mark_down(State &s, const std::string &error)
{
  s.health = Health::Down;
  s.down_error = error;
  for (auto &read : s.reads)
    {
      read->result = {BookmarkStore::LoadStatus::Unavailable, {}, "Redis unreachable: " + error};
      read->done = true;
    }
  s.reads.clear();
  s.answered.notify_all();
  if (s.reported_down)
    return;
  s.reported_down = true;
  s.down_since = Clock::now();
  LogTags tags = {{"redis", s.options.describe()}, {"error", error}};
  if (!s.lost_because.empty())
    tags.push_back({"connection_lost", s.lost_because});
  tags.push_back({"retry", "every second"});
  tags.push_back({"hint", "check that Redis runs and that this host reaches it (host()/sentinels(), port(), "
                          "password(), firewall); nothing is lost, the forwarders resend their batches"});
  s.log(LogLevel::Error,
        "windowsevent: Redis unreachable, batches wait unacknowledged and enumerations are answered 503 until it "
        "is back",
        tags);
}

void mark_up(State &s, const RedisAddress &master)
{
  const std::string address = master.text();
  s.health = Health::Up;
  s.lost_because.clear();
  s.work_waiting = true; // what a broken connection left unsent goes now
  if (s.reported_down)
    {
      const auto down = std::chrono::duration_cast<std::chrono::seconds>(Clock::now() - s.down_since);
      s.log(LogLevel::Notice, "windowsevent: Redis reachable again, bookmarks are stored and batches acknowledged",
            {{"redis", address},
             {"down_seconds", std::to_string(down.count())},
             {"waiting_bookmarks", std::to_string(waiting_writes(s))}});
      s.reported_down = false;
    }
  else if (s.master.port == 0)
    s.log(LogLevel::Notice, "windowsevent: bookmarks are kept in Redis",
          {{"redis", address}, {"key_prefix", s.options.key_prefix}, {"database", std::to_string(s.options.database)}});
  if (s.master.port != 0 && s.master.text() != address)
    s.log(LogLevel::Notice, "windowsevent: Redis master changed, bookmarks go to the new one",
          {{"previous", s.master.text()}, {"master", address}, {"master_name", s.options.master_name}});
  s.master = master;
}

void forget_abandoned(State &s, Clock::time_point now)
{
  for (auto it = s.writes.begin(); it != s.writes.end();)
    if (!it->second.sending && now - it->second.asked > kForgetAfter)
      it = s.writes.erase(it);
    else
      ++it;
}

Exchange take_work(State &s)
{
  Exchange exchange;
  s.work_waiting = false;
  for (auto &[key, write] : s.writes)
    if (!write.sending && write.refused.empty() && (!write.stored || *write.stored != write.wanted))
      {
        write.sending = write.wanted;
        exchange.writes.push_back({key.first, key.second, write.wanted, Exchange::Outcome::NotDone, {}});
      }
  exchange.reads.assign(s.reads.begin(), s.reads.end());
  s.reads.clear();
  return exchange;
}

// Without the lock: sends the pipeline and reads every reply, or stops at the first failure.
void run_exchange(State &s, Exchange &exchange)
{
  RedisConnection &connection = *s.connection;
  const std::string expiry = std::to_string(s.options.expiry_seconds);
  for (const auto &write : exchange.writes)
    {
      connection.append({"HSET", write.key, write.field, write.value});
      if (s.options.expiry_seconds)
        connection.append({"EXPIRE", write.key, expiry});
    }
  for (const auto &read : exchange.reads)
    connection.append({"HGET", read->key, read->field});

  // An error reply other than WRONGTYPE (READONLY after a failover, LOADING, OOM, NOAUTH, ...) is a
  // problem of this Redis, not of one key: the connection is dropped and the master asked for again.
  auto next = [&](const char *command, std::string &refusal) -> RedisReply {
    std::string error;
    RedisReply reply = connection.next_reply(error);
    if (!reply)
      exchange.broken = error;
    else if (reply_kind(*reply) == RedisReplyKind::Error)
      {
        const std::string text = reply_text(*reply);
        if (starts_with(text, "WRONGTYPE"))
          refusal = text;
        else
          exchange.broken = std::string(command) + " refused: " + text;
      }
    return exchange.broken.empty() ? std::move(reply) : nullptr;
  };
  for (auto &write : exchange.writes)
    {
      if (!next("HSET", write.refusal))
        return;
      if (s.options.expiry_seconds)
        {
          std::string ignored;
          if (!next("EXPIRE", ignored))
            return;
        }
      write.outcome = write.refusal.empty() ? Exchange::Outcome::Stored : Exchange::Outcome::Refused;
    }
  for (auto &read : exchange.reads)
    {
      std::string refusal;
      RedisReply reply = next("HGET", refusal);
      if (!reply)
        return;
      if (!refusal.empty())
        read->result = {BookmarkStore::LoadStatus::Unavailable, {}, "key " + read->key + ": " + refusal};
      else if (reply_kind(*reply) == RedisReplyKind::String)
        read->result = {BookmarkStore::LoadStatus::Found, reply_text(*reply), {}};
      else
        read->result = {};
      ++exchange.reads_answered;
    }
}

// With the lock: records what Redis confirmed; what did not get through goes again.
void apply(State &s, Exchange &exchange)
{
  bool answered = false;
  for (auto &sent : exchange.writes)
    {
      Write &write = s.writes.at({sent.key, sent.field});
      write.sending.reset();
      switch (sent.outcome)
        {
        case Exchange::Outcome::Stored:
          write.stored = std::move(sent.value);
          answered = true;
          if (*write.stored != write.wanted)
            s.work_waiting = true;
          break;
        case Exchange::Outcome::Refused:
          if (write.wanted == sent.value)
            write.refused = sent.refusal;
          answered = true;
          break;
        case Exchange::Outcome::NotDone: s.work_waiting = true; break;
        }
    }
  for (std::size_t i = 0; i < exchange.reads_answered; ++i)
    exchange.reads[i]->done = true;
  // Reads that got no reply are asked again on the next connection, in their order.
  for (std::size_t i = exchange.reads.size(); i-- > exchange.reads_answered;)
    s.reads.push_front(exchange.reads[i]);
  s.answered.notify_all();
  if (exchange.broken.empty())
    s.health = Health::Up;
  else
    {
      s.connection.reset();
      s.lost_because = exchange.broken;
    }
  if (answered)
    s.wake();
}

bool healthy(State &s, std::string &error)
{
  if (s.options.sentinels.empty())
    return healthy_connection(*s.connection, error);
  RedisFailure failure;
  if (is_master(*s.connection, s.master, failure))
    return true;
  error = failure_text(failure, s.options);
  return false;
}

void run(State &s)
{
  // A write to a connection Redis closed fails with EPIPE on this thread instead of raising SIGPIPE.
  sigset_t pipe_signal;
  sigemptyset(&pipe_signal);
  sigaddset(&pipe_signal, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &pipe_signal, nullptr);

  std::unique_lock<std::mutex> guard(s.lock);
  while (!s.stopping)
    {
      forget_abandoned(s, Clock::now());
      if (!s.connection)
        {
          guard.unlock();
          RedisAddress address;
          std::string error;
          std::unique_ptr<RedisConnection> connection = connect(s, address, error);
          guard.lock();
          if (!connection)
            {
              mark_down(s, error);
              s.work.wait_for(guard, kRetryInterval, [&] { return s.stopping; });
              continue;
            }
          s.connection = std::move(connection);
          mark_up(s, address);
        }
      Exchange exchange = take_work(s);
      if (exchange.empty())
        {
          if (s.work.wait_for(guard, kRetryInterval, [&] { return s.stopping || s.work_waiting; }))
            continue;
          guard.unlock();
          std::string error;
          const bool ok = healthy(s, error);
          guard.lock();
          if (ok)
            s.health = Health::Up; // a load that ran out of time made it Down
          else
            {
              s.connection.reset();
              s.lost_because = error;
            }
          continue;
        }
      guard.unlock();
      run_exchange(s, exchange);
      guard.lock();
      apply(s, exchange);
    }
  s.connection.reset();
}

} // namespace

RedisBookmarkStore::RedisBookmarkStore(RedisOptions options, std::function<void()> wake, LogFunction log)
    : state_(std::make_unique<State>())
{
  state_->options = std::move(options);
  state_->wake = std::move(wake);
  state_->log = std::move(log);
  thread_ = std::thread([state = state_.get()] { run(*state); });
}

RedisBookmarkStore::~RedisBookmarkStore()
{
  {
    std::lock_guard<std::mutex> guard(state_->lock);
    state_->stopping = true;
  }
  state_->work.notify_all();
  state_->answered.notify_all();
  thread_.join();
}

std::string RedisBookmarkStore::key_of(const std::string &owner) const { return state_->options.key_of(owner); }

BookmarkStore::LoadResult RedisBookmarkStore::load(const std::string &owner, const std::string &subscription)
{
  State &s = *state_;
  std::unique_lock<std::mutex> guard(s.lock);
  if (s.health == Health::Down)
    return {LoadStatus::Unavailable, {}, "Redis unreachable: " + s.down_error};
  auto read = std::make_shared<Read>();
  read->key = key_of(owner);
  read->field = subscription;
  s.reads.push_back(read);
  s.work_waiting = true;
  s.work.notify_one();
  if (!s.answered.wait_for(guard, s.options.timeout, [&] { return read->done || s.stopping; }) || !read->done)
    {
      // Until the store's thread hears from Redis again, the worker does not wait on it any more.
      s.health = Health::Down;
      s.down_error = "no answer within timeout()";
      return {LoadStatus::Unavailable, {}, "Redis did not answer within timeout()"};
    }
  return read->result;
}

BookmarkStore::SaveResult RedisBookmarkStore::save(const std::string &owner, const std::string &subscription,
                                                   const std::string &bookmark, std::string &error)
{
  State &s = *state_;
  std::lock_guard<std::mutex> guard(s.lock);
  auto [it, fresh] = s.writes.try_emplace({key_of(owner), subscription});
  Write &write = it->second;
  write.asked = Clock::now();
  if (!fresh)
    {
      if (write.stored && *write.stored == bookmark)
        {
          if (!write.sending && write.wanted == bookmark)
            s.writes.erase(it);
          return SaveResult::Committed;
        }
      if (!write.refused.empty() && write.wanted == bookmark)
        {
          error = "Redis refused it: " + write.refused;
          if (!write.sending)
            s.writes.erase(it);
          return SaveResult::Failed;
        }
      if (write.wanted == bookmark)
        return SaveResult::Pending;
    }
  write.wanted = bookmark;
  write.refused.clear();
  s.work_waiting = true;
  s.work.notify_one();
  return SaveResult::Pending;
}

} // namespace wec
