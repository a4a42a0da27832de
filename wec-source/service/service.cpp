#include "service/service.hpp"

#include "auth/authenticator.hpp"
#include "auth/kerberos.hpp"
#include "auth/tls-trust.hpp"
#include "collector/collector.hpp"
#include "core/log-throttle.hpp"
#include "http/listener.hpp"

#include <poll.h>

namespace wec {

namespace {

// One listener and how the forwarders that use it are told to deliver.
struct Endpoint : http::RequestHandler
{
  Collector *collector = nullptr;
  ListenerProfile profile;
  std::unique_ptr<auth::Authenticator> authenticator; // before the listener: it outlives the connections
  std::unique_ptr<http::Listener> listener;

  std::optional<http::Response> on_request(const http::Request &request) override
  {
    http::Listener *target = listener.get();
    const std::uint64_t id = request.id;
    return collector->handle(profile, request,
                             [target, id](http::Response response) { target->answer(id, std::move(response)); });
  }
};

} // namespace

struct Service::State
{
  WakeChannel *wake = nullptr;
  LogFunction log;
  std::unique_ptr<auth::TlsTrust> trust;
  std::unique_ptr<auth::KerberosAcceptor> kerberos;
  std::unique_ptr<LogThrottle> client_log; // lines caused by clients, repeats summarised
  std::unique_ptr<Collector> collector;
  std::vector<std::unique_ptr<Endpoint>> endpoints;
  http::ListenerOptions https; // filled by start() when tls() is on
};

Service::Service(std::unique_ptr<State> state) : state_(std::move(state)) {}

Service::~Service() = default;

std::unique_ptr<Service> Service::start(const ServiceOptions &options, EventSink &sink, BookmarkStore &store,
                                        WakeChannel &wake, LogFunction log)
{
  auto state = std::make_unique<State>();
  state->wake = &wake;
  state->log = log;
  std::string error;
  if (options.tls.enabled)
    {
      state->trust = auth::TlsTrust::load(options.tls.trust_config(), log, error);
      if (!state->trust)
        {
          log(LogLevel::Error, "windowsevent: cannot load the client CA", {{"error", error}});
          return nullptr;
        }
      if (!auth::load_server_credentials(options.tls.cert_file, options.tls.key_file, state->https.cert_pem,
                                         state->https.key_pem, error))
        {
          log(LogLevel::Error, "windowsevent: cannot load the server certificate", {{"error", error}});
          return nullptr;
        }
    }
  if (options.kerberos.enabled)
    {
      state->kerberos = auth::KerberosAcceptor::load(options.kerberos.keytab, options.kerberos.principal, error);
      if (!state->kerberos)
        {
          log(LogLevel::Error, "windowsevent: cannot use the Kerberos keytab", {{"error", error}});
          return nullptr;
        }
    }

  CollectorOptions collector_options;
  collector_options.subscriptions = options.subscriptions;
  collector_options.commit_timeout = std::chrono::seconds(options.commit_timeout_seconds);
  collector_options.forward_bookmark_events = options.emit_bookmark_events;
  collector_options.compression = options.compression;
  state->client_log = std::make_unique<LogThrottle>(log, std::chrono::seconds(options.log_repeat_interval_seconds));
  state->collector = std::make_unique<Collector>(collector_options, sink, store, state->client_log->function());

  std::unique_ptr<Service> service(new Service(std::move(state)));
  if (!service->start_endpoints(options))
    return nullptr;
  return service;
}

bool Service::start_endpoints(const ServiceOptions &options)
{
  State &s = *state_;
  auto start_one = [&](http::ListenerOptions listener_options, std::unique_ptr<auth::Authenticator> authenticator,
                       ListenerProfile profile, bool proxy_protocol) {
    auto endpoint = std::make_unique<Endpoint>();
    endpoint->collector = s.collector.get();
    endpoint->profile = std::move(profile);
    endpoint->authenticator = std::move(authenticator);
    listener_options.authenticator = endpoint->authenticator.get();
    listener_options.address = options.ip;
    listener_options.max_body_bytes = s.collector->max_body_bytes();
    listener_options.max_connections = options.max_connections;
    listener_options.max_connections_per_ip = options.max_connections_per_ip;
    listener_options.request_timeout_seconds = options.request_timeout_seconds;
    listener_options.proxy_protocol = proxy_protocol;
    if (proxy_protocol)
      listener_options.proxy_from = options.proxy_from;
    std::string error;
    endpoint->listener = http::Listener::start(listener_options, *endpoint, s.client_log->function(), error);
    if (!endpoint->listener)
      {
        s.log(LogLevel::Error, "windowsevent: cannot start the listener", {{"error", error}});
        return false;
      }
    std::string thumbprints;
    for (const auto &t : endpoint->profile.issuer_thumbprints)
      thumbprints += (thumbprints.empty() ? "" : ",") + t;
    LogTags tags = {{"url", endpoint->listener->description()},
                    {"advertised", endpoint->profile.base_url},
                    {"subscriptions", std::to_string(options.subscriptions.size())}};
    if (!thumbprints.empty())
      tags.push_back({"issuer_thumbprints", thumbprints});
    if (proxy_protocol)
      tags.push_back({"proxy_from", options.proxy_from.text()});
    if (endpoint->authenticator->method() == auth::AuthMethod::Kerberos)
      {
        std::string keys;
        for (const auto &entry : s.kerberos->keytab_entries())
          keys += (keys.empty() ? "" : ", ") + entry;
        tags.push_back({"keytab", keys});
      }
    s.log(LogLevel::Notice, "windowsevent: listening", tags);
    s.endpoints.push_back(std::move(endpoint));
    return true;
  };

  if (options.tls.enabled)
    {
      http::ListenerOptions https = s.https;
      https.client_ca_pem = s.trust->trusted_pem();
      https.port = static_cast<std::uint16_t>(options.https_port());
      const std::string url = "https://" + options.hostname + ":" + std::to_string(options.https_port());
      if (!start_one(https, auth::certificate_authenticator(*s.trust, s.client_log->function()),
                     ListenerProfile{url, wsman::AuthProfile::HttpsMutual, s.trust->issuer_thumbprints()},
                     options.tls_proxy_protocol()))
        return false;
    }
  if (options.kerberos.enabled)
    {
      http::ListenerOptions http;
      http.port = static_cast<std::uint16_t>(options.kerberos.port);
      // Machine tickets of accounts in many groups make Authorization headers of tens of KB.
      http.connection_memory_bytes = 256 * 1024;
      const std::string url = "http://" + options.hostname + ":" + std::to_string(options.kerberos.port);
      if (!start_one(http, auth::kerberos_authenticator(*s.kerberos, s.client_log->function()),
                     ListenerProfile{url, wsman::AuthProfile::SpnegoKerberos, {}}, options.kerberos_proxy_protocol()))
        return false;
    }
  return true;
}

void Service::run(const std::atomic<bool> &stop)
{
  try
    {
      loop(stop);
    }
  catch (const std::exception &e)
    {
      state_->log(LogLevel::Error, "windowsevent: worker stopped by an internal error", {{"error", e.what()}});
    }
}

void Service::loop(const std::atomic<bool> &stop)
{
  State &s = *state_;
  // Connections stay suspended while the sink's window is full; the loop sleeps only in poll()
  // on the listeners and the wake channel.
  std::vector<pollfd> fds;
  for (const auto &endpoint : s.endpoints)
    fds.push_back({endpoint->listener->poll_fd(), POLLIN, 0});
  fds.push_back({s.wake->fd(), POLLIN, 0});
  auto run_listeners = [&s]() {
    for (const auto &endpoint : s.endpoints)
      endpoint->listener->run();
  };

  while (!stop.load())
    {
      long timeout = s.collector->next_deadline_ms();
      for (const auto &endpoint : s.endpoints)
        {
          const long t = endpoint->listener->timeout_ms();
          if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
        }
      if (timeout < 0 || timeout > 1000)
        timeout = 1000;
      for (auto &fd : fds)
        fd.revents = 0;
      poll(fds.data(), fds.size(), static_cast<int>(timeout));
      if (fds.back().revents & POLLIN)
        s.wake->drain();
      if (stop.load())
        break;
      if (s.trust)
        s.trust->refresh_revocation(std::chrono::steady_clock::now()); // same thread as the handshakes
      run_listeners();
      for (int round = 0; round < 8 && s.collector->pump(); ++round)
        run_listeners();
      s.client_log->flush();
    }
  s.collector->abandon_all("syslog-ng is stopping or reloading");
  for (const auto &endpoint : s.endpoints)
    endpoint->listener->answer_all_pending(http::Response{503, {}, {}, {}});
}

} // namespace wec
