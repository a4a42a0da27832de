#include "service/service-options.hpp"

#include "auth/kerberos.hpp"
#include "core/files.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <set>

namespace wec {

namespace {

bool validate_tls(const TlsOptions &tls, std::string &error)
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
  // Pins and CRLs are checked against the CAs already here, so that --syntax-only reports a pin
  // that matches no CA or an unreadable CRL (the CAs themselves are read again at start).
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
  return true;
}

bool validate_kerberos(const KerberosOptions &kerberos, std::string &error)
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
  return true;
}

} // namespace

bool TlsOptions::add_issuer_thumbprint(const std::string &text, std::string &error)
{
  std::string thumbprint, reason;
  if (!auth::normalise_thumbprint(text, thumbprint, reason))
    {
      error = "windowsevent(): issuer-thumbprints(\"" + text + "\") " + reason;
      return false;
    }
  issuer_thumbprints.push_back(thumbprint);
  return true;
}

bool ServiceOptions::add_proxy_from(const std::string &text, std::string &error)
{
  std::string reason;
  if (proxy_from.add(text, reason))
    return true;
  error = "windowsevent(): proxy-from(): " + reason;
  return false;
}

bool set_content_format(SubscriptionConfig &subscription, const std::string &format, std::string &error)
{
  if (format == "events" || format == "raw")
    subscription.rendered_text = false;
  else if (format == "rendered-text" || format == "rendered_text" || format == "renderedtext")
    subscription.rendered_text = true;
  else
    {
      error = "windowsevent(): content-format(\"" + format + "\") is neither events nor rendered-text";
      return false;
    }
  return true;
}

bool set_query(SubscriptionConfig &subscription, const std::string &query, std::string &error)
{
  std::string reason;
  if (!validate_query(query, reason))
    {
      error = "windowsevent(): query() is invalid: " + reason;
      return false;
    }
  subscription.query = query;
  return true;
}

bool set_query_file(SubscriptionConfig &subscription, const std::string &path, std::string &error)
{
  std::string query;
  if (!read_whole_file(path, query))
    {
      error = "windowsevent(): query-file(\"" + path + "\") cannot be read: " + std::strerror(errno);
      return false;
    }
  std::string reason;
  if (!validate_query(query, reason))
    {
      error = "windowsevent(): query-file(\"" + path + "\") is invalid: " + reason;
      return false;
    }
  while (!query.empty() && (query.back() == '\n' || query.back() == '\r' || query.back() == ' '))
    query.pop_back();
  subscription.query = query;
  return true;
}

bool check_subscription(const SubscriptionConfig &s, std::string &error)
{
  if (s.name.empty())
    error = "windowsevent(): subscription() needs name(\"...\")";
  else if (s.query.empty())
    error = "windowsevent(): subscription(name(\"" + s.name + "\")) needs query() or query-file()";
  else if (s.computers.empty())
    error = "windowsevent(): subscription(name(\"" + s.name +
            "\")) needs computers(\"...\"): "
            "which forwarders get it (globs, e.g. \"*.corp.example\")";
  return error.empty();
}

bool ServiceOptions::validate(std::string &error) const
{
  if (!tls.enabled && !kerberos.enabled)
    {
      error = "windowsevent(): no listener configured; add tls(key-file(...) cert-file(...) ca-dir(...)) for HTTPS "
              "with client certificates and/or kerberos(keytab(...)) for HTTP with Kerberos";
      return false;
    }
  if (tls.enabled && !validate_tls(tls, error))
    return false;
  if (!tls.enabled && port != 0)
    {
      error = "windowsevent(): port() is the HTTPS listener's port and needs tls(); "
              "the Kerberos listener's port is kerberos(port())";
      return false;
    }
  if (kerberos.enabled && !validate_kerberos(kerberos, error))
    return false;
  if (tls.enabled && kerberos.enabled && kerberos.port == https_port())
    {
      error = "windowsevent(): kerberos(port()) and the HTTPS port are both " + std::to_string(kerberos.port);
      return false;
    }
  const bool behind_balancer = (tls.enabled && tls_proxy_protocol()) || (kerberos.enabled && kerberos_proxy_protocol());
  if (behind_balancer && proxy_from.empty())
    {
      error = "windowsevent(): proxy-protocol(yes) needs proxy-from(\"ADDRESS\" ...): the addresses of the "
              "balancers that may send the PROXY header";
      return false;
    }
  if (!behind_balancer && !proxy_from.empty())
    {
      error = "windowsevent(): proxy-from() is given, but no listener has proxy-protocol(yes)";
      return false;
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

} // namespace wec
