// The Kerberos listener's authentication. There is no handshake: each request may carry an
// Authorization header, which sets up the connection's security context, and a connection that
// has one continues with it. Refusals are decided from the headers alone, so an unauthenticated
// client never makes the listener buffer a body. Every body is encrypted with the context, both ways.
#include "auth/authenticator.hpp"

#include "auth/base64.hpp"
#include "auth/kerberos.hpp"

#include <algorithm>
#include <cctype>

namespace wec::auth {

namespace {

constexpr unsigned kOk = 200;
constexpr unsigned kBadRequest = 400;
constexpr unsigned kUnauthorized = 401;
constexpr const char *kWwwAuthenticate = "WWW-Authenticate";

// HTTP authentication scheme names are case-insensitive (RFC 9110).
bool equals_ignoring_case(std::string_view a, std::string_view b)
{
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

// 401 with both schemes a WinRM client may use.
Answer challenge() { return Answer{kUnauthorized, {{kWwwAuthenticate, "Kerberos"}, {kWwwAuthenticate, "Negotiate"}}}; }

class KerberosConnection final : public ConnectionAuth
{
public:
  KerberosConnection(const KerberosAcceptor &acceptor, const LogFunction &log, std::string peer, std::string listener)
      : acceptor_(acceptor), log_(log), peer_(std::move(peer)), listener_(std::move(listener))
  {}

  const Identity &identity() const override { return identity_; }
  bool accept_certificate_chain(const std::vector<std::string_view> &) override { return false; }
  std::optional<Answer> authenticate_request(const char *authorization) override;
  std::optional<Answer> open_body(const std::string &content_type, std::string &body) override;
  const HeaderList &answer_headers() const override { return answer_headers_; }
  bool seal_body(std::string &body, std::string &content_type) override;

private:
  const KerberosAcceptor &acceptor_;
  const LogFunction &log_;
  const std::string peer_;
  const std::string listener_;
  Identity identity_;
  std::unique_ptr<SecurityContext> context_; // the latest accepted Authorization of this connection
  // Of the current request:
  HeaderList answer_headers_;             // WWW-Authenticate with the AP-REP
  bool authenticated_by_request_ = false; // it carried the Authorization that authenticated it
};

std::optional<Answer> KerberosConnection::authenticate_request(const char *authorization)
{
  answer_headers_.clear();
  authenticated_by_request_ = false;
  if (!authorization)
    {
      if (context_)
        return std::nullopt;
      log_(LogLevel::Debug, "windowsevent: request without Kerberos credentials, answered 401",
           {{"peer", peer_}, {"listener", listener_}});
      return challenge();
    }
  std::string_view value(authorization);
  std::size_t space = value.find(' ');
  std::string_view scheme_name = value.substr(0, space);
  std::string token;
  AuthScheme scheme;
  if (equals_ignoring_case(scheme_name, "Kerberos"))
    scheme = AuthScheme::Kerberos;
  else if (equals_ignoring_case(scheme_name, "Negotiate"))
    scheme = AuthScheme::Negotiate;
  else
    {
      log_(LogLevel::Error, "windowsevent: unsupported HTTP authentication scheme, answered 401",
           {{"peer", peer_},
            {"listener", listener_},
            {"scheme", clip(scheme_name, 40)},
            {"hint", "forwarders must use Kerberos (Basic and NTLM are refused)"}});
      return challenge();
    }
  if (space == std::string_view::npos || !base64_decode(value.substr(space + 1), token))
    {
      log_(LogLevel::Error, "windowsevent: malformed Authorization header, answered 401",
           {{"peer", peer_}, {"listener", listener_}});
      return challenge();
    }
  AcceptOutcome outcome = acceptor_.accept(scheme, token);
  if (!outcome.context)
    {
      context_.reset();
      // The reason names the principal, key versions or enctypes and what to fix.
      log_(LogLevel::Error, "windowsevent: Kerberos authentication failed, answered 401",
           {{"peer", peer_}, {"listener", listener_}, {"reason", clip(outcome.error, 1024)}});
      return challenge();
    }
  identity_.name = outcome.context->client_principal();
  identity_.match_names = kerberos_identity_names(identity_.name);
  context_ = std::move(outcome.context);
  authenticated_by_request_ = true;
  if (!outcome.reply_token.empty())
    answer_headers_.emplace_back(kWwwAuthenticate,
                                 std::string(scheme == AuthScheme::Kerberos ? "Kerberos" : "Negotiate") + " " +
                                     base64_encode(outcome.reply_token));
  return std::nullopt;
}

std::optional<Answer> KerberosConnection::open_body(const std::string &content_type, std::string &body)
{
  if (body.empty() && authenticated_by_request_)
    return Answer{kOk, {}}; // the pre-emptive authentication request of a Windows forwarder
  if (content_type.rfind("multipart/encrypted", 0) != 0)
    {
      log_(LogLevel::Error, "windowsevent: unencrypted request on a Kerberos connection refused, answered 400",
           {{"peer", peer_},
            {"identity", clip(identity_.name)},
            {"content_type", clip(content_type)},
            {"hint", "forwarders encrypt every message on HTTP; is a proxy rewriting the traffic?"}});
      return Answer{kBadRequest, {}};
    }
  std::string plaintext, error;
  KerberosProblem problem = KerberosProblem::None;
  if (!context_->unwrap(content_type, body, plaintext, error, problem))
    {
      log_(LogLevel::Error, "windowsevent: encrypted request body refused, answered 400",
           {{"peer", peer_},
            {"identity", clip(identity_.name)},
            {"reason", clip(error, 400)},
            {"hint", "the body was altered on the way or encrypted with another connection's context"}});
      // The client counted that message, the context did not: a new connection starts both afresh.
      return Answer{kBadRequest, {{"Connection", "close"}}};
    }
  body = std::move(plaintext);
  return std::nullopt;
}

bool KerberosConnection::seal_body(std::string &body, std::string &content_type)
{
  if (!context_ || body.empty())
    return true; // nothing to hide: 401s and empty answers go out as they are
  const std::string plaintext = std::move(body);
  std::string sealed_type, error;
  if (!context_->wrap(plaintext, content_type, body, sealed_type, error))
    return false;
  content_type = std::move(sealed_type);
  return true;
}

class KerberosAuthenticator final : public Authenticator
{
public:
  KerberosAuthenticator(const KerberosAcceptor &acceptor, LogFunction log) : acceptor_(acceptor), log_(std::move(log))
  {}

  AuthMethod method() const override { return AuthMethod::Kerberos; }

  std::unique_ptr<ConnectionAuth> open(std::string peer, std::string listener) const override
  {
    return std::make_unique<KerberosConnection>(acceptor_, log_, std::move(peer), std::move(listener));
  }

private:
  const KerberosAcceptor &acceptor_;
  const LogFunction log_;
};

} // namespace

std::unique_ptr<Authenticator> kerberos_authenticator(const KerberosAcceptor &acceptor, LogFunction log)
{
  return std::make_unique<KerberosAuthenticator>(acceptor, std::move(log));
}

} // namespace wec::auth
