// The HTTPS listener's authentication: the TLS handshake proves the client's certificate, and TLS
// protects everything after it, so requests and bodies pass unchanged.
#include "auth/authenticator.hpp"

#include "auth/tls-trust.hpp"

namespace wec::auth {

namespace {

class CertificateConnection final : public ConnectionAuth
{
public:
  CertificateConnection(const TlsTrust &trust, const LogFunction &log, std::string peer, std::string listener)
      : trust_(trust), log_(log), peer_(std::move(peer)), listener_(std::move(listener))
  {}

  const Identity &identity() const override { return identity_; }

  bool accept_certificate_chain(const std::vector<std::string_view> &chain) override
  {
    ClientIdentity client;
    VerifyFailure failure;
    if (!trust_.verify_client(chain, client, failure))
      {
        log_(LogLevel::Error, "windowsevent: TLS handshake refused",
             {{"peer", peer_}, {"listener", listener_}, {"reason", clip(failure.reason, 400)}, {"hint", failure.hint}});
        return false;
      }
    identity_.name = client.common_name;
    identity_.match_names = {client.common_name};
    for (auto &name : client.dns_names)
      if (name != client.common_name)
        identity_.match_names.push_back(name);
    return true;
  }

  std::optional<Answer> authenticate_request(const char *) override { return std::nullopt; }
  std::optional<Answer> open_body(const std::string &, std::string &) override { return std::nullopt; }

  const HeaderList &answer_headers() const override
  {
    static const HeaderList none;
    return none;
  }

  bool seal_body(std::string &, std::string &) override { return true; }

private:
  const TlsTrust &trust_;
  const LogFunction &log_;
  const std::string peer_;
  const std::string listener_;
  Identity identity_;
};

class CertificateAuthenticator final : public Authenticator
{
public:
  CertificateAuthenticator(const TlsTrust &trust, LogFunction log) : trust_(trust), log_(std::move(log)) {}

  AuthMethod method() const override { return AuthMethod::Certificate; }

  std::unique_ptr<ConnectionAuth> open(std::string peer, std::string listener) const override
  {
    return std::make_unique<CertificateConnection>(trust_, log_, std::move(peer), std::move(listener));
  }

private:
  const TlsTrust &trust_;
  const LogFunction log_;
};

} // namespace

std::unique_ptr<Authenticator> certificate_authenticator(const TlsTrust &trust, LogFunction log)
{
  return std::make_unique<CertificateAuthenticator>(trust, std::move(log));
}

} // namespace wec::auth
