// Client-certificate trust for the HTTPS listener: the configured CAs (ca-file, ca-dir),
// chain verification of what a forwarder presents, and the issuer thumbprints advertised
// in the subscription policy. OpenSSL does the X.509 work.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wec::auth {

struct ClientIdentity
{
  std::string common_name;                // subject CN: the identity
  std::vector<std::string> dns_names;     // subjectAltName DNS entries
};

class TlsTrust
{
public:
  // Loads every certificate of ca_file and of the files in ca_dir. Fails with a one-line reason
  // when nothing usable is found or a file cannot be read.
  static std::unique_ptr<TlsTrust> load(const std::string &ca_file, const std::string &ca_dir, std::string &error);
  ~TlsTrust();

  // Verifies a client chain (DER, leaf first; Windows sends only the leaf) for client
  // authentication at the current time.
  bool verify_client(const std::vector<std::string_view> &der_chain, ClientIdentity &identity,
                     std::string &error) const;

  // SHA-1 (upper-case hex) of the CAs that issue client certificates: the loaded CAs that did
  // not issue another loaded CA (an intermediate rather than its root).
  const std::vector<std::string> &issuer_thumbprints() const { return issuer_thumbprints_; }

  // All loaded CA certificates as PEM, for the TLS stack's CertificateRequest CA list.
  const std::string &trusted_pem() const { return trusted_pem_; }

private:
  TlsTrust();
  struct State;
  std::unique_ptr<State> state_;
  std::vector<std::string> issuer_thumbprints_;
  std::string trusted_pem_;
};

// Reads a PEM certificate and its private key, checks that they belong together and returns
// both as PEM text for the listener.
bool load_server_credentials(const std::string &cert_file, const std::string &key_file, std::string &cert_pem,
                             std::string &key_pem, std::string &error);

// SHA-1 thumbprint (upper-case hex) of the first certificate in a PEM text.
std::string pem_thumbprint(std::string_view pem);

} // namespace wec::auth
