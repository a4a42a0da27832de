#include "windowsevent-source.hpp"

#include "event-xml-parser.hpp"

#include <poll.h>
#include <syslog.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <set>
#include <sstream>

#include "cpp-start.h"
#include "ack-tracker/ack_tracker.h"
#include "ack-tracker/ack_tracker_factory.h"
#include "ack-tracker/bookmark.h"
#include "ack-tracker/consecutive_ack_tracker.h"
#include "hostname.h"
#include "logmsg/logmsg.h"
#include "messages.h"
#include "stats/stats-registry.h"
#include "syslog-names.h"
#include "cpp-end.h"

namespace wec::module {

namespace {

// What a message's bookmark carries: the channel to report to and the message's sequence.
struct AckBookmark
{
  WakeChannel *channel;
  std::uint64_t sequence;
};
static_assert(sizeof(AckBookmark) <= MAX_BOOKMARK_DATA_LENGTH, "bookmark container");

// Destination thread: the consecutive tracker calls this for the last message of every
// contiguous acknowledged range, in order.
void save_ack_bookmark(Bookmark *bookmark)
{
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  data->channel->acknowledge(data->sequence);
  data->channel->wake();
}

void destroy_ack_bookmark(Bookmark *bookmark)
{
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  data->channel->unref();
}

// Windows Level → syslog severity. 0 (LogAlways) is configurable.
int severity_for_level(const std::string &level, int log_always)
{
  if (level == "1") return 2; // Critical → crit
  if (level == "2") return 3; // Error → err
  if (level == "3") return 4; // Warning → warning
  if (level == "4") return 6; // Information → info
  if (level == "5") return 7; // Verbose → debug
  return log_always;
}

// syslog-ng registers every name-value name for the life of the process, in one table of at most
// 65,535 names shared by all its parsers. 9,002 real events of many providers use 882 distinct
// names: 4,096 per source leaves room for new providers and keeps a forwarder that invents names
// from taking the table (and memory) of the whole syslog-ng.
constexpr std::size_t kMaxFieldNames = 4096;
constexpr std::int64_t kFoldWarningSeconds = 60;

// Folded fields are kept as one JSON object: unambiguous for any name and value.
void append_json_string(std::string &out, std::string_view text)
{
  out += '"';
  for (unsigned char c : text)
    {
      if (c == '"' || c == '\\')
        {
          out += '\\';
          out += static_cast<char>(c);
        }
      else if (c < 0x20)
        {
          char escaped[8];
          std::snprintf(escaped, sizeof(escaped), "\\u%04x", c);
          out += escaped;
        }
      else
        out += static_cast<char>(c);
    }
  out += '"';
}

bool host_matches(const std::string &computer, const std::vector<std::string> &host_names)
{
  std::string lower = computer;
  std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
  return std::find(host_names.begin(), host_names.end(), lower) != host_names.end();
}

bool read_whole_file(const std::string &path, std::string &out)
{
  std::ifstream in(path, std::ios::binary);
  if (!in)
    return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  out = buffer.str();
  return true;
}

} // namespace

WakeChannel::WakeChannel() : fd_(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) {}

WakeChannel::~WakeChannel()
{
  if (fd_ >= 0)
    close(fd_);
}

void WakeChannel::unref()
{
  if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1)
    delete this;
}

void WakeChannel::wake()
{
  std::uint64_t one = 1;
  ssize_t written = write(fd_, &one, sizeof(one));
  (void) written; // EAGAIN: the counter is saturated, the worker is awake anyway
}

void WakeChannel::drain()
{
  std::uint64_t value;
  ssize_t got = read(fd_, &value, sizeof(value));
  (void) got;
}

SourceDriver::SourceDriver(LogThreadedSourceDriver *super) : super_(super), wake_(new WakeChannel()) {}

SourceDriver::~SourceDriver()
{
  wake_->unref();
}

void SourceDriver::log(LogLevel level, const std::string &message, const LogTags &tags)
{
  int priority = EVT_PRI_DEBUG;
  switch (level)
    {
    case LogLevel::Error: priority = EVT_PRI_ERR; break;
    case LogLevel::Warning: priority = EVT_PRI_WARNING; break;
    case LogLevel::Notice: priority = EVT_PRI_NOTICE; break;
    case LogLevel::Info: priority = EVT_PRI_INFO; break;
    case LogLevel::Debug:
      if (!debug_flag)
        return;
      break;
    }
  EVTREC *event = msg_event_create(priority, message.c_str(), NULL);
  for (const auto &tag : tags)
    evt_rec_add_tag(event, evt_tag_str(tag.name, tag.value.c_str()));
  msg_event_suppress_recursions_and_send(event);
}

bool SourceDriver::validate(std::string &error) const
{
  if (!tls.enabled && !kerberos.enabled)
    {
      error = "windowsevent(): no listener configured; add tls(key-file(...) cert-file(...) ca-dir(...)) for HTTPS "
              "with client certificates and/or kerberos(keytab(...)) for HTTP with Kerberos";
      return false;
    }
  if (tls.enabled)
    {
      if (tls.key_file.empty() || tls.cert_file.empty())
        {
          error = "windowsevent(): tls() needs key-file() and cert-file()";
          return false;
        }
      if (tls.ca_file.empty() && tls.ca_dir.empty())
        {
          error = "windowsevent(): tls() needs ca-file() or ca-dir(): the CA that issues the forwarders' certificates";
          return false;
        }
      // Pins and CRLs are checked against the CAs already here, so that --syntax-only reports a
      // pin that matches no CA or an unreadable CRL (the CAs themselves are read again in init()).
      const bool pinned = !tls.issuer_thumbprints.empty() || !tls.issuer_files.empty();
      if (pinned || !tls.crl_file.empty() || !tls.crl_dir.empty())
        {
          std::string reason;
          if (!auth::TlsTrust::load(tls.trust_config(), nullptr, reason))
            {
              error = "windowsevent(): tls(): " + reason;
              return false;
            }
        }
    }
  else if (port != 0)
    {
      error = "windowsevent(): port() is the HTTPS listener's port and needs tls(); "
              "the Kerberos listener's port is kerberos(port())";
      return false;
    }
  if (kerberos.enabled)
    {
      if (kerberos.keytab.empty())
        {
          error = "windowsevent(): kerberos() needs keytab(\"...\")";
          return false;
        }
      std::string reason;
      if (!auth::KerberosAcceptor::load(kerberos.keytab, kerberos.principal, reason))
        {
          error = "windowsevent(): kerberos(): " + reason;
          return false;
        }
      if (tls.enabled && kerberos.port == (port ? port : 5986))
        {
          error = "windowsevent(): kerberos(port()) and the HTTPS port are both " + std::to_string(kerberos.port);
          return false;
        }
    }
  if (subscriptions.empty())
    {
      error = "windowsevent(): no subscription() configured";
      return false;
    }
  std::set<std::string> names;
  for (const auto &s : subscriptions)
    {
      std::string folded = s.name;
      std::transform(folded.begin(), folded.end(), folded.begin(), ::tolower);
      if (!names.insert(folded).second)
        {
          error = "windowsevent(): duplicate subscription name(\"" + s.name + "\")";
          return false;
        }
    }
  return true;
}

int SourceDriver::primary_port() const
{
  if (tls.enabled)
    return port ? port : 5986;
  return kerberos.port;
}

std::string SourceDriver::persist_base() const
{
  // Not derived from ports or listeners: adding kerberos() or moving a port keeps the bookmarks.
  // Several windowsevent() sources serving the same identities need their own persist-name().
  const gchar *persist_name = super_->super.super.super.persist_name;
  if (persist_name && *persist_name)
    return persist_name;
  return "default";
}

const char *SourceDriver::stats_instance()
{
  stats_instance_ = "windowsevent," + std::to_string(primary_port());
  return stats_instance_.c_str();
}

bool SourceDriver::start_endpoint(http::ListenerOptions options, ListenerProfile profile)
{
  auto endpoint = std::make_unique<Endpoint>();
  endpoint->driver = this;
  endpoint->profile = std::move(profile);
  options.address = ip;
  options.max_body_bytes = collector_->max_body_bytes();
  options.max_connections = max_connections;
  options.max_connections_per_ip = max_connections_per_ip;
  options.request_timeout_seconds = request_timeout_seconds;
  std::string error;
  endpoint->listener = http::Listener::start(options, *endpoint, client_log_->function(), error);
  if (!endpoint->listener)
    {
      log(LogLevel::Error, "windowsevent: cannot start the listener", {{"error", error}});
      return false;
    }
  std::string thumbprints;
  for (const auto &t : endpoint->profile.issuer_thumbprints)
    thumbprints += (thumbprints.empty() ? "" : ",") + t;
  LogTags tags = {{"url", endpoint->listener->description()}, {"advertised", endpoint->profile.base_url},
                  {"subscriptions", std::to_string(subscriptions.size())}};
  if (!thumbprints.empty())
    tags.push_back({"issuer_thumbprints", thumbprints});
  if (kerberos_acceptor_ && options.kerberos)
    {
      std::string keys;
      for (const auto &entry : kerberos_acceptor_->keytab_entries())
        keys += (keys.empty() ? "" : ", ") + entry;
      tags.push_back({"keytab", keys});
    }
  log(LogLevel::Notice, "windowsevent: listening", tags);
  endpoints_.push_back(std::move(endpoint));
  return true;
}

bool SourceDriver::init()
{
  std::string error;
  if (tls.enabled && port == 0)
    port = 5986;
  if (hostname.empty())
    hostname = get_local_hostname_fqdn();
  sdata_names_ = prefix.rfind(".SDATA.", 0) == 0;

  http::ListenerOptions tls_options;
  if (tls.enabled)
    {
      auto log_fn = [](LogLevel level, const std::string &message, const LogTags &tags) { log(level, message, tags); };
      trust_ = auth::TlsTrust::load(tls.trust_config(), log_fn, error);
      if (!trust_)
        {
          log(LogLevel::Error, "windowsevent: cannot load the client CA", {{"error", error}});
          return false;
        }
      if (!auth::load_server_credentials(tls.cert_file, tls.key_file, tls_options.cert_pem, tls_options.key_pem,
                                         error))
        {
          log(LogLevel::Error, "windowsevent: cannot load the server certificate", {{"error", error}});
          return false;
        }
      tls_options.client_trust = trust_.get();
      tls_options.port = static_cast<std::uint16_t>(port);
    }
  if (kerberos.enabled)
    {
      kerberos_acceptor_ = auth::KerberosAcceptor::load(kerberos.keytab, kerberos.principal, error);
      if (!kerberos_acceptor_)
        {
          log(LogLevel::Error, "windowsevent: cannot use the Kerberos keytab", {{"error", error}});
          return false;
        }
    }

  GlobalConfig *cfg = log_pipe_get_config(&super_->super.super.super);
  WakeChannel *wake = wake_;
  auto log_fn = [](LogLevel level, const std::string &message, const LogTags &tags) { log(level, message, tags); };
  // The store's wake-up runs on the main thread; the driver's own reference keeps `wake` alive.
  bookmarks_ = std::make_unique<PersistBookmarkStore>(
    cfg->state, persist_base(), [wake]() { wake->wake(); }, log_fn);
  bookmarks_->load_all(std::chrono::seconds(bookmark_expiry_seconds));

  CollectorOptions collector_options;
  collector_options.subscriptions = subscriptions;
  collector_options.commit_timeout = std::chrono::seconds(commit_timeout_seconds);
  collector_options.forward_bookmark_events = emit_bookmark_events;
  collector_options.compression = compression;
  client_log_ = std::make_unique<LogThrottle>(log_fn, std::chrono::seconds(log_repeat_interval_seconds));
  collector_ = std::make_unique<Collector>(collector_options, *this, *bookmarks_, client_log_->function());

  bool started = true;
  if (tls.enabled)
    started = start_endpoint(tls_options, ListenerProfile{"https://" + hostname + ":" + std::to_string(port),
                                                          wsman::AuthProfile::HttpsMutual,
                                                          trust_->issuer_thumbprints()});
  if (started && kerberos.enabled)
    {
      http::ListenerOptions kerberos_options;
      kerberos_options.port = static_cast<std::uint16_t>(kerberos.port);
      kerberos_options.kerberos = kerberos_acceptor_.get();
      // Machine tickets of accounts in many groups make Authorization headers of tens of KB.
      kerberos_options.connection_memory_bytes = 256 * 1024;
      started = start_endpoint(kerberos_options,
                               ListenerProfile{"http://" + hostname + ":" + std::to_string(kerberos.port),
                                               wsman::AuthProfile::SpnegoKerberos, {}});
    }
  if (!started)
    {
      deinit();
      return false;
    }
  return true;
}

void SourceDriver::deinit()
{
  endpoints_.clear();
  collector_.reset();
  client_log_.reset();
  bookmarks_.reset();
  trust_.reset();
  kerberos_acceptor_.reset();
}

void SourceDriver::request_exit()
{
  exit_requested_.store(true);
  wake_->wake();
}

void SourceDriver::wakeup()
{
  wake_->wake();
}

void SourceDriver::run()
{
  // Connections stay suspended while syslog-ng's window is full; this loop never blocks on one
  // client: it sleeps only in poll() on the listeners and the wake channel.
  std::vector<pollfd> fds;
  for (const auto &endpoint : endpoints_)
    fds.push_back({endpoint->listener->poll_fd(), POLLIN, 0});
  fds.push_back({wake_->fd(), POLLIN, 0});
  auto run_listeners = [this]() {
    for (const auto &endpoint : endpoints_)
      endpoint->listener->run();
  };

  while (!exit_requested_.load())
    {
      long timeout = collector_->next_deadline_ms();
      for (const auto &endpoint : endpoints_)
        {
          long t = endpoint->listener->timeout_ms();
          if (t >= 0 && (timeout < 0 || t < timeout))
            timeout = t;
        }
      if (timeout < 0 || timeout > 1000)
        timeout = 1000;
      for (auto &fd : fds)
        fd.revents = 0;
      poll(fds.data(), fds.size(), static_cast<int>(timeout));
      if (fds.back().revents & POLLIN)
        wake_->drain();
      if (exit_requested_.load())
        break;
      if (trust_)
        trust_->refresh_revocation(std::chrono::steady_clock::now()); // same thread as the handshakes
      run_listeners();
      for (int round = 0; round < 8 && collector_->pump(); ++round)
        run_listeners();
      client_log_->flush();
    }
  collector_->abandon_all("syslog-ng is stopping or reloading");
  for (const auto &endpoint : endpoints_)
    endpoint->listener->answer_all_pending(http::Response{503, {}, {}, {}});
}

std::optional<http::Response> SourceDriver::Endpoint::on_request(const http::Request &request)
{
  http::Listener *target = listener.get();
  const std::uint64_t id = request.id;
  return driver->collector_->handle(profile, request,
                                    [target, id](http::Response response) { target->answer(id, std::move(response)); });
}

bool SourceDriver::window_open()
{
  return log_threaded_source_free_to_send(super_);
}

std::uint64_t SourceDriver::acknowledged_through()
{
  return wake_->acknowledged();
}

NVHandle SourceDriver::handle_for(const std::string &relative_name)
{
  auto it = handles_.find(relative_name);
  if (it != handles_.end())
    return it->second;
  if (handles_.size() >= kMaxFieldNames)
    return 0;
  std::string full = prefix + (sdata_names_ ? xml::sdata_param_name(relative_name) : relative_name);
  NVHandle handle = log_msg_get_value_handle(full.c_str());
  handles_.emplace(relative_name, handle);
  return handle;
}

void SourceDriver::note_folded_fields(std::size_t count)
{
  folded_since_warning_ += count;
  folded_total_ += count;
  const std::int64_t now = g_get_monotonic_time() / G_USEC_PER_SEC;
  if (last_fold_warning_ && now - last_fold_warning_ < kFoldWarningSeconds)
    return;
  last_fold_warning_ = now;
  log(LogLevel::Warning, "windowsevent: field name budget reached, fields with new names go into .wec.overflow_fields",
      {{"budget", std::to_string(kMaxFieldNames)}, {"folded", std::to_string(folded_since_warning_)},
       {"folded_total", std::to_string(folded_total_)},
       {"hint", "a forwarder sends events with ever new field names (<Data Name=...>)"}});
  folded_since_warning_ = 0;
}

std::uint64_t SourceDriver::post(const EventOrigin &origin, std::string_view event_xml)
{
  if (!identity_handle_)
    {
      identity_handle_ = log_msg_get_value_handle(".wec.identity");
      subscription_handle_ = log_msg_get_value_handle(".wec.subscription");
      peer_handle_ = log_msg_get_value_handle(".wec.peer");
      parse_error_handle_ = log_msg_get_value_handle(".wec.parse_error");
      overflow_handle_ = log_msg_get_value_handle(".wec.overflow_fields");
      computer_verified_handle_ = log_msg_get_value_handle(".wec.computer_verified");
    }
  LogMessage *msg = log_msg_new_empty();
  xml::ParsedEvent event;
  std::string error;
  bool computer_verified = false;
  if (xml::parse_event(event_xml, event, error))
    {
      std::string overflow;
      std::size_t folded = 0;
      for (const auto &field : event.fields)
        {
          if (NVHandle handle = handle_for(field.name))
            {
              log_msg_set_value(msg, handle, field.value.data(), static_cast<gssize>(field.value.size()));
              continue;
            }
          overflow += overflow.empty() ? '{' : ',';
          append_json_string(overflow, field.name);
          overflow += ':';
          append_json_string(overflow, field.value);
          ++folded;
        }
      if (folded)
        {
          overflow += '}';
          log_msg_set_value(msg, overflow_handle_, overflow.data(), static_cast<gssize>(overflow.size()));
          note_folded_fields(folded);
        }
      const auto &s = event.summary;
      computer_verified = !s.computer.empty() && host_matches(s.computer, origin.host_names);
      if (!s.computer.empty() && !host_from_identity)
        log_msg_set_value(msg, LM_V_HOST, s.computer.data(), static_cast<gssize>(s.computer.size()));
      if (!s.provider.empty())
        log_msg_set_value(msg, LM_V_PROGRAM, s.provider.data(), static_cast<gssize>(s.provider.size()));
      if (!s.process_id.empty())
        log_msg_set_value(msg, LM_V_PID, s.process_id.data(), static_cast<gssize>(s.process_id.size()));
      const std::string &text = s.message.empty() ? std::string(event_xml) : s.message;
      log_msg_set_value(msg, LM_V_MESSAGE, text.data(), static_cast<gssize>(text.size()));
      long long seconds = 0;
      unsigned microseconds = 0;
      if (xml::parse_system_time(s.time_created, seconds, microseconds))
        {
          msg->timestamps[LM_TS_STAMP].ut_sec = seconds;
          msg->timestamps[LM_TS_STAMP].ut_usec = microseconds;
          msg->timestamps[LM_TS_STAMP].ut_gmtoff = 0;
        }
      msg->pri = (msg->pri & LOG_FACMASK) | severity_for_level(s.level, log_always_severity);
    }
  else
    {
      // Never drop what the forwarder sent: forward it as text and say why it was not parsed.
      log_msg_set_value(msg, LM_V_MESSAGE, event_xml.data(), static_cast<gssize>(event_xml.size()));
      log_msg_set_value(msg, parse_error_handle_, error.data(), static_cast<gssize>(error.size()));
      client_log_->log(LogLevel::Warning, "windowsevent: event XML not parsed, forwarded as text",
          {{"identity", origin.identity}, {"subscription", origin.subscription}, {"error", clip(error)}});
    }
  if (host_from_identity || !log_msg_get_value_if_set(msg, LM_V_HOST, nullptr))
    {
      // The authenticated name: the certificate's CN, the machine account's FQDN, or the principal.
      const std::string &host = origin.host_names.empty() ? origin.identity : origin.host_names.front();
      log_msg_set_value(msg, LM_V_HOST, host.data(), static_cast<gssize>(host.size()));
    }
  log_msg_set_value(msg, computer_verified_handle_, computer_verified ? "1" : "0", 1);
  log_msg_set_value(msg, identity_handle_, origin.identity.data(), static_cast<gssize>(origin.identity.size()));
  log_msg_set_value(msg, subscription_handle_, origin.subscription.data(),
                    static_cast<gssize>(origin.subscription.size()));
  log_msg_set_value(msg, peer_handle_, origin.peer.data(), static_cast<gssize>(origin.peer.size()));

  const std::uint64_t sequence = ++next_sequence_;
  Bookmark *bookmark = ack_tracker_request_bookmark(super_->worker->super.ack_tracker);
  auto *data = reinterpret_cast<AckBookmark *>(&bookmark->container);
  wake_->ref();
  data->channel = wake_;
  data->sequence = sequence;
  bookmark->save = save_ack_bookmark;
  bookmark->destroy = destroy_ack_bookmark;
  log_threaded_source_post(super_, msg);
  return sequence;
}

} // namespace wec::module

/* ---- C glue: syslog-ng calls these, they forward to the C++ object ---- */

using wec::module::SourceDriver;

namespace {

SourceDriver *driver_of(gpointer d)
{
  return reinterpret_cast<WindowsEventSourceDriver *>(d)->cpp;
}

gboolean windowsevent_sd_init(LogPipe *s)
{
  auto *self = reinterpret_cast<WindowsEventSourceDriver *>(s);
  try
    {
      if (!self->cpp->init())
        return FALSE;
    }
  catch (const std::exception &e)
    {
      msg_error("windowsevent: initialisation failed", evt_tag_str("error", e.what()), NULL);
      return FALSE;
    }
  if (!log_threaded_source_driver_init_method(s))
    {
      self->cpp->deinit();
      return FALSE;
    }
  return TRUE;
}

gboolean windowsevent_sd_deinit(LogPipe *s)
{
  gboolean result = log_threaded_source_driver_deinit_method(s);
  driver_of(s)->deinit();
  return result;
}

void windowsevent_sd_free(LogPipe *s)
{
  delete driver_of(s);
  log_threaded_source_driver_free_method(s);
}

void windowsevent_sd_run(LogThreadedSourceDriver *s)
{
  try
    {
      driver_of(s)->run();
    }
  catch (const std::exception &e)
    {
      msg_error("windowsevent: worker stopped by an internal error", evt_tag_str("error", e.what()), NULL);
    }
}

void windowsevent_sd_request_exit(LogThreadedSourceDriver *s)
{
  driver_of(s)->request_exit();
}

void windowsevent_sd_wakeup(LogThreadedSourceDriver *s)
{
  driver_of(s)->wakeup();
}

const gchar *windowsevent_sd_format_stats_instance(LogThreadedSourceDriver *s)
{
  return driver_of(s)->stats_instance();
}

wec::SubscriptionConfig &current_subscription(LogDriver *d)
{
  return driver_of(d)->subscriptions.back();
}

} // namespace

extern "C" {

LogDriver *windowsevent_sd_new(GlobalConfig *cfg)
{
  auto *self = g_new0(WindowsEventSourceDriver, 1);
  log_threaded_source_driver_init_instance(&self->super, cfg);
  self->cpp = new SourceDriver(&self->super);

  self->super.worker_options.ack_tracker_factory = consecutive_ack_tracker_factory_new();
  self->super.worker_options.super.stats_source = stats_register_type("windowsevent");
  /* HOST comes from the event's Computer and the timestamp from TimeCreated: keep both by
   * default (keep-hostname(no) / keep-timestamp(no) still override). */
  self->super.worker_options.super.keep_timestamp = TRUE;
  self->super.worker_options.super.keep_hostname = TRUE;

  self->super.super.super.super.init = windowsevent_sd_init;
  self->super.super.super.super.deinit = windowsevent_sd_deinit;
  self->super.super.super.super.free_fn = windowsevent_sd_free;
  self->super.format_stats_instance = windowsevent_sd_format_stats_instance;
  self->super.run = windowsevent_sd_run;
  self->super.request_exit = windowsevent_sd_request_exit;
  self->super.wakeup = windowsevent_sd_wakeup;
  return &self->super.super.super;
}

void windowsevent_sd_set_ip(LogDriver *d, const gchar *ip) { driver_of(d)->ip = ip; }
void windowsevent_sd_set_port(LogDriver *d, gint port) { driver_of(d)->port = port; }
void windowsevent_sd_set_hostname(LogDriver *d, const gchar *hostname) { driver_of(d)->hostname = hostname; }
void windowsevent_sd_set_prefix(LogDriver *d, const gchar *prefix) { driver_of(d)->prefix = prefix; }
void windowsevent_sd_set_max_connections(LogDriver *d, gint n) { driver_of(d)->max_connections = static_cast<unsigned>(n); }
void windowsevent_sd_set_commit_timeout(LogDriver *d, gint s) { driver_of(d)->commit_timeout_seconds = static_cast<unsigned>(s); }
void windowsevent_sd_set_log_always_severity(LogDriver *d, gint severity) { driver_of(d)->log_always_severity = severity; }
void windowsevent_sd_set_emit_bookmark_events(LogDriver *d, gboolean enabled) { driver_of(d)->emit_bookmark_events = enabled; }
void windowsevent_sd_set_compression(LogDriver *d, gboolean enabled) { driver_of(d)->compression = enabled; }
void windowsevent_sd_set_request_timeout(LogDriver *d, gint seconds) { driver_of(d)->request_timeout_seconds = static_cast<unsigned>(seconds); }
void windowsevent_sd_set_bookmark_expiry(LogDriver *d, gint seconds) { driver_of(d)->bookmark_expiry_seconds = static_cast<unsigned>(seconds); }
void windowsevent_sd_set_max_connections_per_ip(LogDriver *d, gint n) { driver_of(d)->max_connections_per_ip = static_cast<unsigned>(n); }
void windowsevent_sd_set_log_repeat_interval(LogDriver *d, gint seconds) { driver_of(d)->log_repeat_interval_seconds = static_cast<unsigned>(seconds); }

gboolean windowsevent_sd_set_host_from(LogDriver *d, const gchar *source)
{
  const std::string value = source;
  if (value != "event" && value != "identity")
    return FALSE;
  driver_of(d)->host_from_identity = value == "identity";
  return TRUE;
}

void windowsevent_sd_enable_tls(LogDriver *d) { driver_of(d)->tls.enabled = true; }
void windowsevent_sd_enable_kerberos(LogDriver *d) { driver_of(d)->kerberos.enabled = true; }
void windowsevent_sd_set_kerberos_keytab(LogDriver *d, const gchar *path) { driver_of(d)->kerberos.keytab = path; }
void windowsevent_sd_set_kerberos_principal(LogDriver *d, const gchar *name) { driver_of(d)->kerberos.principal = name; }
void windowsevent_sd_set_kerberos_port(LogDriver *d, gint port) { driver_of(d)->kerberos.port = port; }
void windowsevent_sd_set_tls_key_file(LogDriver *d, const gchar *path) { driver_of(d)->tls.key_file = path; }
void windowsevent_sd_set_tls_cert_file(LogDriver *d, const gchar *path) { driver_of(d)->tls.cert_file = path; }
void windowsevent_sd_set_tls_ca_file(LogDriver *d, const gchar *path) { driver_of(d)->tls.ca_file = path; }
void windowsevent_sd_set_tls_ca_dir(LogDriver *d, const gchar *path) { driver_of(d)->tls.ca_dir = path; }
void windowsevent_sd_add_tls_issuer_file(LogDriver *d, const gchar *path) { driver_of(d)->tls.issuer_files.emplace_back(path); }
void windowsevent_sd_set_tls_crl_file(LogDriver *d, const gchar *path) { driver_of(d)->tls.crl_file = path; }
void windowsevent_sd_set_tls_crl_dir(LogDriver *d, const gchar *path) { driver_of(d)->tls.crl_dir = path; }
void windowsevent_sd_set_tls_crl_reload_interval(LogDriver *d, gint seconds) { driver_of(d)->tls.crl_reload_interval_seconds = static_cast<unsigned>(seconds); }

gboolean windowsevent_sd_add_tls_issuer_thumbprints(LogDriver *d, GList *thumbprints, gchar **error)
{
  gboolean ok = TRUE;
  for (GList *item = thumbprints; item && ok; item = item->next)
    {
      const char *text = static_cast<const char *>(item->data);
      std::string thumbprint, reason;
      ok = wec::auth::normalise_thumbprint(text, thumbprint, reason);
      if (ok)
        driver_of(d)->tls.issuer_thumbprints.push_back(thumbprint);
      else
        *error = g_strdup_printf("windowsevent(): issuer-thumbprints(\"%s\") %s", text, reason.c_str());
    }
  g_list_free_full(thumbprints, g_free);
  return ok;
}

void windowsevent_sd_begin_subscription(LogDriver *d)
{
  driver_of(d)->subscriptions.emplace_back();
  driver_of(d)->subscription_has_query.push_back(false);
}

gboolean windowsevent_sd_end_subscription(LogDriver *d, gchar **error)
{
  auto *self = driver_of(d);
  const auto &s = self->subscriptions.back();
  if (s.name.empty())
    {
      *error = g_strdup("windowsevent(): subscription() needs name(\"...\")");
      return FALSE;
    }
  if (!self->subscription_has_query.back())
    {
      *error = g_strdup_printf("windowsevent(): subscription(name(\"%s\")) needs query() or query-file()", s.name.c_str());
      return FALSE;
    }
  if (s.computers.empty())
    {
      *error = g_strdup_printf("windowsevent(): subscription(name(\"%s\")) needs computers(\"...\"): "
                               "which forwarders get it (globs, e.g. \"*.corp.example\")", s.name.c_str());
      return FALSE;
    }
  return TRUE;
}

void windowsevent_sd_subscription_set_name(LogDriver *d, const gchar *name) { current_subscription(d).name = name; }

void windowsevent_sd_subscription_add_computers(LogDriver *d, GList *globs)
{
  for (GList *item = globs; item; item = item->next)
    current_subscription(d).computers.emplace_back(static_cast<const char *>(item->data));
  g_list_free_full(globs, g_free);
}

gboolean windowsevent_sd_subscription_set_content_format(LogDriver *d, const gchar *format)
{
  std::string f = format;
  if (f == "events" || f == "raw")
    current_subscription(d).rendered_text = false;
  else if (f == "rendered-text" || f == "rendered_text" || f == "renderedtext")
    current_subscription(d).rendered_text = true;
  else
    return FALSE;
  return TRUE;
}

void windowsevent_sd_subscription_set_locale(LogDriver *d, const gchar *l) { current_subscription(d).locale = l; }
void windowsevent_sd_subscription_set_data_locale(LogDriver *d, const gchar *l) { current_subscription(d).data_locale = l; }
void windowsevent_sd_subscription_set_heartbeat(LogDriver *d, gint s) { current_subscription(d).heartbeat_seconds = static_cast<unsigned>(s); }

void windowsevent_sd_subscription_set_connection_retry(LogDriver *d, gint interval, gint count)
{
  current_subscription(d).retry_interval_seconds = static_cast<unsigned>(interval);
  current_subscription(d).retry_count = static_cast<unsigned>(count);
}

void windowsevent_sd_subscription_set_max_time(LogDriver *d, gint s) { current_subscription(d).max_time_seconds = static_cast<unsigned>(s); }
void windowsevent_sd_subscription_set_max_elements(LogDriver *d, gint n) { current_subscription(d).max_elements = static_cast<unsigned>(n); }
void windowsevent_sd_subscription_set_max_envelope_size(LogDriver *d, gint n) { current_subscription(d).max_envelope_size = static_cast<unsigned long>(n); }
void windowsevent_sd_subscription_set_read_existing_events(LogDriver *d, gboolean v) { current_subscription(d).read_existing_events = v; }
void windowsevent_sd_subscription_set_ignore_channel_error(LogDriver *d, gboolean v) { current_subscription(d).ignore_channel_error = v; }

gboolean windowsevent_sd_subscription_set_query(LogDriver *d, const gchar *query, gchar **error)
{
  std::string reason;
  if (!wec::validate_query(query, reason))
    {
      *error = g_strdup_printf("windowsevent(): query() is invalid: %s", reason.c_str());
      return FALSE;
    }
  current_subscription(d).query = query;
  driver_of(d)->subscription_has_query.back() = true;
  return TRUE;
}

gboolean windowsevent_sd_subscription_set_query_file(LogDriver *d, const gchar *path, gchar **error)
{
  std::string text;
  if (!wec::module::read_whole_file(path, text))
    {
      *error = g_strdup_printf("windowsevent(): query-file(\"%s\") cannot be read: %s", path, g_strerror(errno));
      return FALSE;
    }
  std::string reason;
  if (!wec::validate_query(text, reason))
    {
      *error = g_strdup_printf("windowsevent(): query-file(\"%s\") is invalid: %s", path, reason.c_str());
      return FALSE;
    }
  while (!text.empty() && (text.back() == '\n' || text.back() == '\r' || text.back() == ' '))
    text.pop_back();
  current_subscription(d).query = text;
  driver_of(d)->subscription_has_query.back() = true;
  return TRUE;
}

gboolean windowsevent_sd_validate(LogDriver *d, gchar **error)
{
  std::string reason;
  if (!driver_of(d)->validate(reason))
    {
      *error = g_strdup(reason.c_str());
      return FALSE;
    }
  return TRUE;
}

} // extern "C"
