#include "collector.hpp"

#include "codec/sldc.hpp"
#include "codec/utf16.hpp"
#include "wsman/bookmark.hpp"

#include <algorithm>
#include <cctype>
#include <set>

namespace wec {

namespace {

constexpr std::string_view kDeliveryPrefix = "/wsman/subscriptions/";
constexpr std::string_view kManagerPath = "/wsman/subscriptionmanager";

bool starts_with_nocase(std::string_view text, std::string_view prefix)
{
  if (text.size() < prefix.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(text[i])) != std::tolower(static_cast<unsigned char>(prefix[i])))
      return false;
  return true;
}

bool contains_nocase(std::string_view text, std::string_view needle)
{
  for (std::size_t i = 0; i + needle.size() <= text.size(); ++i)
    if (starts_with_nocase(text.substr(i), needle))
      return true;
  return false;
}

bool equals_nocase(std::string_view a, std::string_view b) { return a.size() == b.size() && starts_with_nocase(a, b); }

const char *action_name(wsman::Action action)
{
  switch (action)
    {
    case wsman::Action::Enumerate: return "Enumerate";
    case wsman::Action::End: return "End";
    case wsman::Action::Heartbeat: return "Heartbeat";
    case wsman::Action::Events: return "Events";
    case wsman::Action::SubscriptionEnd: return "SubscriptionEnd";
    case wsman::Action::Unknown: break;
    }
  return "unknown";
}

// The synthetic event a forwarder sends right after subscribing without a bookmark: provider
// Microsoft-Windows-EventForwarder, EventID 111, <SubscriptionBookmarkEvent>. Protocol data.
bool is_bookmark_event(std::string_view event_xml)
{
  return event_xml.find("<SubscriptionBookmarkEvent") != std::string_view::npos &&
         event_xml.find("Microsoft-Windows-EventForwarder") != std::string_view::npos;
}

http::Response no_content()
{
  http::Response r;
  r.status = 204;
  return r;
}

// Is the event's own <Computer> one of the names authentication proved (lower case)?
bool names_host(const std::vector<std::string> &host_names, const std::string &computer)
{
  std::string lower = computer;
  std::transform(lower.begin(), lower.end(), lower.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return std::find(host_names.begin(), host_names.end(), lower) != host_names.end();
}

std::string profile_view(const ListenerProfile &profile, bool compression)
{
  std::string view = profile.base_url;
  view += profile.auth == wsman::AuthProfile::HttpsMutual ? "|https-mutual" : "|spnego-kerberos";
  view += compression ? "|sldc" : "";
  for (const auto &t : profile.issuer_thumbprints)
    view += "|" + t;
  return view;
}

} // namespace

// Bookmarks belong to an authentication method and an identity: a certificate whose CN looks like
// a Kerberos principal never reaches that principal's position, nor the other way round.
static std::string bookmark_owner(const http::Request &request)
{
  return std::string(http::auth_method_name(request.auth_method)) + ":" + request.identity;
}

// Principals name users and services, not hosts: only names without '@' prove a host name.
static std::vector<std::string> proven_host_names(const http::Request &request)
{
  std::vector<std::string> hosts;
  for (const auto &name : request.identity_names)
    if (name.find('@') == std::string::npos)
      {
        std::string lower = name;
        std::transform(lower.begin(), lower.end(), lower.begin(),
                       [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
        hosts.push_back(std::move(lower));
      }
  return hosts;
}

struct Collector::Batch
{
  DeferredReply reply;
  EventOrigin origin;
  std::string owner; // bookmark_owner() of the request
  wsman::Message message;
  std::size_t next_event = 0;
  std::uint64_t last_sequence = 0;
  std::chrono::steady_clock::time_point received;
  std::chrono::steady_clock::time_point deadline;
  bool stored = false;       // its bookmark is stored (or it has none): it may be acknowledged
  bool store_failed = false; // the store refused its bookmark: answered 503
};

http::Response soap_response(unsigned status, const std::string &utf8_envelope)
{
  http::Response r;
  r.status = status;
  r.content_type = "application/soap+xml;charset=UTF-16";
  r.body = codec::encode_utf16le_with_bom(utf8_envelope);
  return r;
}

Collector::Collector(CollectorOptions options, EventSink &sink, BookmarkStore &store, LogFunction log)
    : options_(std::move(options)), sink_(sink), store_(store), log_(std::move(log))
{
  for (const auto &config : options_.subscriptions)
    subscriptions_.push_back(Subscription{config, subscription_uuid(config)});
}

Collector::~Collector() = default;

std::size_t Collector::max_body_bytes() const
{
  unsigned long largest = 0;
  for (const auto &s : subscriptions_)
    largest = std::max(largest, s.config.max_envelope_size);
  // Room for the envelope counted in UTF-16 code units as well as bytes, and the HTTP framing.
  return static_cast<std::size_t>(largest) * 2 + 64 * 1024;
}

const Collector::Subscription *Collector::find_by_uuid(const std::string &uuid) const
{
  for (const auto &s : subscriptions_)
    if (equals_nocase(s.uuid, uuid))
      return &s;
  return nullptr;
}

http::Response Collector::fail(unsigned status, const http::Request &request, const std::string &what, LogTags details)
{
  LogTags tags = {{"answered", std::to_string(status)},
                  {"identity", clip(request.identity)},
                  {"peer", request.peer},
                  {"path", clip(request.path)}};
  for (auto &detail : details)
    tags.push_back({detail.name, clip(detail.value, 400)}); // errors quote what the client sent
  log_(status >= 500 ? LogLevel::Error : LogLevel::Warning, "windowsevent: " + what, tags);
  http::Response r;
  r.status = status;
  return r;
}

std::optional<http::Response> Collector::handle(const ListenerProfile &profile, const http::Request &request,
                                                DeferredReply reply)
{
  const bool delivery = starts_with_nocase(request.path, kDeliveryPrefix);
  const bool manager = starts_with_nocase(request.path, kManagerPath) &&
                       (request.path.size() == kManagerPath.size() || request.path[kManagerPath.size()] == '/');
  if (!delivery && !manager)
    return fail(404, request, "unknown path",
                {{"hint", "forwarders use /wsman/SubscriptionManager/... and /wsman/subscriptions/..."}});
  if (request.identity.empty())
    return fail(403, request, "request without an authenticated identity");

  std::string_view body = request.body;
  std::string expanded, text, error;
  if (contains_nocase(request.content_encoding, "sldc"))
    {
      switch (codec::sldc_decompress(request.body, expanded, max_body_bytes(), error))
        {
        case codec::SldcResult::Ok: body = expanded; break;
        case codec::SldcResult::TooLarge:
          return fail(413, request, "SLDC body expands past the size limit", {{"error", error}});
        case codec::SldcResult::NotSldc:
        case codec::SldcResult::Corrupt:
          break; // Windows labels some uncompressed bodies SLDC too: take the bytes as they are
        }
    }
  if (!codec::decode_body(body, text, error))
    return fail(400, request, "request body is not UTF-16 or UTF-8 text", {{"error", error}});
  wsman::Message message;
  if (!wsman::parse_message(text, message, error))
    return fail(400, request, "malformed SOAP request", {{"error", error}});

  if (!delivery)
    {
      switch (message.action)
        {
        case wsman::Action::Enumerate: return enumerate(profile, request, message);
        case wsman::Action::End: return no_content();
        default:
          return fail(400, request, "unsupported action on the SubscriptionManager", {{"action", message.action_uri}});
        }
    }

  std::string uuid = request.path.substr(kDeliveryPrefix.size());
  uuid = uuid.substr(0, uuid.find('/'));
  const Subscription *subscription = find_by_uuid(uuid);
  if (!subscription)
    return fail(
        404, request, "unknown subscription",
        {{"subscription_id", uuid}, {"hint", "removed or renamed; the forwarder drops it at its next enumeration"}});
  if (!subscription_allows(subscription->config, request.identity_names))
    return fail(403, request, "identity not allowed by computers() of the subscription",
                {{"subscription", subscription->config.name}});
  return deliver(request, *subscription, message, std::move(reply));
}

std::optional<http::Response> Collector::enumerate(const ListenerProfile &profile, const http::Request &request,
                                                   const wsman::Message &message)
{
  std::vector<wsman::SubscriptionOffer> offers;
  const std::string view = profile_view(profile, options_.compression);
  for (const auto &s : subscriptions_)
    {
      if (!subscription_allows(s.config, request.identity_names))
        continue;
      const SubscriptionConfig &c = s.config;
      wsman::SubscriptionOffer offer;
      offer.policy = c;
      offer.version = subscription_version(c, view);
      offer.identifier = s.uuid;
      offer.delivery_address = profile.base_url + std::string(kDeliveryPrefix) + s.uuid;
      offer.compression = options_.compression;
      BookmarkStore::LoadResult stored = stored_bookmark(request, c.name);
      if (stored.status == BookmarkStore::LoadStatus::Unavailable)
        return fail(503, request, "bookmark store unavailable, enumeration answered 503",
                    {{"error", stored.error},
                     {"hint", "the forwarder asks again after its retry interval; a subscription is never offered "
                              "without its stored bookmark"}});
      offer.bookmark_xml = std::move(stored.bookmark);
      offer.auth = profile.auth;
      offer.issuer_thumbprints = profile.issuer_thumbprints;
      offers.push_back(std::move(offer));
    }
  if (offers.empty())
    return fail(403, request, "identity matches no subscription's computers()",
                {{"hint", "add it to computers() of a subscription to collect from it"}});

  log_(LogLevel::Debug, "windowsevent: enumeration answered",
       {{"identity", request.identity}, {"peer", request.peer}, {"subscriptions", std::to_string(offers.size())}});
  return soap_response(200, wsman::build_enumerate_response(message, offers));
}

// The stored bookmark, checked again: one that is not a well-formed <BookmarkList> counts as none.
BookmarkStore::LoadResult Collector::stored_bookmark(const http::Request &request, const std::string &subscription)
{
  BookmarkStore::LoadResult stored = store_.load(bookmark_owner(request), subscription);
  if (stored.status != BookmarkStore::LoadStatus::Found)
    return stored;
  std::string canonical, error;
  if (wsman::canonical_bookmark(stored.bookmark, canonical, error) == wsman::BookmarkResult::Valid)
    return {BookmarkStore::LoadStatus::Found, std::move(canonical), {}};
  log_(LogLevel::Warning, "windowsevent: stored bookmark refused, the forwarder starts from its newest events",
       {{"identity", clip(request.identity)},
        {"subscription", subscription},
        {"error", clip(error)},
        {"hint", "the bookmark was written by an older version or altered in the store"}});
  return {};
}

std::optional<http::Response> Collector::deliver(const http::Request &request, const Subscription &subscription,
                                                 wsman::Message &message, DeferredReply reply)
{
  switch (message.action)
    {
    case wsman::Action::End: return no_content();
    case wsman::Action::Heartbeat:
      log_(LogLevel::Debug, "windowsevent: heartbeat",
           {{"identity", request.identity}, {"subscription", subscription.config.name}});
      return soap_response(200, wsman::build_ack(message));
    case wsman::Action::SubscriptionEnd:
      log_(LogLevel::Notice, "windowsevent: forwarder ended its subscription",
           {{"identity", request.identity},
            {"subscription", subscription.config.name},
            {"status", clip(message.end_status)},
            {"fault_code", clip(message.fault_code, 40)},
            {"fault", clip(message.fault_message)},
            {"hint", "it subscribes again at its next refresh"}});
      return soap_response(200, wsman::build_ack(message));
    case wsman::Action::Events: break;
    default:
      return fail(400, request, "unsupported action on a subscription",
                  {{"action", std::string(action_name(message.action)) + " " + message.action_uri}});
    }

  auto batch = std::make_unique<Batch>();
  batch->reply = std::move(reply);
  batch->origin = EventOrigin{request.identity, subscription.config.name, request.peer, proven_host_names(request)};
  batch->owner = bookmark_owner(request);
  batch->message = std::move(message);
  batch->received = std::chrono::steady_clock::now();
  batch->deadline = batch->received + options_.commit_timeout;
  posting_.push_back(std::move(batch));
  return std::nullopt;
}

void Collector::store_bookmark(Batch &batch)
{
  if (!batch.message.bookmark)
    {
      batch.stored = true;
      return;
    }
  std::string error;
  switch (store_.save(batch.owner, batch.origin.subscription, *batch.message.bookmark, error))
    {
    case BookmarkStore::SaveResult::Pending: return;
    case BookmarkStore::SaveResult::Committed: batch.stored = true; return;
    case BookmarkStore::SaveResult::Failed:
      batch.store_failed = true;
      log_(LogLevel::Error, "windowsevent: cannot store the bookmark of a batch, answered 503",
           {{"identity", batch.origin.identity},
            {"subscription", batch.origin.subscription},
            {"error", error},
            {"hint", "the forwarder resends the batch"}});
      return;
    }
}

// Answers the batches at the front whose bookmark is stored (200) or cannot be (503), in order.
bool Collector::answer_stored()
{
  bool answered = false;
  while (!committing_.empty() && (committing_.front()->stored || committing_.front()->store_failed))
    {
      Batch &batch = *committing_.front();
      batch.reply(batch.stored ? soap_response(200, wsman::build_ack(batch.message)) : http::Response{503, {}, {}, {}});
      committing_.pop_front();
      answered = true;
    }
  return answered;
}

std::uint64_t Collector::post(const EventOrigin &origin, std::string_view event_xml)
{
  xml::ParsedEvent parsed;
  std::string error;
  const bool ok = xml::parse_event(event_xml, parsed, error);
  if (!ok)
    log_(LogLevel::Warning, "windowsevent: event XML not parsed, forwarded as text",
         {{"identity", clip(origin.identity)}, {"subscription", clip(origin.subscription)}, {"error", clip(error)}});
  const std::string &computer = parsed.summary.computer;
  const bool verified = ok && !computer.empty() && names_host(origin.host_names, computer);
  return sink_.post(ForwardedEvent{origin, event_xml, ok ? &parsed : nullptr, error, verified});
}

bool Collector::pump()
{
  bool answered = false;
  while (!posting_.empty() && sink_.window_open())
    {
      Batch &batch = *posting_.front();
      auto &events = batch.message.events;
      while (batch.next_event < events.size() && sink_.window_open())
        {
          const std::string &event = events[batch.next_event++];
          if (!options_.forward_bookmark_events && is_bookmark_event(event))
            continue; // its bookmark is stored with the batch
          batch.last_sequence = post(batch.origin, event);
        }
      if (batch.next_event < events.size())
        break;
      events.clear();
      events.shrink_to_fit(); // the events live on in syslog-ng now
      committing_.push_back(std::move(posting_.front()));
      posting_.pop_front();
    }

  // Every acknowledged batch's bookmark goes to the store at once, so that a remote store writes them
  // in one round trip; a later bookmark of a stream never overtakes an earlier one still pending.
  const std::uint64_t acknowledged = sink_.acknowledged_through();
  std::set<std::pair<std::string, std::string>> pending_streams;
  for (auto &queued : committing_)
    {
      Batch &batch = *queued;
      if (batch.last_sequence > acknowledged)
        break;
      if (batch.stored || batch.store_failed)
        continue;
      auto stream = std::make_pair(batch.owner, batch.origin.subscription);
      if (pending_streams.count(stream))
        continue;
      store_bookmark(batch);
      if (!batch.stored && !batch.store_failed)
        pending_streams.insert(std::move(stream));
    }
  answered = answer_stored();

  const auto now = std::chrono::steady_clock::now();
  for (auto *queue : {&posting_, &committing_})
    for (auto it = queue->begin(); it != queue->end();)
      {
        Batch &batch = **it;
        if (batch.deadline > now)
          {
            ++it;
            continue;
          }
        const bool delivered = queue == &committing_ && batch.last_sequence <= acknowledged;
        log_(LogLevel::Error,
             delivered ? "windowsevent: bookmark not stored in time, answered 503"
                       : "windowsevent: events not acknowledged by the destinations in time, answered 503",
             {{"identity", batch.origin.identity},
              {"subscription", batch.origin.subscription},
              {"commit_timeout", std::to_string(options_.commit_timeout.count())},
              {"hint", delivered ? "the forwarder resends the batch; the bookmark store does not answer"
                                 : "the forwarder resends the batch; check that the destinations accept messages"}});
        batch.reply(http::Response{503, {}, {}, {}});
        it = queue->erase(it);
        answered = true;
      }
  return answered;
}

long Collector::next_deadline_ms() const
{
  long best = -1;
  const auto now = std::chrono::steady_clock::now();
  for (const auto *queue : {&posting_, &committing_})
    for (const auto &batch : *queue)
      {
        auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(batch->deadline - now).count();
        long value = ms < 0 ? 0 : static_cast<long>(ms);
        if (best < 0 || value < best)
          best = value;
      }
  return best;
}

void Collector::abandon_all(const std::string &reason)
{
  std::size_t count = 0;
  for (auto *queue : {&posting_, &committing_})
    {
      for (auto &batch : *queue)
        batch->reply(http::Response{503, {}, {}, {}});
      count += queue->size();
      queue->clear();
    }
  if (count)
    log_(LogLevel::Notice, "windowsevent: answered 503 to waiting batches, the forwarders resend them",
         {{"reason", reason}, {"batches", std::to_string(count)}});
}

} // namespace wec
