// The collector with a fake EventSink and BookmarkStore: an Events batch is answered only after
// every event of it is acknowledged and its bookmark committed; windows, failures, timeouts.
#include <criterion/criterion.h>

#include "collector/collector.hpp"
#include "expect.hpp"
#include "codec/utf16.hpp"
#include "wsman-envelopes.hpp"

#include <algorithm>
#include <map>
#include <optional>
#include <string>
#include <vector>

using namespace wec;

namespace {

class FakeSink : public EventSink
{
public:
  std::size_t window = 1000; // events that may still be posted
  std::uint64_t acknowledged = 0;
  std::vector<std::string> posted;
  std::vector<EventOrigin> origins;

  bool window_open() override { return window > 0; }
  std::uint64_t post(const ForwardedEvent &event) override
  {
    cr_assert(window > 0, "posted into a closed window");
    --window;
    posted.emplace_back(event.xml);
    origins.push_back(event.origin);
    return posted.size();
  }
  std::uint64_t acknowledged_through() override { return acknowledged; }
};

class FakeStore : public BookmarkStore
{
public:
  SaveResult next = SaveResult::Committed;
  std::map<std::string, std::string> saved;
  int save_calls = 0;
  std::vector<std::string> calls; // "<owner>|RecordId=..." of every save()
  bool unavailable = false;

  LoadResult load(const std::string &identity, const std::string &subscription) override
  {
    if (unavailable)
      return {LoadStatus::Unavailable, {}, "store down"};
    auto it = saved.find(identity + "|" + subscription);
    return it == saved.end() ? LoadResult{} : LoadResult{LoadStatus::Found, it->second, {}};
  }
  SaveResult save(const std::string &identity, const std::string &subscription, const std::string &bookmark,
                  std::string &error) override
  {
    ++save_calls;
    calls.push_back(identity + "|" + bookmark.substr(bookmark.find("RecordId=")));
    if (next == SaveResult::Committed)
      saved[identity + "|" + subscription] = bookmark;
    if (next == SaveResult::Failed)
      error = "disk full";
    return next;
  }
};

struct Replies
{
  std::vector<http::Response> answered;
  DeferredReply make()
  {
    return [this](http::Response r) { answered.push_back(std::move(r)); };
  }
};

std::string events_envelope(const std::string &message_id, int count, const std::string &bookmark_record)
{
  std::vector<std::string> events;
  for (int i = 0; i < count; ++i)
    events.push_back("<Event xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><EventID>" +
                     std::to_string(i) + "</EventID></System></Event>");
  return ::events_envelope(message_id, events, bookmark_record);
}

struct Fixture
{
  FakeSink sink;
  FakeStore store;
  std::vector<std::string> log_lines;
  std::unique_ptr<Collector> collector;
  ListenerProfile profile{"https://wec.example:5986", wsman::AuthProfile::HttpsMutual, {"ABCDEF"}};
  std::string delivery_path;

  explicit Fixture(std::chrono::seconds timeout = std::chrono::seconds(300))
  {
    SubscriptionConfig s;
    s.name = "security";
    s.computers = {"win*.corp.example"};
    s.query = "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>";
    CollectorOptions options;
    options.subscriptions = {s};
    options.commit_timeout = timeout;
    collector = std::make_unique<Collector>(
        options, sink, store, [this](LogLevel, const std::string &m, const LogTags &) { log_lines.push_back(m); });
    delivery_path = "/wsman/subscriptions/" + subscription_uuid(s);
  }

  std::optional<http::Response> request(const std::string &path, const std::string &body, Replies *replies = nullptr,
                                        const std::string &identity = "win01.corp.example",
                                        http::AuthMethod method = http::AuthMethod::Certificate)
  {
    http::Request r;
    r.auth_method = method;
    r.method = "POST";
    r.path = path;
    r.peer = "192.0.2.1:50000";
    r.identity = identity;
    r.identity_names = {identity};
    r.body = codec::encode_utf16le_with_bom(body);
    Replies unused;
    return collector->handle(profile, r, (replies ? replies : &unused)->make());
  }
};

std::string decoded(const http::Response &r)
{
  std::string text, error;
  cr_assert(codec::decode_body(r.body, text, error), "%s", error.c_str());
  return text;
}

} // namespace

Test(collector, enumerate_offers_allowed_subscriptions_and_refuses_others)
{
  Fixture f;
  auto enumerate =
      envelope("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", "uuid:AAA", "", "<n:Enumerate/>");
  auto ok = f.request("/wsman/SubscriptionManager/WEC", enumerate);
  cr_assert(ok && ok->status == 200);
  std::string text = decoded(*ok);
  cr_assert(text.find("<a:RelatesTo>uuid:AAA</a:RelatesTo>") != std::string::npos);
  cr_assert(text.find("https://wec.example:5986" + f.delivery_path) != std::string::npos);
  cr_assert(text.find("ABCDEF") != std::string::npos);

  auto denied = f.request("/wsman/SubscriptionManager/WEC", enumerate, nullptr, "db01.corp.example");
  cr_assert(denied && denied->status == 403);
  cr_assert_eq(
      std::count_if(f.log_lines.begin(), f.log_lines.end(),
                    [](const std::string &l) { return l.find("matches no subscription") != std::string::npos; }),
      1);
}

Test(collector, batch_is_answered_only_after_acknowledgement_and_bookmark_commit)
{
  Fixture f;
  Replies replies;
  cr_assert_not(f.request(f.delivery_path, events_envelope("uuid:B1", 3, "30"), &replies).has_value());
  f.collector->pump();
  cr_assert_eq(f.sink.posted.size(), 3);
  cr_assert_eq(f.sink.origins[0].subscription, "security");
  cr_assert(replies.answered.empty(), "answered before the destinations acknowledged");
  cr_assert_eq(f.store.save_calls, 0);

  f.sink.acknowledged = 2;
  f.collector->pump();
  cr_assert(replies.answered.empty(), "answered with one event unacknowledged");

  f.sink.acknowledged = 3;
  cr_assert(f.collector->pump());
  cr_assert_eq(replies.answered.size(), 1);
  cr_assert_eq(replies.answered[0].status, 200);
  cr_assert(decoded(replies.answered[0]).find("<a:RelatesTo>uuid:B1</a:RelatesTo>") != std::string::npos);
  cr_assert(f.store.saved.at("certificate:win01.corp.example|security").find("RecordId=\"30\"") != std::string::npos);
}

Test(collector, full_window_holds_the_rest_of_the_batch)
{
  Fixture f;
  f.sink.window = 2;
  Replies replies;
  f.request(f.delivery_path, events_envelope("uuid:B1", 5, "5"), &replies);
  f.collector->pump();
  cr_assert_eq(f.sink.posted.size(), 2);
  f.sink.window = 10;
  f.collector->pump();
  cr_assert_eq(f.sink.posted.size(), 5);
  f.sink.acknowledged = 5;
  f.collector->pump();
  cr_assert_eq(replies.answered.size(), 1);
}

Test(collector, batches_complete_in_order)
{
  Fixture f;
  Replies first, second;
  f.request(f.delivery_path, events_envelope("uuid:B1", 2, "2"), &first);
  f.request(f.delivery_path, events_envelope("uuid:B2", 2, "4"), &second, "win02.corp.example");
  f.collector->pump();
  f.sink.acknowledged = 2;
  f.collector->pump();
  cr_assert_eq(first.answered.size(), 1);
  cr_assert(second.answered.empty());
  f.sink.acknowledged = 4;
  f.collector->pump();
  cr_assert_eq(second.answered.size(), 1);
}

Test(collector, pending_bookmark_storage_delays_the_answer_and_failure_gives_503)
{
  Fixture f;
  Replies replies;
  f.store.next = BookmarkStore::SaveResult::Pending;
  f.request(f.delivery_path, events_envelope("uuid:B1", 1, "1"), &replies);
  f.collector->pump();
  f.sink.acknowledged = 1;
  f.collector->pump();
  cr_assert(replies.answered.empty());
  f.store.next = BookmarkStore::SaveResult::Committed;
  f.collector->pump();
  cr_assert_eq(replies.answered.size(), 1);
  cr_assert_eq(replies.answered[0].status, 200);

  Replies failed;
  f.store.next = BookmarkStore::SaveResult::Failed;
  f.request(f.delivery_path, events_envelope("uuid:B2", 1, "2"), &failed);
  f.collector->pump();
  f.sink.acknowledged = 2;
  f.collector->pump();
  cr_assert_eq(failed.answered.size(), 1);
  cr_assert_eq(failed.answered[0].status, 503);
}

Test(collector, unacknowledged_batch_times_out_with_503_and_shutdown_answers_503)
{
  Fixture f(std::chrono::seconds(0));
  Replies late;
  f.request(f.delivery_path, events_envelope("uuid:B1", 1, "1"), &late);
  f.collector->pump();
  cr_assert_eq(late.answered.size(), 1);
  cr_assert_eq(late.answered[0].status, 503);

  Fixture g;
  Replies waiting;
  g.sink.window = 0;
  g.request(g.delivery_path, events_envelope("uuid:B1", 1, "1"), &waiting);
  g.collector->pump();
  cr_assert(waiting.answered.empty());
  g.collector->abandon_all("stopping");
  cr_assert_eq(waiting.answered.size(), 1);
  cr_assert_eq(waiting.answered[0].status, 503);
}

Test(collector, forwarder_bookmark_marker_is_stored_not_posted)
{
  Fixture f;
  Replies replies;
  std::string marker = "<w:Event Action='http://schemas.dmtf.org/wbem/wsman/1/wsman/Event'><![CDATA[<Event "
                       "xmlns='http://schemas.microsoft.com/win/2004/08/events/event'><System><Provider "
                       "Name='Microsoft-Windows-EventForwarder'/><EventID>111</EventID></System>"
                       "<SubscriptionBookmarkEvent><SubscriptionId></SubscriptionId></SubscriptionBookmarkEvent>"
                       "</Event>]]></w:Event>";
  std::string body = envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/Events", "uuid:M",
                              "<w:Bookmark><BookmarkList Direction='backward'><Bookmark Channel='Security' "
                              "RecordId='9'/></BookmarkList></w:Bookmark><w:AckRequested/>",
                              "<w:Events>" + marker + "</w:Events>");
  f.request(f.delivery_path, body, &replies);
  f.collector->pump();
  cr_assert(f.sink.posted.empty());
  cr_assert_eq(replies.answered.size(), 1);
  cr_assert_eq(replies.answered[0].status, 200);
  cr_assert(f.store.saved.at("certificate:win01.corp.example|security").find("Direction=\"backward\"") !=
            std::string::npos);
}

Test(collector, immediate_answers_and_errors)
{
  Fixture f;
  auto heartbeat = f.request(f.delivery_path, envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat", "uuid:H",
                                                       "<w:AckRequested/>", "<w:Events/>"));
  cr_assert(heartbeat && heartbeat->status == 200);
  cr_assert(decoded(*heartbeat).find("wsman/Ack</a:Action>") != std::string::npos);
  auto end = f.request("/wsman/SubscriptionManager/WEC",
                       envelope("http://schemas.microsoft.com/wbem/wsman/1/wsman/End", "uuid:E", "", ""));
  cr_assert(end && end->status == 204);
  cr_assert_eq(f.request("/other", "<x/>")->status, 404);
  cr_assert_eq(f.request("/wsman/subscriptions/0000", "<x/>")->status, 400); // body checked first
  cr_assert_eq(f.request("/wsman/subscriptions/0000",
                         envelope("http://schemas.dmtf.org/wbem/wsman/1/wsman/Heartbeat", "uuid:H", "", ""))
                   ->status,
               404);
  cr_assert_eq(f.request(f.delivery_path, events_envelope("uuid:X", 1, "1"), nullptr, "db01.corp.example")->status,
               403);
  cr_assert_eq(f.request(f.delivery_path, "not xml")->status, 400);
  cr_assert(f.sink.posted.empty());
}

Test(collector, bookmarks_belong_to_method_and_identity_and_are_checked_before_they_are_offered)
{
  Fixture f;
  const std::string name = "win01.corp.example"; // the same name under both methods
  auto enumerate =
      envelope("http://schemas.xmlsoap.org/ws/2004/09/enumeration/Enumerate", "uuid:E", "", "<n:Enumerate/>");
  auto offered = [&](http::AuthMethod method) {
    auto r = f.request("/wsman/SubscriptionManager/WEC", enumerate, nullptr, name, method);
    cr_assert(r && r->status == 200);
    return decoded(*r);
  };
  f.store.saved["kerberos:" + name + "|security"] = "<BookmarkList><Bookmark RecordId='7'/></BookmarkList>";
  cr_assert(offered(http::AuthMethod::Kerberos).find("<w:Bookmark><BookmarkList><Bookmark RecordId=\"7\"/>") !=
            std::string::npos);
  cr_assert(offered(http::AuthMethod::Certificate).find("<w:Bookmark>") == std::string::npos);

  // Raw text in the store (an older version stored it verbatim) never reaches a response.
  f.store.saved["kerberos:" + name + "|security"] = "</w:Bookmark><w:Injected/>";
  std::string text = offered(http::AuthMethod::Kerberos);
  cr_assert(text.find("Injected") == std::string::npos && text.find("<w:Bookmark>") == std::string::npos);
  cr_assert_eq(
      std::count_if(f.log_lines.begin(), f.log_lines.end(),
                    [](const std::string &l) { return l.find("stored bookmark refused") != std::string::npos; }),
      1);
}

Test(collector, enumeration_is_answered_503_while_the_store_cannot_read)
{
  Fixture f;
  f.store.unavailable = true;
  auto answer = f.request("/wsman/SubscriptionManager/WEC", enumerate_envelope("uuid:E1"));
  cr_assert(answer && answer->status == 503, "a subscription without its stored bookmark would replay or skip");
  const auto lines = std::count_if(f.log_lines.begin(), f.log_lines.end(), [](const std::string &l) {
    return l.find("bookmark store unavailable, enumeration answered 503") != std::string::npos;
  });
  cr_assert_eq(lines, 1);
  cr_assert_eq(f.log_lines.size(), 1u);
  f.store.unavailable = false;
  answer = f.request("/wsman/SubscriptionManager/WEC", enumerate_envelope("uuid:E2"));
  cr_assert(answer && answer->status == 200);
}

Test(collector, acknowledged_batches_go_to_the_store_together_and_are_answered_in_order)
{
  Fixture f;
  Replies first, second, third;
  f.store.next = BookmarkStore::SaveResult::Pending; // a remote store: confirmed later
  f.request(f.delivery_path, events_envelope("uuid:B1", 1, "1"), &first);
  f.request(f.delivery_path, events_envelope("uuid:B2", 1, "2"), &second, "win02.corp.example");
  f.request(f.delivery_path, events_envelope("uuid:B3", 1, "3"), &third); // same stream as B1
  f.collector->pump();
  f.sink.acknowledged = 3;
  f.collector->pump();
  // B1 and B2 were handed over in one pump; B3 waits until B1's bookmark is stored, never overtaking it.
  cr_assert_eq(f.store.calls.size(), 2u);
  EXPECT_STR(f.store.calls[0], "certificate:win01.corp.example|RecordId=\"1\"/></BookmarkList>");
  EXPECT_STR(f.store.calls[1], "certificate:win02.corp.example|RecordId=\"2\"/></BookmarkList>");
  cr_assert(first.answered.empty() && second.answered.empty() && third.answered.empty());

  f.store.next = BookmarkStore::SaveResult::Committed;
  f.collector->pump();
  cr_assert_eq(first.answered.size(), 1u);
  cr_assert_eq(second.answered.size(), 1u);
  cr_assert_eq(third.answered.size(), 1u);
  cr_assert_eq(third.answered[0].status, 200);
  EXPECT_STR(f.store.calls.back(), "certificate:win01.corp.example|RecordId=\"3\"/></BookmarkList>");
  cr_assert(f.store.saved.at("certificate:win01.corp.example|security").find("RecordId=\"3\"") != std::string::npos);
}
