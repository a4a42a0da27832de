// Everything that configures the collector service, whoever hosts it (syslog-ng's grammar fills it).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "auth/tls-trust.hpp"
#include "http/proxy-protocol.hpp"
#include "bookmarks/redis-options.hpp"
#include "subscriptions/subscription.hpp"

namespace wec {

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
  std::optional<bool> proxy_protocol; // tls(proxy-protocol()); unset: the source's proxy-protocol()

  // issuer-thumbprints(): 40 hex digits, spaces and colons allowed; a one-line reason otherwise.
  bool add_issuer_thumbprint(const std::string &text, std::string &error);

  auth::TrustConfig trust_config() const
  {
    return auth::TrustConfig{ca_file,  ca_dir,  issuer_thumbprints,         issuer_files,
                             crl_file, crl_dir, crl_reload_interval_seconds};
  }
};

struct KerberosOptions
{
  bool enabled = false;
  std::string keytab;
  std::string principal; // empty: any key of the keytab may accept
  int port = 5985;
  std::optional<bool> proxy_protocol; // kerberos(proxy-protocol()); unset: the source's proxy-protocol()
};

struct ServiceOptions
{
  std::string ip = "0.0.0.0";
  int port = 0;         // the HTTPS listener's: port() or tls(port()); 0: 5986
  std::string hostname; // advertised in the subscriptions; empty: the host's FQDN (the host fills it)
  unsigned max_connections = 1000;
  unsigned max_connections_per_ip = 100; // per listener; 0: no limit
  // Below the 60 s OperationTimeout of Windows' requests: answer 503 before the forwarder gives up.
  unsigned commit_timeout_seconds = 50;
  unsigned request_timeout_seconds = 60;
  unsigned log_repeat_interval_seconds = 60; // repeated client-caused lines summarised per interval
  bool emit_bookmark_events = false;         // EventForwarder 111 markers become events too
  bool compression = true;                   // advertise SLDC (cuts WAN traffic several-fold)
  bool proxy_protocol = false;               // listeners behind a TCP balancer (PROXY protocol)
  http::AddressRanges proxy_from;            // the balancers' addresses
  TlsOptions tls;
  KerberosOptions kerberos;
  RedisOptions redis; // bookmarks(redis(...)); without it the host keeps the bookmarks (syslog-ng's persist file)
  std::vector<SubscriptionConfig> subscriptions;

  int https_port() const { return port ? port : 5986; }
  int primary_port() const { return tls.enabled ? https_port() : kerberos.port; }
  bool tls_proxy_protocol() const { return tls.proxy_protocol.value_or(proxy_protocol); }
  bool kerberos_proxy_protocol() const { return kerberos.proxy_protocol.value_or(proxy_protocol); }
  // proxy-from(): one address or network more; a line saying what is wrong with it otherwise.
  bool add_proxy_from(const std::string &text, std::string &error);
  // A complete, consistent configuration? Reads the CA pins, CRLs and keytab it names, so that
  // syslog-ng --syntax-only reports them; one line saying what to change otherwise.
  bool validate(std::string &error) const;
};

// The subscription() block, option by option; each fails with a line saying what to write.
bool set_content_format(SubscriptionConfig &subscription, const std::string &format, std::string &error);
bool set_query(SubscriptionConfig &subscription, const std::string &query, std::string &error);
bool set_query_file(SubscriptionConfig &subscription, const std::string &path, std::string &error);
bool check_subscription(const SubscriptionConfig &subscription, std::string &error); // at its end

} // namespace wec
