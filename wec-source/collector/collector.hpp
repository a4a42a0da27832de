// The orchestrator: a WS-Management request in, events out to the EventSink, and the reply
// to an Events batch only once every event of it is acknowledged and its bookmark is stored.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "bookmarks/bookmark-store.hpp"
#include "collector/event-sink.hpp"
#include "core/log.hpp"
#include "http/exchange.hpp"
#include "subscriptions/subscription.hpp"
#include "wsman/message.hpp"
#include "wsman/responses.hpp"

namespace wec {

// How forwarders reach one listener, as the subscriptions advertise it.
struct ListenerProfile
{
  std::string base_url; // "https://wec.corp.example:5986"
  wsman::AuthProfile auth = wsman::AuthProfile::HttpsMutual;
  std::vector<std::string> issuer_thumbprints;
};

// Answers a request that was not answered at once (the connection waits meanwhile).
using DeferredReply = std::function<void(http::Response)>;

struct CollectorOptions
{
  std::vector<SubscriptionConfig> subscriptions;
  std::chrono::seconds commit_timeout{50}; // no acknowledgement by then: 503, the forwarder retries
  bool forward_bookmark_events = false;    // EventForwarder 111 markers: bookmark only, unless set
  bool compression = true;                 // advertise SLDC; bodies labelled SLDC are decompressed
};

class Collector
{
public:
  Collector(CollectorOptions options, EventSink &sink, BookmarkStore &store, LogFunction log);
  ~Collector();

  // Serves one request that arrived on a listener with `profile`. Returns the response, or
  // nothing when the answer comes later through `reply` (an Events batch).
  std::optional<http::Response> handle(const ListenerProfile &profile, const http::Request &request,
                                       DeferredReply reply);

  // Posts what the window allows, answers batches whose events are all acknowledged.
  // Returns true when it answered something (the listeners then have work).
  bool pump();

  // Milliseconds until the next batch deadline, -1 when none waits.
  long next_deadline_ms() const;

  // Answers every waiting batch with 503 (shutdown): the forwarders resend, nothing is lost.
  void abandon_all(const std::string &reason);

  // The largest body a forwarder may send, derived from the subscriptions' max-envelope-size.
  std::size_t max_body_bytes() const;

  struct Batch;

private:
  struct Subscription
  {
    SubscriptionConfig config;
    std::string uuid;
  };

  std::optional<http::Response> enumerate(const ListenerProfile &profile, const http::Request &request,
                                          const wsman::Message &message);
  std::optional<http::Response> deliver(const http::Request &request, const Subscription &subscription,
                                        wsman::Message &message, DeferredReply reply);
  const Subscription *find_by_uuid(const std::string &uuid) const;
  BookmarkStore::LoadResult stored_bookmark(const http::Request &request, const std::string &subscription);
  http::Response fail(unsigned status, const http::Request &request, const std::string &what, LogTags details = {});
  void store_bookmark(Batch &batch);
  bool answer_stored();
  std::uint64_t post(const EventOrigin &origin, std::string_view event_xml);

  CollectorOptions options_;
  EventSink &sink_;
  BookmarkStore &store_;
  LogFunction log_;
  std::vector<Subscription> subscriptions_;
  std::deque<std::unique_ptr<Batch>> posting_;    // events still to post, in arrival order
  std::deque<std::unique_ptr<Batch>> committing_; // all posted, waiting for acknowledgement
};

// A SOAP reply: UTF-16LE with BOM, the content type Windows expects.
http::Response soap_response(unsigned status, const std::string &utf8_envelope);

} // namespace wec
