#include "log-throttle.hpp"

#include <cstring>

namespace wec {

namespace {

const std::string *tag_value(const LogTags &tags, const char *name)
{
  for (const auto &tag : tags)
    if (std::strcmp(tag.name, name) == 0 && !tag.value.empty())
      return &tag.value;
  return nullptr;
}

// "192.0.2.10:50114" → "192.0.2.10", "[2001:db8::1]:443" → "[2001:db8::1]": ports change per connection.
std::string address_of(const std::string &peer)
{
  const std::size_t colon = peer.rfind(':');
  if (colon == std::string::npos || (peer.front() == '[' && peer[colon - 1] != ']'))
    return peer;
  return peer.substr(0, colon);
}

} // namespace

LogThrottle::LogThrottle(LogFunction sink, std::chrono::seconds interval) : sink_(std::move(sink)), interval_(interval)
{}

LogFunction LogThrottle::function()
{
  return [this](LogLevel level, const std::string &message, const LogTags &tags) { log(level, message, tags); };
}

void LogThrottle::log(LogLevel level, const std::string &message, const LogTags &tags, Clock::time_point now)
{
  const std::string *identity = tag_value(tags, "identity");
  const std::string *peer = identity ? nullptr : tag_value(tags, "peer");
  if (interval_.count() == 0 || level == LogLevel::Info || level == LogLevel::Debug || (!identity && !peer))
    {
      sink_(level, message, tags);
      return;
    }
  const std::string who = identity ? "identity=" + *identity : "peer=" + address_of(*peer);
  std::string kind = message;
  for (const auto &tag : tags)
    if (std::strcmp(tag.name, "peer") != 0)
      kind.append("\x1f").append(tag.name).append("=").append(tag.value);

  std::unique_lock<std::mutex> guard(lock_);
  auto found = clients_.find(who);
  if (found == clients_.end())
    {
      if (clients_.size() >= kClients)
        {
          if (untracked_++ == 0)
            untracked_since_ = now;
          return;
        }
      found =
          clients_
              .emplace(
                  who,
                  Client{now, {}, 0, LogTag{identity ? "identity" : "peer", identity ? *identity : address_of(*peer)}})
              .first;
    }
  Client &client = found->second;
  if (now - client.started >= interval_)
    {
      summarise(client);
      client = Client{now, {}, 0, client.who};
    }
  auto line = client.lines.find(kind);
  if (line != client.lines.end())
    {
      ++line->second.repeats;
      return;
    }
  if (client.lines.size() >= kDistinctLines)
    {
      ++client.suppressed;
      return;
    }
  client.lines.emplace(kind, Line{level, message, tags, 0});
  guard.unlock();
  sink_(level, message, tags);
}

void LogThrottle::summarise(Client &client)
{
  const std::string interval = std::to_string(interval_.count());
  for (auto &[kind, line] : client.lines)
    if (line.repeats)
      {
        LogTags tags = line.tags;
        tags.push_back({"repeated", std::to_string(line.repeats)});
        tags.push_back({"interval", interval});
        sink_(line.level, line.message, tags);
      }
  if (client.suppressed)
    sink_(LogLevel::Warning, "windowsevent: more kinds of refusal for one client than are logged, not logged",
          {client.who, {"suppressed", std::to_string(client.suppressed)}, {"interval", interval}});
}

void LogThrottle::flush(Clock::time_point now)
{
  std::lock_guard<std::mutex> guard(lock_);
  if (now - last_flush_ < std::chrono::seconds(1))
    return;
  last_flush_ = now;
  for (auto it = clients_.begin(); it != clients_.end();)
    {
      if (now - it->second.started < interval_)
        {
          ++it;
          continue;
        }
      summarise(it->second);
      it = clients_.erase(it);
    }
  if (untracked_ && now - untracked_since_ >= interval_)
    {
      sink_(LogLevel::Warning, "windowsevent: refusals of too many different clients to log each, not logged",
            {{"suppressed", std::to_string(untracked_)},
             {"clients", std::to_string(kClients)},
             {"interval", std::to_string(interval_.count())}});
      untracked_ = 0;
    }
}

} // namespace wec
