// The syslog-ng face of the collector: a threaded source whose one worker thread runs the
// HTTPS listener, posts each event as a LogMessage under flow control, and learns from the
// ack tracker when a batch may be acknowledged to its forwarder.
#pragma once

#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "auth/kerberos.hpp"
#include "auth/tls-trust.hpp"
#include "collector/collector.hpp"
#include "core/log-throttle.hpp"
#include "http/listener.hpp"
#include "persist-bookmark-store.hpp"
#include "subscriptions/subscription.hpp"

#include "cpp-start.h"
#include "windowsevent.h"
#include "logthrsource/logthrsourcedrv.h"
#include "cpp-end.h"

namespace wec::module {

struct TlsOptions
{
  bool enabled = false;
  std::string key_file;
  std::string cert_file;
  std::string ca_file;
  std::string ca_dir;
  std::vector<std::string> issuer_thumbprints; // normalised; empty: the CAs that issued no other CA
  std::vector<std::string> issuer_files;
  std::string crl_file;
  std::string crl_dir;
  unsigned crl_reload_interval_seconds = 60;

  auth::TrustConfig trust_config() const
  {
    return auth::TrustConfig{ca_file, ca_dir, issuer_thumbprints, issuer_files, crl_file, crl_dir,
                             crl_reload_interval_seconds};
  }
};

struct KerberosOptions
{
  bool enabled = false;
  std::string keytab;
  std::string principal; // empty: any key of the keytab may accept
  int port = 5985;
};

// Wakes the worker from any thread and carries the acknowledgement watermark. Reference
// counted: bookmarks of messages still in flight may outlive the driver.
class WakeChannel
{
public:
  WakeChannel();
  void ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  void unref();
  void wake();
  void drain();
  int fd() const { return fd_; }
  void acknowledge(std::uint64_t sequence) { acknowledged_.store(sequence, std::memory_order_release); }
  std::uint64_t acknowledged() const { return acknowledged_.load(std::memory_order_acquire); }

private:
  ~WakeChannel();
  std::atomic<int> refs_{1};
  std::atomic<std::uint64_t> acknowledged_{0};
  int fd_ = -1;
};

class SourceDriver : public EventSink
{
public:
  explicit SourceDriver(LogThreadedSourceDriver *super);
  ~SourceDriver() override;

  // configuration (grammar)
  std::string ip = "0.0.0.0";
  int port = 0; // the HTTPS listener's: port() or tls(port()), default 5986
  std::string hostname;
  std::string prefix = ".windowsevent.";
  unsigned max_connections = 1000;
  // Below the 60 s OperationTimeout of Windows' requests: answer 503 before the forwarder gives up.
  unsigned commit_timeout_seconds = 50;
  int log_always_severity = 6; // LogAlways (Level 0) events: info
  bool emit_bookmark_events = false; // EventForwarder 111 markers become messages too
  bool compression = true;           // advertise SLDC (cuts WAN traffic several-fold)
  unsigned request_timeout_seconds = 60;
  unsigned bookmark_expiry_seconds = 0;   // 0: bookmarks of silent machines are kept for ever
  unsigned max_connections_per_ip = 100;  // per listener; 0: no limit
  unsigned log_repeat_interval_seconds = 60; // repeated client-caused lines summarised per interval
  bool host_from_identity = false;        // HOST from the authenticated name, not from <Computer>
  TlsOptions tls;
  KerberosOptions kerberos;
  std::vector<SubscriptionConfig> subscriptions;
  std::vector<bool> subscription_has_query;

  bool validate(std::string &error) const;

  // LogThreadedSourceDriver callbacks
  bool init();
  void deinit();
  void run();
  void request_exit();
  void wakeup();
  const char *stats_instance();

  // EventSink
  bool window_open() override;
  std::uint64_t post(const EventOrigin &origin, std::string_view event_xml) override;
  std::uint64_t acknowledged_through() override;

private:
  // One listener and how forwarders that use it are told to deliver.
  struct Endpoint : http::RequestHandler
  {
    SourceDriver *driver = nullptr;
    ListenerProfile profile;
    std::unique_ptr<http::Listener> listener;
    std::optional<http::Response> on_request(const http::Request &request) override;
  };

  bool start_endpoint(http::ListenerOptions options, ListenerProfile profile);
  int primary_port() const;
  static void log(LogLevel level, const std::string &message, const LogTags &tags = {});
  std::string persist_base() const;
  NVHandle handle_for(const std::string &relative_name);
  void note_folded_fields(std::size_t count);

  LogThreadedSourceDriver *super_;
  WakeChannel *wake_ = nullptr;
  std::atomic<bool> exit_requested_{false};
  std::uint64_t next_sequence_ = 0;
  std::string stats_instance_;
  std::unique_ptr<auth::TlsTrust> trust_;
  std::unique_ptr<auth::KerberosAcceptor> kerberos_acceptor_;
  std::unique_ptr<PersistBookmarkStore> bookmarks_;
  std::unique_ptr<LogThrottle> client_log_; // lines caused by clients, repeats summarised
  std::unique_ptr<Collector> collector_;
  std::vector<std::unique_ptr<Endpoint>> endpoints_;
  std::unordered_map<std::string, NVHandle> handles_; // worker thread only; at most kMaxFieldNames
  std::uint64_t folded_since_warning_ = 0, folded_total_ = 0;
  std::int64_t last_fold_warning_ = 0; // monotonic seconds
  bool sdata_names_ = false;
  NVHandle identity_handle_ = 0, subscription_handle_ = 0, peer_handle_ = 0, parse_error_handle_ = 0,
           overflow_handle_ = 0, computer_verified_handle_ = 0;
};

} // namespace wec::module

struct WindowsEventSourceDriver
{
  LogThreadedSourceDriver super;
  wec::module::SourceDriver *cpp;
};
