// How a listener learns who its clients are. One Authenticator per listener kind turns what a
// connection presents into an Identity or a refusal: the certificate chain of the TLS handshake
// (certificate_authenticator()), or the Authorization header of a request, and then the
// encryption of the bodies that comes with it (kerberos_authenticator()). The listener calls the
// same hooks at the same points of every connection and knows nothing of either method; the
// authenticators write the log lines that explain a refusal.
#pragma once

#include "auth/identity.hpp"
#include "core/log.hpp"

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace wec::auth {

class KerberosAcceptor;
class TlsTrust;

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// What the listener sends instead of passing a request on: a refusal (401, 400), or the 200 of
// a request that only authenticated. No body.
struct Answer
{
  unsigned status = 0;
  HeaderList headers;
};

// The authentication of one connection, from its accept to its close. Not thread safe.
class ConnectionAuth
{
public:
  virtual ~ConnectionAuth() = default;

  // Who the client is; empty until authenticated.
  virtual const Identity &identity() const = 0;

  // TLS listeners, during the handshake: the client's certificate chain (DER, leaf first).
  // False refuses the handshake.
  virtual bool accept_certificate_chain(const std::vector<std::string_view> &chain) = 0;

  // A request's headers are in; `authorization` is its Authorization header, or null. An answer
  // goes out at once, before any body byte is read.
  virtual std::optional<Answer> authenticate_request(const char *authorization) = 0;

  // The request's body is in: replaces it by its plaintext, or gives the answer to send instead.
  virtual std::optional<Answer> open_body(const std::string &content_type, std::string &body) = 0;

  // Headers for the answer to the current request (the Kerberos AP-REP).
  virtual const HeaderList &answer_headers() const = 0;

  // Turns an answer body, and its Content-Type, into what goes on the wire. False: it cannot be sent.
  virtual bool seal_body(std::string &body, std::string &content_type) = 0;
};

class Authenticator
{
public:
  virtual ~Authenticator() = default;

  virtual AuthMethod method() const = 0;

  // A new connection from `peer` ("192.0.2.10:50114") on `listener` ("https://0.0.0.0:5986"),
  // the names its log lines carry. It refers to this authenticator, which must outlive it.
  virtual std::unique_ptr<ConnectionAuth> open(std::string peer, std::string listener) const = 0;
};

// Client certificates, verified against `trust` during the handshake. `trust` must outlive it.
std::unique_ptr<Authenticator> certificate_authenticator(const TlsTrust &trust, LogFunction log);

// Kerberos from the Authorization header, one security context per connection, every body
// encrypted. `acceptor` must outlive it.
std::unique_ptr<Authenticator> kerberos_authenticator(const KerberosAcceptor &acceptor, LogFunction log);

} // namespace wec::auth
