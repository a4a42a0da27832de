// The whole engine without syslog-ng: the Service's HTTPS listener on loopback, a forwarder's
// Enumerate, an Events batch of real events, and the Ack that comes only after the sink has
// acknowledged every event and the bookmark is stored.
#include <criterion/criterion.h>

#include "codec/utf16.hpp"
#include "https-client.hpp"
#include "service/service.hpp"
#include "test-pki.hpp"
#include "wsman-envelopes.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <future>
#include <map>
#include <mutex>
#include <thread>

using namespace wec;
using namespace test_pki;

namespace {

struct PostedEvent
{
  std::string xml, identity, peer, computer, parse_error;
  bool parsed, computer_verified;
};

// The host's side: events are acknowledged when the test says so, as syslog-ng's destinations would.
class TestSink : public EventSink
{
public:
  bool window_open() override { return true; }
  std::uint64_t post(const ForwardedEvent &event) override
  {
    std::lock_guard<std::mutex> guard(lock);
    posted.push_back({std::string(event.xml), event.origin.identity, event.origin.peer,
                      event.parsed ? event.parsed->summary.computer : "", std::string(event.parse_error),
                      event.parsed != nullptr, event.computer_verified});
    return posted.size();
  }
  std::uint64_t acknowledged_through() override { return acknowledged.load(); }

  std::size_t count()
  {
    std::lock_guard<std::mutex> guard(lock);
    return posted.size();
  }

  std::mutex lock;
  std::vector<PostedEvent> posted;
  std::atomic<std::uint64_t> acknowledged{0};
};

class TestStore : public BookmarkStore
{
public:
  LoadResult load(const std::string &owner, const std::string &subscription) override
  {
    std::lock_guard<std::mutex> guard(lock);
    auto it = saved.find(owner + "|" + subscription);
    return it == saved.end() ? LoadResult{} : LoadResult{LoadStatus::Found, it->second, {}};
  }
  SaveResult save(const std::string &owner, const std::string &subscription, const std::string &bookmark,
                  std::string &) override
  {
    std::lock_guard<std::mutex> guard(lock);
    saved[owner + "|" + subscription] = bookmark;
    return SaveResult::Committed;
  }

  std::mutex lock;
  std::map<std::string, std::string> saved;
};

int free_port()
{
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

std::vector<std::string> real_events(std::size_t count)
{
  std::ifstream corpus(std::string(WEC_TEST_DATA_DIR) + "/events-permissive.xml");
  std::vector<std::string> events;
  for (std::string line; events.size() < count && std::getline(corpus, line);)
    events.push_back(line);
  cr_assert_eq(events.size(), count);
  return events;
}

std::string decoded(const HttpResponse &response)
{
  std::string text, error;
  cr_assert(codec::decode_body(response.body, text, error), "%s", error.c_str());
  return text;
}

struct Engine
{
  fs::path dir = fs::temp_directory_path() / ("wec-service-" + std::to_string(getpid()));
  int port = free_port();
  TestSink sink;
  TestStore store;
  WakeChannel *wake = new WakeChannel();
  std::unique_ptr<Service> service;
  std::atomic<bool> stop{false};
  std::thread worker;

  Engine()
  {
    fs::create_directories(dir);
    Issued ca = make_cert("Test Issuing CA", nullptr, true, 1);
    Issued server = make_cert("localhost", &ca, false, 2);
    Issued client = make_cert("win01.corp.example", &ca, false, 3);
    write_file(dir / "ca.pem", pem_of(ca.cert.get()));
    write_file(dir / "server.crt", pem_of(server.cert.get()));
    write_file(dir / "server.key", pem_of(server.key.get()));
    write_file(dir / "client.crt", pem_of(client.cert.get()));
    write_file(dir / "client.key", pem_of(client.key.get()));

    ServiceOptions options;
    options.ip = "127.0.0.1";
    options.port = port;
    options.hostname = "localhost";
    options.tls.enabled = true;
    options.tls.cert_file = dir / "server.crt";
    options.tls.key_file = dir / "server.key";
    options.tls.ca_file = dir / "ca.pem";
    SubscriptionConfig subscription;
    subscription.name = "security";
    subscription.computers = {"*.corp.example"};
    subscription.query = "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>";
    options.subscriptions = {subscription};
    std::string error;
    cr_assert(options.validate(error), "%s", error.c_str());
    service = Service::start(options, sink, store, *wake, [](LogLevel, const std::string &m, const LogTags &) {
      std::fprintf(stderr, "service: %s\n", m.c_str()); // shown when a test fails
    });
    cr_assert(service, "the service did not start");
    worker = std::thread([this]() { service->run(stop); });
  }

  ~Engine()
  {
    stop.store(true);
    wake->wake();
    worker.join();
    service.reset();
    wake->unref();
    fs::remove_all(dir);
  }

  HttpsClient forwarder() { return HttpsClient(port, dir / "client.crt", dir / "client.key"); }
};

} // namespace

Test(service, enumerate_events_and_the_ack_after_acknowledgement_over_loopback_tls)
{
  Engine engine;
  HttpsClient forwarder = engine.forwarder();

  const HttpResponse offer =
      forwarder.post("/wsman/SubscriptionManager/WEC", codec::encode_utf16le_with_bom(enumerate_envelope("uuid:E1")));
  cr_assert_eq(offer.status, 200);
  const std::string offered = decoded(offer);
  const std::string prefix = "https://localhost:" + std::to_string(engine.port) + "/wsman/subscriptions/";
  const std::size_t at = offered.find(prefix);
  cr_assert(at != std::string::npos, "no delivery address in %s", offered.c_str());
  const std::size_t path_at = at + prefix.size() - std::string("/wsman/subscriptions/").size();
  const std::string delivery = offered.substr(path_at, offered.find_first_of("<\"' ", path_at) - path_at);
  cr_assert(offered.find("<BookmarkList") == std::string::npos, "a new machine has no bookmark");

  const auto events = real_events(3);
  auto batch = std::async(std::launch::async, [&]() {
    return forwarder.post(delivery, codec::encode_utf16le_with_bom(events_envelope("uuid:B1", events, "42")));
  });
  for (int i = 0; i < 500 && engine.sink.count() < 3; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  cr_assert_eq(engine.sink.count(), 3u, "every event of the batch is posted");
  cr_assert(batch.wait_for(std::chrono::milliseconds(300)) == std::future_status::timeout,
            "no Ack before the destinations acknowledged the events");
  cr_assert(engine.store.saved.empty(), "no bookmark before the events are acknowledged");

  engine.sink.acknowledged.store(3);
  engine.wake->wake();
  cr_assert(batch.wait_for(std::chrono::seconds(10)) == std::future_status::ready);
  const HttpResponse ack = batch.get();
  cr_assert_eq(ack.status, 200);
  cr_assert(decoded(ack).find("<a:RelatesTo>uuid:B1</a:RelatesTo>") != std::string::npos);

  for (std::size_t i = 0; i < events.size(); ++i)
    {
      const PostedEvent &posted = engine.sink.posted[i];
      cr_assert_eq(posted.xml, events[i]);
      cr_assert(posted.parsed, "%s", posted.parse_error.c_str());
      cr_assert_eq(posted.identity, "win01.corp.example");
      cr_assert_eq(posted.peer.rfind("127.0.0.1:", 0), 0u, "%s", posted.peer.c_str());
      cr_assert_not(posted.computer.empty());
      cr_assert_eq(posted.computer_verified, posted.computer == "win01.corp.example");
    }
  const auto stored = engine.store.load("certificate:win01.corp.example", "security");
  cr_assert(stored.status == BookmarkStore::LoadStatus::Found &&
                stored.bookmark.find("RecordId=") != std::string::npos &&
                stored.bookmark.find("42") != std::string::npos,
            "%s", stored.bookmark.c_str());

  const HttpResponse again =
      forwarder.post("/wsman/SubscriptionManager/WEC", codec::encode_utf16le_with_bom(enumerate_envelope("uuid:E2")));
  cr_assert_eq(again.status, 200);
  const std::string resumed = decoded(again);
  cr_assert(resumed.find("RecordId=") != std::string::npos && resumed.find("42") != std::string::npos,
            "the next offer resumes at the bookmark: %s", resumed.c_str());
}
