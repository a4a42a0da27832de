// A look inside the GSSAPI token of an Authorization header, before GSSAPI gets it: which
// mechanism it is (Kerberos, SPNEGO, NTLM) and, for a Kerberos AP-REQ, the service ticket's
// principal, key version and encryption type, so that a failure can be explained against the
// keytab. The token is client data: the DER walk is bounded and reads nothing outside it.
// Internal to wec-source/auth.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace wec::auth::detail {

// Mechanism OIDs, DER contents without tag and length.
inline constexpr std::string_view kOidKrb5("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 9);
inline constexpr std::string_view kOidKrb5Ms("\x2a\x86\x48\x82\xf7\x12\x01\x02\x02", 9); // Microsoft's, from a bug
inline constexpr std::string_view kOidSpnego("\x2b\x06\x01\x05\x05\x02", 6);
inline constexpr std::string_view kOidNtlm("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 10);

struct TicketInfo
{
  bool parsed = false; // sname and realm found
  std::string service; // "HTTP/localhost@WEC.TEST"
  bool has_etype = false;
  std::int32_t etype = 0;
  bool has_kvno = false;
  std::uint32_t kvno = 0;
};

enum class TokenKind
{
  Unknown,
  Krb5,       // InitialContextToken with the krb5 OID (standard or Microsoft's)
  Spnego,     // NegTokenInit inside [APPLICATION 0] with the SPNEGO OID
  SpnegoResp, // a bare NegTokenResp ([1]), i.e. a continuation
  Ntlm,       // a raw NTLMSSP message
};

struct TokenInfo
{
  TokenKind kind = TokenKind::Unknown;
  bool ntlm = false; // NTLM is what the client is actually using
  TicketInfo ticket;
};

TokenInfo inspect_token(std::string_view token);

// Client or library bytes fit for a message: at most 256, anything but printable ASCII as '?'.
std::string printable(std::string_view s);

} // namespace wec::auth::detail
