// Kerberos for the HTTP listener (5985): accepting a forwarder's GSSAPI token from a keytab
// (the raw krb5 mechanism Windows forwarders send as "Authorization: Kerberos", or SPNEGO as
// "Negotiate"), one security context per TCP connection, and the WS-Management message
// encryption (multipart/encrypted bodies) both ways. MIT krb5 GSSAPI does the cryptography.
// kerberos.cpp holds the acceptor; the internal parts (namespace detail) are security-context
// (wrap/unwrap), kerberos-token (what a token holds), kerberos-diagnosis (why it failed),
// keytab (listing it) and kerberos-handles (RAII for the library handles).
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wec::auth {

enum class AuthScheme
{
  Kerberos,  // raw krb5 mechanism (RFC 4121 InitialContextToken), what WEF forwarders send
  Negotiate, // SPNEGO with Kerberos inside (Windows when the collector is in TrustedHosts)
};

// Why an authentication or a body failed, so that the log line can say what to fix.
enum class KerberosProblem
{
  None,
  ClockSkew,            // client and collector clocks differ more than the allowed skew
  PrincipalNotInKeytab, // ticket for a service principal the keytab lacks
  KeyVersionMismatch,   // ticket kvno differs from the keytab's
  EnctypeNotInKeytab,   // ticket encryption type has no key in the keytab
  NtlmRefused,          // Negotiate carried NTLM, not Kerberos
  MalformedToken,       // not a GSSAPI token at all
  IntegrityFailure,     // a body that does not decrypt or verify
  Other,
};

// One authenticated connection's GSSAPI context. Not thread safe; owned by the connection.
class SecurityContext
{
public:
  virtual ~SecurityContext() = default;

  // "WIN10$@CORP.EXAMPLE"
  virtual const std::string &client_principal() const = 0;
  virtual AuthScheme scheme() const = 0;

  // Decrypts a multipart/encrypted request body (Content-Type header value and body bytes).
  // Checks the OriginalContent length. On failure `problem` is set and `error` is one line.
  virtual bool unwrap(std::string_view content_type, std::string_view body, std::string &plaintext, std::string &error,
                      KerberosProblem &problem) = 0;

  // Encrypts a response body; returns the multipart/encrypted body and its Content-Type header.
  // `original_content_type` is the plaintext's type, e.g. "application/soap+xml;charset=UTF-16".
  virtual bool wrap(std::string_view plaintext, std::string_view original_content_type, std::string &body,
                    std::string &content_type, std::string &error) = 0;
};

struct AcceptOutcome
{
  std::unique_ptr<SecurityContext> context; // set when the client is authenticated
  std::string reply_token;                  // raw bytes for "WWW-Authenticate: <scheme> <base64>" (AP-REP)
  KerberosProblem problem = KerberosProblem::None;
  std::string error; // one actionable line when context is null
};

class KerberosAcceptor
{
public:
  virtual ~KerberosAcceptor() = default;

  // Opens the keytab (e.g. FILE:/etc/syslog-ng/wec.keytab or a plain path) and checks that it
  // can be read and holds at least one key (for `principal` when given, else any: HTTP/ and
  // HOST/ entries both work). Fails with a one-line reason.
  static std::unique_ptr<KerberosAcceptor> load(const std::string &keytab, const std::string &principal,
                                                std::string &error);

  // Accepts one token (already base64-decoded) from an Authorization header.
  virtual AcceptOutcome accept(AuthScheme scheme, std::string_view token) const = 0;

  // "HTTP/wec.corp.example@CORP.EXAMPLE (kvno 3, aes256-cts-hmac-sha1-96)", for the startup log.
  virtual std::vector<std::string> keytab_entries() const = 0;
};

// The names computers() globs are matched against for a Kerberos client: the principal, and for
// a machine account the FQDN Active Directory gives it by default:
// "WIN10$@CORP.EXAMPLE" → {"WIN10$@CORP.EXAMPLE", "win10.corp.example"}; "alice@CORP.EXAMPLE" → itself.
std::vector<std::string> kerberos_identity_names(const std::string &principal);

} // namespace wec::auth
