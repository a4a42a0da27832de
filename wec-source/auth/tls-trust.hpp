// Client-certificate trust for the HTTPS listener: the configured CAs (ca-file, ca-dir), the
// pinned issuing CAs (issuer-thumbprints, issuer-file), revocation (crl-file, crl-dir), chain
// verification of what a forwarder presents, and the issuer thumbprints advertised in the
// subscription policy. OpenSSL does the X.509 work.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/log.hpp"

namespace wec::auth {

struct ClientIdentity
{
  std::string common_name;            // subject CN: the identity
  std::vector<std::string> dns_names; // subjectAltName DNS entries
};

struct TrustConfig
{
  std::string ca_file;
  std::string ca_dir;
  // The pinned issuing CAs: a client's verified chain (leaf excluded) must contain one of them.
  // Both empty: the loaded CAs that issued no other loaded CA. Each must be a loaded CA.
  std::vector<std::string> issuer_thumbprints; // normalised: 40 upper-case hex digits
  std::vector<std::string> issuer_files;       // PEM files; each certificate in them is pinned
  // Revocation: with either set, every certificate of the chain is checked against its
  // issuer's CRL, and a missing or expired CRL refuses the client.
  std::string crl_file;
  std::string crl_dir;
  unsigned crl_reload_interval_seconds = 60;
};

// Why a client certificate was refused: `reason` names the certificate (subject, serial,
// issuer) and what failed, `hint` what the operator can check.
struct VerifyFailure
{
  std::string reason;
  std::string hint;
};

class TlsTrust
{
public:
  // Loads the CAs, resolves the pinned issuers and reads the CRLs. Fails with a one-line reason
  // when a file cannot be read, no CA is found, a pin matches no loaded CA, or a CRL is
  // unreadable or not signed by its CA. Warnings (a CA without CRL, an expired CRL, a pinned
  // root) go to `log`, which later also reports CRL reloads.
  static std::unique_ptr<TlsTrust> load(const TrustConfig &config, LogFunction log, std::string &error);
  ~TlsTrust();

  // Verifies a client chain (DER, leaf first; Windows sends only the leaf) for client
  // authentication at the current time. Only loaded CAs build the chain: CA certificates the
  // client sends along are never trusted. The chain must pass through a pinned CA.
  bool verify_client(const std::vector<std::string_view> &der_chain, ClientIdentity &identity,
                     VerifyFailure &failure) const;

  // SHA-1 (upper-case hex) of the pinned issuing CAs: what the subscriptions advertise.
  const std::vector<std::string> &issuer_thumbprints() const { return issuer_thumbprints_; }

  // All loaded CA certificates as PEM, for the TLS stack's CertificateRequest CA list.
  const std::string &trusted_pem() const { return trusted_pem_; }

  bool checks_revocation() const;

  // Call on the thread that runs the handshakes, as often as convenient: at most once per
  // crl-reload-interval() it checks whether the CRL files changed and re-reads them. A set that
  // fails to load is reported once and the previous CRLs stay in use. A CRL in use whose
  // nextUpdate has passed is reported once.
  void refresh_revocation(std::chrono::steady_clock::time_point now);

private:
  TlsTrust();
  struct State;
  std::unique_ptr<State> state_;
  std::vector<std::string> issuer_thumbprints_;
  std::string trusted_pem_;
};

// "ab:12 CD…" → "AB12CD…" (spaces and colons are dropped). False, with the reason, when the
// text is not 40 hexadecimal digits.
bool normalise_thumbprint(std::string_view text, std::string &thumbprint, std::string &error);

// Reads a PEM certificate and its private key, checks that they belong together and returns
// both as PEM text for the listener.
bool load_server_credentials(const std::string &cert_file, const std::string &key_file, std::string &cert_pem,
                             std::string &key_pem, std::string &error);

} // namespace wec::auth
