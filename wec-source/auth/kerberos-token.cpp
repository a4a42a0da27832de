#include "auth/kerberos-token.hpp"

#include <algorithm>

namespace wec::auth::detail {

namespace {

constexpr std::string_view kNtlmSignature("NTLMSSP\0", 8);

// A bounded DER walker, enough to look into GSSAPI/SPNEGO/AP-REQ tokens for diagnostics.

struct Der
{
  const unsigned char *p = nullptr;
  std::size_t n = 0;

  Der() = default;
  Der(const void *data, std::size_t size) : p(static_cast<const unsigned char *>(data)), n(size) {}
  explicit Der(std::string_view s) : Der(s.data(), s.size()) {}

  bool empty() const { return n == 0; }
  std::string_view bytes() const { return {reinterpret_cast<const char *>(p), n}; }

  // Reads one TLV (low tag numbers, definite lengths only).
  bool next(unsigned char &tag, Der &content)
  {
    if (n < 2)
      return false;
    tag = p[0];
    if ((tag & 0x1f) == 0x1f)
      return false;
    std::size_t len = p[1];
    std::size_t used = 2;
    if (len & 0x80)
      {
        std::size_t k = len & 0x7f;
        if (k == 0 || k > 4 || n < 2 + k)
          return false;
        len = 0;
        for (std::size_t i = 0; i < k; ++i)
          len = (len << 8) | p[2 + i];
        used += k;
      }
    if (len > n - used)
      return false;
    content = Der(p + used, len);
    p += used + len;
    n -= used + len;
    return true;
  }

  bool expect(unsigned char want, Der &content)
  {
    unsigned char tag;
    return next(tag, content) && tag == want;
  }
};

bool der_integer(Der d, std::int64_t &value)
{
  if (d.n == 0 || d.n > 5)
    return false;
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < d.n; ++i)
    v = (v << 8) | d.p[i];
  const unsigned bits = static_cast<unsigned>(d.n * 8);
  if ((d.p[0] & 0x80) && bits < 64) // two's complement: sign-extend
    value = static_cast<std::int64_t>(v) - (static_cast<std::int64_t>(1) << bits);
  else
    value = static_cast<std::int64_t>(v);
  return true;
}

// One principal name component, escaped like krb5_unparse_name does.
void append_component(std::string &out, std::string_view comp)
{
  for (char c : printable(comp))
    {
      if (c == '/' || c == '@' || c == '\\')
        out.push_back('\\');
      out.push_back(c);
    }
}

// AP-REQ ::= [APPLICATION 14] SEQUENCE { pvno [0], msg-type [1], ap-options [2], ticket [3], authenticator [4] }
// Ticket ::= [APPLICATION 1] SEQUENCE { tkt-vno [0], realm [1], sname [2], enc-part [3] }
// EncryptedData ::= SEQUENCE { etype [0] Int32, kvno [1] UInt32 OPTIONAL, cipher [2] OCTET STRING }
void parse_ap_req(Der in, TicketInfo &info)
{
  Der ap_req, seq;
  if (!in.expect(0x6e, ap_req) || !ap_req.expect(0x30, seq))
    return;
  unsigned char tag;
  Der field;
  while (seq.next(tag, field))
    {
      if (tag != 0xa3)
        continue;
      Der ticket, tseq;
      if (!field.expect(0x61, ticket) || !ticket.expect(0x30, tseq))
        return;
      std::string realm, sname;
      bool have_realm = false, have_sname = false;
      Der tfield;
      while (tseq.next(tag, tfield))
        {
          if (tag == 0xa1)
            {
              Der s;
              if (tfield.expect(0x1b, s))
                {
                  append_component(realm, s.bytes());
                  have_realm = true;
                }
            }
          else if (tag == 0xa2)
            {
              Der pn, pfield;
              if (!tfield.expect(0x30, pn))
                continue;
              while (pn.next(tag, pfield))
                {
                  if (tag != 0xa1)
                    continue;
                  Der strings, s;
                  if (!pfield.expect(0x30, strings))
                    break;
                  int count = 0;
                  while (strings.expect(0x1b, s) && count++ < 16)
                    {
                      if (!sname.empty())
                        sname.push_back('/');
                      append_component(sname, s.bytes());
                    }
                  have_sname = count > 0;
                }
            }
          else if (tag == 0xa3)
            {
              Der enc, efield;
              if (!tfield.expect(0x30, enc))
                continue;
              while (enc.next(tag, efield))
                {
                  Der integer;
                  std::int64_t v;
                  if (tag == 0xa0 && efield.expect(0x02, integer) && der_integer(integer, v))
                    {
                      info.has_etype = true;
                      info.etype = static_cast<std::int32_t>(v);
                    }
                  else if (tag == 0xa1 && efield.expect(0x02, integer) && der_integer(integer, v) && v >= 0)
                    {
                      info.has_kvno = true;
                      info.kvno = static_cast<std::uint32_t>(v);
                    }
                }
            }
        }
      if (have_realm && have_sname)
        {
          info.parsed = true;
          info.service = sname + "@" + realm;
        }
      return;
    }
}

// InitialContextToken ::= [APPLICATION 0] IMPLICIT SEQUENCE { thisMech OID, innerToken ANY }
bool split_initial_token(Der token, std::string_view &oid, Der &inner)
{
  Der app, o;
  unsigned char tag;
  if (!token.expect(0x60, app) || !app.next(tag, o) || tag != 0x06)
    return false;
  oid = o.bytes();
  inner = app;
  return true;
}

void inspect_krb5_inner(Der inner, TicketInfo &ticket)
{
  // TOK_ID 01 00 (AP-REQ) precedes the raw AP-REQ.
  if (inner.n < 2 || inner.p[0] != 0x01 || inner.p[1] != 0x00)
    return;
  parse_ap_req(Der(inner.p + 2, inner.n - 2), ticket);
}

} // namespace

TokenInfo inspect_token(std::string_view token)
{
  TokenInfo info;
  if (token.substr(0, kNtlmSignature.size()) == kNtlmSignature)
    {
      info.kind = TokenKind::Ntlm;
      info.ntlm = true;
      return info;
    }
  std::string_view oid;
  Der inner;
  if (split_initial_token(Der(token), oid, inner))
    {
      if (oid == kOidKrb5 || oid == kOidKrb5Ms)
        {
          info.kind = TokenKind::Krb5;
          inspect_krb5_inner(inner, info.ticket);
          return info;
        }
      if (oid != kOidSpnego)
        return info;
      info.kind = TokenKind::Spnego;
      // NegotiationToken ::= CHOICE { negTokenInit [0] NegTokenInit, negTokenResp [1] ... }
      Der init, seq, field;
      if (!inner.expect(0xa0, init) || !init.expect(0x30, seq))
        return info;
      unsigned char tag;
      bool first_is_ntlm = false, has_ntlm = false, has_krb5 = false, first = true;
      while (seq.next(tag, field))
        {
          if (tag == 0xa0)
            {
              Der types, mech;
              if (!field.expect(0x30, types))
                continue;
              int count = 0;
              while (types.next(tag, mech) && count++ < 64)
                {
                  if (tag != 0x06)
                    continue;
                  std::string_view m = mech.bytes();
                  if (m == kOidNtlm)
                    {
                      has_ntlm = true;
                      if (first)
                        first_is_ntlm = true;
                    }
                  if (m == kOidKrb5 || m == kOidKrb5Ms)
                    has_krb5 = true;
                  first = false;
                }
            }
          else if (tag == 0xa2)
            {
              Der mech_token;
              if (!field.expect(0x04, mech_token))
                continue;
              if (mech_token.bytes().substr(0, kNtlmSignature.size()) == kNtlmSignature)
                info.ntlm = true;
              std::string_view inner_oid;
              Der krb5_inner;
              if (split_initial_token(mech_token, inner_oid, krb5_inner) &&
                  (inner_oid == kOidKrb5 || inner_oid == kOidKrb5Ms))
                inspect_krb5_inner(krb5_inner, info.ticket);
            }
        }
      if (first_is_ntlm || (has_ntlm && !has_krb5))
        info.ntlm = true;
      return info;
    }
  // A bare NegTokenResp: [1] SEQUENCE { negState [0], supportedMech [1], responseToken [2], mechListMIC [3] }
  Der t(token), resp, seq, field;
  if (t.expect(0xa1, resp) && resp.expect(0x30, seq))
    {
      info.kind = TokenKind::SpnegoResp;
      unsigned char tag;
      while (seq.next(tag, field))
        {
          Der octets;
          if (tag == 0xa2 && field.expect(0x04, octets) &&
              octets.bytes().substr(0, kNtlmSignature.size()) == kNtlmSignature)
            info.ntlm = true;
          Der oid_der;
          if (tag == 0xa1 && field.next(tag, oid_der) && tag == 0x06 && oid_der.bytes() == kOidNtlm)
            info.ntlm = true;
        }
    }
  return info;
}

std::string printable(std::string_view s)
{
  std::string out;
  out.reserve(std::min<std::size_t>(s.size(), 256));
  for (std::size_t i = 0; i < s.size() && i < 256; ++i)
    {
      unsigned char c = static_cast<unsigned char>(s[i]);
      out.push_back(c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?');
    }
  return out;
}

} // namespace wec::auth::detail
