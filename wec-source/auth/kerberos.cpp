#include "kerberos.hpp"

#include "encrypted-mime.hpp"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>
#include <krb5.h>

#include <algorithm>
#include <cctype>
#include <cstdint>
#include <cstring>
#include <functional>
#include <set>
#include <utility>

namespace wec::auth {

namespace {

// ---------------------------------------------------------------------------------------------
// RAII for the library handles

class GssName
{
public:
  GssName() = default;
  ~GssName() { reset(); }
  GssName(const GssName &) = delete;
  GssName &operator=(const GssName &) = delete;
  gss_name_t get() const { return h_; }
  gss_name_t *out() { reset(); return &h_; }
  void reset()
  {
    if (h_ != GSS_C_NO_NAME)
      {
        OM_uint32 minor;
        gss_release_name(&minor, &h_);
        h_ = GSS_C_NO_NAME;
      }
  }
private:
  gss_name_t h_ = GSS_C_NO_NAME;
};

class GssCred
{
public:
  GssCred() = default;
  ~GssCred() { reset(); }
  GssCred(const GssCred &) = delete;
  GssCred &operator=(const GssCred &) = delete;
  gss_cred_id_t get() const { return h_; }
  gss_cred_id_t *out() { reset(); return &h_; }
  void reset()
  {
    if (h_ != GSS_C_NO_CREDENTIAL)
      {
        OM_uint32 minor;
        gss_release_cred(&minor, &h_);
        h_ = GSS_C_NO_CREDENTIAL;
      }
  }
private:
  gss_cred_id_t h_ = GSS_C_NO_CREDENTIAL;
};

class GssContext
{
public:
  GssContext() = default;
  ~GssContext() { reset(); }
  GssContext(const GssContext &) = delete;
  GssContext &operator=(const GssContext &) = delete;
  GssContext(GssContext &&other) noexcept : h_(other.h_) { other.h_ = GSS_C_NO_CONTEXT; }
  gss_ctx_id_t get() const { return h_; }
  gss_ctx_id_t *inout() { return &h_; }
  void reset()
  {
    if (h_ != GSS_C_NO_CONTEXT)
      {
        OM_uint32 minor;
        gss_delete_sec_context(&minor, &h_, GSS_C_NO_BUFFER);
        h_ = GSS_C_NO_CONTEXT;
      }
  }
private:
  gss_ctx_id_t h_ = GSS_C_NO_CONTEXT;
};

// A buffer the library allocated (gss_release_buffer frees it).
class GssBuffer
{
public:
  GssBuffer() = default;
  ~GssBuffer() { reset(); }
  GssBuffer(const GssBuffer &) = delete;
  GssBuffer &operator=(const GssBuffer &) = delete;
  gss_buffer_t out() { reset(); return &b_; }
  std::string_view view() const
  {
    return b_.value ? std::string_view(static_cast<const char *>(b_.value), b_.length) : std::string_view();
  }
  void reset()
  {
    if (b_.value)
      {
        OM_uint32 minor;
        gss_release_buffer(&minor, &b_);
      }
    b_.value = nullptr;
    b_.length = 0;
  }
private:
  gss_buffer_desc b_{0, nullptr};
};

class Krb5Context
{
public:
  Krb5Context() = default;
  ~Krb5Context()
  {
    if (c_)
      krb5_free_context(c_);
  }
  Krb5Context(const Krb5Context &) = delete;
  Krb5Context &operator=(const Krb5Context &) = delete;
  krb5_error_code init() { return krb5_init_context(&c_); }
  krb5_context get() const { return c_; }
private:
  krb5_context c_ = nullptr;
};

class Krb5Keytab
{
public:
  explicit Krb5Keytab(krb5_context ctx) : ctx_(ctx) {}
  ~Krb5Keytab()
  {
    if (kt_)
      krb5_kt_close(ctx_, kt_);
  }
  Krb5Keytab(const Krb5Keytab &) = delete;
  Krb5Keytab &operator=(const Krb5Keytab &) = delete;
  krb5_keytab get() const { return kt_; }
  krb5_keytab *out() { return &kt_; }
private:
  krb5_context ctx_;
  krb5_keytab kt_ = nullptr;
};

class Krb5Principal
{
public:
  explicit Krb5Principal(krb5_context ctx) : ctx_(ctx) {}
  ~Krb5Principal()
  {
    if (p_)
      krb5_free_principal(ctx_, p_);
  }
  Krb5Principal(const Krb5Principal &) = delete;
  Krb5Principal &operator=(const Krb5Principal &) = delete;
  krb5_principal get() const { return p_; }
  krb5_principal *out() { return &p_; }
private:
  krb5_context ctx_;
  krb5_principal p_ = nullptr;
};

std::string krb5_message(krb5_context ctx, krb5_error_code code)
{
  const char *msg = krb5_get_error_message(ctx, code);
  std::string text = msg ? msg : ("krb5 error " + std::to_string(code));
  if (msg)
    krb5_free_error_message(ctx, msg);
  return text;
}

std::string unparse(krb5_context ctx, krb5_const_principal princ)
{
  char *name = nullptr;
  if (krb5_unparse_name(ctx, princ, &name) != 0 || !name)
    return "?";
  std::string s = name;
  krb5_free_unparsed_name(ctx, name);
  return s;
}

// ---------------------------------------------------------------------------------------------
// OIDs

gss_OID_desc kSpnegoOid = {6, const_cast<char *>("\x2b\x06\x01\x05\x05\x02")};
gss_OID_desc kKrb5Oid = {9, const_cast<char *>("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02")};
gss_OID_desc kKrb5MsOid = {9, const_cast<char *>("\x2a\x86\x48\x82\xf7\x12\x01\x02\x02")};

constexpr std::string_view kOidKrb5("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 9);
constexpr std::string_view kOidKrb5Ms("\x2a\x86\x48\x82\xf7\x12\x01\x02\x02", 9);
constexpr std::string_view kOidSpnego("\x2b\x06\x01\x05\x05\x02", 6);
constexpr std::string_view kOidNtlm("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 10);
constexpr std::string_view kNtlmSignature("NTLMSSP\0", 8);

const char *const kNtlmRefused =
  "Negotiate offered NTLM, which is refused: the forwarder must use Kerberos (is the collector's name in DNS "
  "and its SPN registered?)";

// ---------------------------------------------------------------------------------------------
// Keytab listing

struct KeytabEntry
{
  std::string principal;
  krb5_kvno kvno = 0;
  krb5_enctype enctype = 0;
};

std::string enctype_name(krb5_enctype enctype)
{
  char buf[128];
  if (krb5_enctype_to_name(enctype, FALSE, buf, sizeof(buf)) == 0)
    return buf;
  return "enctype " + std::to_string(enctype);
}

std::string keytab_name_for(const std::string &keytab)
{
  // "TYPE:residual" when the part before ':' looks like a keytab type (longer than a drive
  // letter, letters/digits only); otherwise a plain path.
  std::size_t colon = keytab.find(':');
  if (colon != std::string::npos && colon > 1)
    {
      bool type_like = true;
      for (std::size_t i = 0; i < colon; ++i)
        if (!std::isalnum(static_cast<unsigned char>(keytab[i])) && keytab[i] != '_')
          type_like = false;
      if (type_like)
        return keytab;
    }
  return "FILE:" + keytab;
}

constexpr std::size_t kMaxKeytabEntries = 100000;

bool list_keytab(const std::string &ktname, std::vector<KeytabEntry> &entries, std::string &reason)
{
  entries.clear();
  Krb5Context ctx;
  if (krb5_error_code code = ctx.init())
    {
      reason = "cannot initialise Kerberos (krb5.conf?): error " + std::to_string(code);
      return false;
    }
  Krb5Keytab kt(ctx.get());
  if (krb5_error_code code = krb5_kt_resolve(ctx.get(), ktname.c_str(), kt.out()))
    {
      reason = krb5_message(ctx.get(), code);
      return false;
    }
  krb5_kt_cursor cursor;
  if (krb5_error_code code = krb5_kt_start_seq_get(ctx.get(), kt.get(), &cursor))
    {
      if (code == KRB5_KT_END)
        return true; // an empty keytab
      reason = krb5_message(ctx.get(), code);
      return false;
    }
  krb5_keytab_entry entry;
  krb5_error_code code;
  while ((code = krb5_kt_next_entry(ctx.get(), kt.get(), &entry, &cursor)) == 0)
    {
      if (entries.size() < kMaxKeytabEntries)
        entries.push_back({unparse(ctx.get(), entry.principal), entry.vno, entry.key.enctype});
      krb5_free_keytab_entry_contents(ctx.get(), &entry);
    }
  krb5_kt_end_seq_get(ctx.get(), kt.get(), &cursor);
  if (code != KRB5_KT_END)
    {
      reason = krb5_message(ctx.get(), code);
      return false;
    }
  return true;
}

std::string join(const std::vector<std::string> &items, const char *sep = ", ")
{
  std::string out;
  for (const auto &s : items)
    {
      if (!out.empty())
        out += sep;
      out += s;
    }
  return out;
}

std::vector<std::string> distinct_principals(const std::vector<KeytabEntry> &entries)
{
  std::vector<std::string> names;
  for (const auto &e : entries)
    if (std::find(names.begin(), names.end(), e.principal) == names.end())
      names.push_back(e.principal);
  return names;
}

// ---------------------------------------------------------------------------------------------
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

struct TicketInfo
{
  bool parsed = false;       // sname and realm found
  std::string service;       // "HTTP/localhost@WEC.TEST"
  bool has_etype = false;
  std::int32_t etype = 0;
  bool has_kvno = false;
  std::uint32_t kvno = 0;
};

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

enum class TokenKind
{
  Unknown,
  Krb5,        // InitialContextToken with the krb5 OID (standard or Microsoft's)
  Spnego,      // NegTokenInit inside [APPLICATION 0] with the SPNEGO OID
  SpnegoResp,  // a bare NegTokenResp ([1]), i.e. a continuation
  Ntlm,        // a raw NTLMSSP message
};

struct TokenInfo
{
  TokenKind kind = TokenKind::Unknown;
  bool ntlm = false;       // NTLM is what the client is actually using
  TicketInfo ticket;
};

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

// ---------------------------------------------------------------------------------------------
// GSS status text and error classification

void append_status(std::string &out, OM_uint32 code, int type)
{
  OM_uint32 context = 0;
  int rounds = 0;
  do
    {
      OM_uint32 minor = 0;
      GssBuffer buf;
      OM_uint32 major = gss_display_status(&minor, code, type, GSS_C_NO_OID, &context, buf.out());
      if (GSS_ERROR(major))
        break;
      std::string_view text = buf.view();
      while (!text.empty() && (text.back() == '\n' || text.back() == ' ' || text.back() == '.'))
        text.remove_suffix(1);
      if (!text.empty())
        {
          if (!out.empty())
            out += "; ";
          out += printable(text);
        }
    }
  while (context != 0 && ++rounds < 8);
}

// The most useful text: the mechanism's (minor) message when there is one, else the GSS one.
std::string gss_text(OM_uint32 major, OM_uint32 minor)
{
  std::string mech;
  if (minor != 0)
    append_status(mech, minor, GSS_C_MECH_CODE);
  std::string routine;
  append_status(routine, major, GSS_C_GSS_CODE);
  if (mech.empty())
    return routine.empty() ? "GSSAPI error " + std::to_string(major) : routine;
  return mech;
}

bool contains_ci(std::string_view hay, std::string_view needle)
{
  if (needle.size() > hay.size())
    return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    {
      std::size_t j = 0;
      while (j < needle.size() &&
             std::tolower(static_cast<unsigned char>(hay[i + j])) == std::tolower(static_cast<unsigned char>(needle[j])))
        ++j;
      if (j == needle.size())
        return true;
    }
  return false;
}

// The library's base message of an error code (without the details MIT may add), computed once.
const std::string &base_message(krb5_error_code code)
{
  static const std::vector<std::pair<krb5_error_code, std::string>> table = [] {
    std::vector<std::pair<krb5_error_code, std::string>> t;
    Krb5Context ctx;
    if (ctx.init() != 0)
      return t;
    for (krb5_error_code c :
         {KRB5KRB_AP_ERR_SKEW, KRB5KRB_AP_ERR_TKT_NYV, KRB5KRB_AP_ERR_TKT_EXPIRED, KRB5KRB_AP_ERR_REPEAT,
          KRB5KRB_AP_ERR_BADKEYVER, KRB5KRB_AP_ERR_NOKEY, KRB5KRB_AP_ERR_NOT_US, KRB5KRB_AP_WRONG_PRINC,
          KRB5_KT_NOTFOUND, KRB5_KT_KVNONOTFOUND, KRB5KRB_AP_ERR_BAD_INTEGRITY, KRB5KRB_AP_ERR_MODIFIED,
          KRB5_BAD_ENCTYPE})
      {
        krb5_clear_error_message(ctx.get());
        t.emplace_back(c, krb5_message(ctx.get(), c));
      }
    return t;
  }();
  static const std::string none;
  for (const auto &entry : table)
    if (entry.first == code)
      return entry.second;
  return none;
}

bool minor_is(OM_uint32 minor, std::string_view text, krb5_error_code code)
{
  if (minor == static_cast<OM_uint32>(code))
    return true;
  // Through SPNEGO the number may be remapped: compare the library's message for the code.
  const std::string &base = base_message(code);
  return !base.empty() && contains_ci(text, base);
}

bool kvno_matches(krb5_kvno keytab_kvno, std::uint32_t ticket_kvno)
{
  // MIT treats a keytab kvno of 0 as "any"; old keytab formats keep only the low 8 bits.
  return keytab_kvno == 0 || keytab_kvno == ticket_kvno || keytab_kvno == (ticket_kvno & 0xff);
}

std::string plural_versions(const std::set<krb5_kvno> &versions)
{
  std::vector<std::string> v;
  for (auto k : versions)
    v.push_back(std::to_string(k));
  return (versions.size() == 1 ? "version " : "versions ") + join(v);
}

struct Diagnosis
{
  KerberosProblem problem = KerberosProblem::Other;
  std::string error;
};

// Compares the ticket with the keytab (as it is now) to say which key is missing.
bool diagnose_keys(const TicketInfo &ticket, const std::vector<KeytabEntry> &entries, const std::string &keytab,
                   const std::string &only_principal, Diagnosis &d)
{
  if (!ticket.parsed)
    return false;
  const std::string &p = ticket.service;
  if (!only_principal.empty() && p != only_principal)
    {
      d.problem = KerberosProblem::PrincipalNotInKeytab;
      d.error = "ticket is for service principal " + p + " but the collector accepts only " + only_principal +
                " (principal option): drop the option or make the forwarders use that name";
      return true;
    }
  std::vector<const KeytabEntry *> mine;
  for (const auto &e : entries)
    if (e.principal == p)
      mine.push_back(&e);
  if (mine.empty())
    {
      auto names = distinct_principals(entries);
      d.problem = KerberosProblem::PrincipalNotInKeytab;
      d.error = "ticket is for service principal " + p + ", which keytab " + keytab + " does not hold (it holds " +
                (names.empty() ? std::string("nothing") : join(names)) +
                "): add that principal to the keytab (forwarders ask for HTTP/<collector fqdn>, Windows Server "
                "2025 for HOST/<collector fqdn>)";
      return true;
    }
  std::set<krb5_kvno> versions;
  for (const auto *e : mine)
    versions.insert(e->kvno);
  std::vector<const KeytabEntry *> same_kvno;
  for (const auto *e : mine)
    if (!ticket.has_kvno || kvno_matches(e->kvno, ticket.kvno))
      same_kvno.push_back(e);
  if (same_kvno.empty())
    {
      d.problem = KerberosProblem::KeyVersionMismatch;
      d.error = "ticket for " + p + " has key version " + std::to_string(ticket.kvno) + " but the keytab holds " +
                plural_versions(versions) + ": re-export the keytab (ktpass/ktutil) after the password change";
      return true;
    }
  if (ticket.has_etype)
    {
      bool found = false;
      std::vector<std::string> have;
      for (const auto *e : same_kvno)
        {
          if (e->enctype == ticket.etype)
            found = true;
          std::string n = enctype_name(e->enctype);
          if (std::find(have.begin(), have.end(), n) == have.end())
            have.push_back(n);
        }
      if (!found)
        {
          d.problem = KerberosProblem::EnctypeNotInKeytab;
          d.error = "ticket for " + p + " is encrypted with " + enctype_name(ticket.etype) +
                    " but the keytab holds only " + join(have) + " for it (" +
                    (ticket.has_kvno ? "kvno " + std::to_string(ticket.kvno) : plural_versions(versions)) +
                    "): export the keytab with that encryption type (ktpass /crypto, ktutil addent -e) or restrict "
                    "the account's msDS-SupportedEncryptionTypes";
          return true;
        }
    }
  return false;
}

Diagnosis classify(OM_uint32 major, OM_uint32 minor, const TokenInfo &token, const std::string &keytab_display,
                   const std::string &ktname, const std::string &only_principal,
                   const std::vector<KeytabEntry> &cached_entries)
{
  Diagnosis d;
  const std::string text = gss_text(major, minor);
  const std::string for_principal = token.ticket.parsed ? " for a ticket to " + token.ticket.service : "";

  if (minor_is(minor, text, KRB5KRB_AP_ERR_SKEW) || minor_is(minor, text, KRB5KRB_AP_ERR_TKT_NYV) ||
      contains_ci(text, "clock skew"))
    {
      d.problem = KerberosProblem::ClockSkew;
      d.error = "clock skew too great between the forwarder and the collector (more than 5 minutes)" + for_principal +
                ": check time sync (NTP)";
      return d;
    }

  const bool key_error =
    minor_is(minor, text, KRB5KRB_AP_ERR_BADKEYVER) || minor_is(minor, text, KRB5KRB_AP_ERR_NOKEY) ||
    minor_is(minor, text, KRB5KRB_AP_ERR_NOT_US) || minor_is(minor, text, KRB5KRB_AP_WRONG_PRINC) ||
    minor_is(minor, text, KRB5_KT_NOTFOUND) || minor_is(minor, text, KRB5_KT_KVNONOTFOUND) ||
    minor_is(minor, text, KRB5KRB_AP_ERR_BAD_INTEGRITY) || minor_is(minor, text, KRB5KRB_AP_ERR_MODIFIED) ||
    minor_is(minor, text, KRB5_BAD_ENCTYPE) || contains_ci(text, "keytab") || contains_ci(text, "kvno") ||
    contains_ci(text, "enctype") || contains_ci(text, "decrypt");
  if (key_error)
    {
      // The keytab may have been replaced since startup: look at it as it is now.
      std::vector<KeytabEntry> entries;
      std::string reason;
      if (!list_keytab(ktname, entries, reason))
        entries = cached_entries;
      if (diagnose_keys(token.ticket, entries, keytab_display, only_principal, d))
        return d;
      if (contains_ci(text, "kvno") || minor_is(minor, text, KRB5KRB_AP_ERR_BADKEYVER) ||
          minor_is(minor, text, KRB5_KT_KVNONOTFOUND))
        {
          d.problem = KerberosProblem::KeyVersionMismatch;
          d.error = "key version mismatch" + for_principal + ": " + text +
                    ": re-export the keytab (ktpass/ktutil) after the password change";
          return d;
        }
      if (contains_ci(text, "enctype"))
        {
          d.problem = KerberosProblem::EnctypeNotInKeytab;
          d.error = "encryption type not in keytab" + for_principal + ": " + text;
          return d;
        }
      if (contains_ci(text, "not found in keytab") || minor_is(minor, text, KRB5_KT_NOTFOUND) ||
          minor_is(minor, text, KRB5KRB_AP_ERR_NOT_US) || minor_is(minor, text, KRB5KRB_AP_WRONG_PRINC))
        {
          d.problem = KerberosProblem::PrincipalNotInKeytab;
          d.error = "service principal not in keytab " + keytab_display + for_principal + ": " + text +
                    " (keytab holds " + join(distinct_principals(entries)) + ")";
          return d;
        }
      d.problem = KerberosProblem::Other;
      d.error = "the keytab key" + (token.ticket.parsed ? " for " + token.ticket.service : std::string()) +
                " does not decrypt the ticket (" + text +
                "): the keytab is older than the account's password or belongs to another account; re-export it";
      return d;
    }

  if (minor_is(minor, text, KRB5KRB_AP_ERR_TKT_EXPIRED))
    {
      d.error = "the forwarder's ticket" + (token.ticket.parsed ? " to " + token.ticket.service : std::string()) +
                " has expired: " + text;
      return d;
    }
  if (minor_is(minor, text, KRB5KRB_AP_ERR_REPEAT))
    {
      d.error = "replayed Kerberos authenticator refused" + for_principal + ": " + text;
      return d;
    }
  const OM_uint32 routine = GSS_ROUTINE_ERROR(major);
  if (routine == GSS_S_DEFECTIVE_TOKEN || routine == GSS_S_BAD_MECH || routine == GSS_S_BAD_SIG)
    {
      d.problem = KerberosProblem::MalformedToken;
      d.error = "invalid Kerberos token: " + text;
      return d;
    }
  d.error = "Kerberos authentication failed" + for_principal + ": " + text;
  return d;
}

// ---------------------------------------------------------------------------------------------
// The security context of one connection

class GssSecurityContext final : public SecurityContext
{
public:
  GssSecurityContext(GssContext ctx, AuthScheme scheme, std::string principal)
    : ctx_(std::move(ctx)), scheme_(scheme), principal_(std::move(principal))
  {
  }

  const std::string &client_principal() const override { return principal_; }
  AuthScheme scheme() const override { return scheme_; }

  bool unwrap(std::string_view content_type, std::string_view body, std::string &plaintext, std::string &error,
              KerberosProblem &problem) override
  {
    problem = KerberosProblem::None;
    mime::EncryptedBody parts;
    mime::ParseError kind;
    if (!mime::parse(content_type, body, parts, error, kind))
      {
        problem = KerberosProblem::MalformedToken;
        error += " (from " + principal_ + ")";
        return false;
      }
    if (parts.ciphertext.size() < parts.original_length)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " is truncated: OriginalContent length " +
                std::to_string(parts.original_length) + " but only " + std::to_string(parts.ciphertext.size()) +
                " bytes of ciphertext";
        return false;
      }
    header_.assign(parts.token_header.data(), parts.token_header.size());
    plaintext.assign(parts.ciphertext.data(), parts.ciphertext.size());

    gss_iov_buffer_desc iov[2];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer.length = header_.size();
    iov[0].buffer.value = &header_[0];
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer.length = plaintext.size();
    iov[1].buffer.value = plaintext.empty() ? nullptr : &plaintext[0];
    int conf_state = 0;
    gss_qop_t qop = 0;
    OM_uint32 minor = 0;
    OM_uint32 major = gss_unwrap_iov(&minor, ctx_.get(), &conf_state, &qop, iov, 2);
    if (GSS_ERROR(major))
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " does not decrypt or verify: " + gss_text(major, minor);
        plaintext.clear();
        return false;
      }
    // Supplementary statuses: the message verified, but is not the next one of this connection.
    const char *out_of_order = (major & GSS_S_DUPLICATE_TOKEN) ? "is a replay of an earlier message"
                               : (major & GSS_S_OLD_TOKEN)     ? "is older than messages already received"
                               : (major & GSS_S_UNSEQ_TOKEN)   ? "arrived out of sequence"
                               : (major & GSS_S_GAP_TOKEN)     ? "follows a gap: earlier messages are missing"
                                                               : nullptr;
    if (out_of_order)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + " " + out_of_order;
        plaintext.clear();
        return false;
      }
    if (conf_state != 1)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "body from " + principal_ + " is signed but not encrypted: integrity-only messages are refused";
        plaintext.clear();
        return false;
      }
    std::size_t length = iov[1].buffer.length;
    if (length > plaintext.size())
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "encrypted body from " + principal_ + ": GSSAPI returned more data than it was given";
        plaintext.clear();
        return false;
      }
    if (length != 0 && iov[1].buffer.value != plaintext.data())
      std::memmove(&plaintext[0], iov[1].buffer.value, length);
    plaintext.resize(length);
    if (length != parts.original_length)
      {
        problem = KerberosProblem::IntegrityFailure;
        error = "OriginalContent length " + std::to_string(parts.original_length) +
                " does not match the decrypted length " + std::to_string(length) + " (from " + principal_ + ")";
        plaintext.clear();
        return false;
      }
    return true;
  }

  bool wrap(std::string_view plaintext, std::string_view original_content_type, std::string &body,
            std::string &content_type, std::string &error) override
  {
    // `plaintext` may not live inside `body`, which is resized below.
    const std::less<const char *> before;
    if (!body.empty() && !plaintext.empty() && !before(plaintext.data(), body.data()) &&
        before(plaintext.data(), body.data() + body.size()))
      {
        std::string copy(plaintext);
        return wrap(copy, original_content_type, body, content_type, error);
      }
    const mime::Protocol protocol = scheme_ == AuthScheme::Negotiate ? mime::Protocol::Spnego : mime::Protocol::Kerberos;

    gss_iov_buffer_desc iov[3];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer = {0, nullptr};
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer = {plaintext.size(), nullptr};
    iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING;
    iov[2].buffer = {0, nullptr};
    OM_uint32 minor = 0;
    int conf_state = 0;
    OM_uint32 major = gss_wrap_iov_length(&minor, ctx_.get(), 1, GSS_C_QOP_DEFAULT, &conf_state, iov, 3);
    if (GSS_ERROR(major))
      {
        error = "cannot size the encrypted response for " + principal_ + ": " + gss_text(major, minor);
        return false;
      }
    const std::size_t header_length = iov[0].buffer.length;
    const std::size_t padding_length = iov[2].buffer.length;

    // One allocation: the MIME text, the plaintext at its final place, then encrypt in place.
    mime::Layout layout = mime::frame(body, protocol, original_content_type, plaintext, header_length, padding_length);
    char *base = &body[0];
    iov[0].buffer = {header_length, base + layout.header_offset};
    iov[1].buffer = {plaintext.size(), base + layout.data_offset};
    iov[2].buffer = {padding_length, base + layout.padding_offset};
    major = gss_wrap_iov(&minor, ctx_.get(), 1, GSS_C_QOP_DEFAULT, &conf_state, iov, 3);
    if (GSS_ERROR(major))
      {
        body.clear();
        error = "cannot encrypt the response for " + principal_ + ": " + gss_text(major, minor);
        return false;
      }
    if (conf_state != 1)
      {
        body.clear();
        error = "GSSAPI did not encrypt the response for " + principal_;
        return false;
      }
    if (iov[0].buffer.length != header_length || iov[1].buffer.length != plaintext.size() ||
        iov[2].buffer.length > padding_length)
      {
        body.clear();
        error = "GSSAPI wrote a token of unexpected size for " + principal_;
        return false;
      }
    mime::shrink_padding(body, layout, iov[2].buffer.length);
    content_type = mime::content_type(protocol);
    return true;
  }

private:
  GssContext ctx_;
  AuthScheme scheme_;
  std::string principal_;
  std::string header_; // scratch for the wrap token header, reused between messages
};

// ---------------------------------------------------------------------------------------------
// The acceptor

bool acquire(const std::string &ktname, gss_name_t name, gss_OID mech, GssCred &cred, std::string &error)
{
  gss_key_value_element_desc element = {"keytab", ktname.c_str()};
  gss_key_value_set_desc store = {1, &element};
  gss_OID_set_desc mechs = {1, mech};
  OM_uint32 minor = 0;
  OM_uint32 major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store, cred.out(),
                                          nullptr, nullptr);
  if (GSS_ERROR(major))
    {
      error = gss_text(major, minor);
      return false;
    }
  return true;
}

class GssAcceptor final : public KerberosAcceptor
{
public:
  AcceptOutcome accept(AuthScheme scheme, std::string_view token) const override;
  std::vector<std::string> keytab_entries() const override;

  std::string keytab_display_; // as configured
  std::string ktname_;         // TYPE:residual
  std::string principal_;      // canonical, empty = any key in the keytab
  std::vector<KeytabEntry> entries_;
  GssCred krb5_cred_;
  GssCred spnego_cred_;
};

std::vector<std::string> GssAcceptor::keytab_entries() const
{
  std::vector<std::string> out;
  out.reserve(entries_.size());
  for (const auto &e : entries_)
    out.push_back(e.principal + " (kvno " + std::to_string(e.kvno) + ", " + enctype_name(e.enctype) + ")");
  return out;
}

AcceptOutcome GssAcceptor::accept(AuthScheme scheme, std::string_view token) const
{
  AcceptOutcome outcome;
  const char *scheme_name = scheme == AuthScheme::Negotiate ? "Negotiate" : "Kerberos";
  if (token.empty())
    {
      outcome.problem = KerberosProblem::MalformedToken;
      outcome.error = std::string("empty ") + scheme_name + " token";
      return outcome;
    }
  const TokenInfo info = inspect_token(token);
  if (info.ntlm)
    {
      outcome.problem = KerberosProblem::NtlmRefused;
      outcome.error = kNtlmRefused;
      if (scheme == AuthScheme::Kerberos)
        outcome.error.replace(0, std::strlen("Negotiate"), "the Kerberos header");
      return outcome;
    }
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  switch (info.kind)
    {
    case TokenKind::Krb5:
      cred = krb5_cred_.get();
      break;
    case TokenKind::Spnego:
      cred = spnego_cred_.get();
      break;
    case TokenKind::SpnegoResp:
      outcome.problem = KerberosProblem::MalformedToken;
      outcome.error = std::string(scheme_name) +
                      " continuation token without a negotiation in progress (only one-step Kerberos is supported)";
      return outcome;
    default:
      outcome.problem = KerberosProblem::MalformedToken;
      outcome.error = std::string("the ") + scheme_name +
                      " authorization token is neither a GSSAPI Kerberos nor a SPNEGO token";
      return outcome;
    }

  gss_buffer_desc input = {token.size(), const_cast<char *>(token.data())};
  GssContext ctx;
  GssName source;
  GssBuffer output;
  gss_OID mech_type = GSS_C_NO_OID;
  OM_uint32 flags = 0;
  OM_uint32 minor = 0;
  OM_uint32 major = gss_accept_sec_context(&minor, ctx.inout(), cred, &input, GSS_C_NO_CHANNEL_BINDINGS, source.out(),
                                           &mech_type, output.out(), &flags, nullptr, nullptr);
  outcome.reply_token = std::string(output.view());
  if (GSS_ERROR(major))
    {
      Diagnosis d = classify(major, minor, info, keytab_display_, ktname_, principal_, entries_);
      outcome.problem = d.problem;
      outcome.error = std::move(d.error);
      return outcome;
    }
  if (major & GSS_S_CONTINUE_NEEDED)
    {
      outcome.problem = KerberosProblem::Other;
      outcome.error = std::string(scheme_name) +
                      " authentication needs more than one round trip, which is not supported: the forwarder must "
                      "send a Kerberos ticket directly";
      outcome.reply_token.clear();
      return outcome;
    }

  // The identity as the KDC vouches for it (UTF-8 kept: it is matched against computers()).
  std::string principal;
  {
    GssBuffer name;
    OM_uint32 m = 0;
    OM_uint32 name_major = gss_display_name(&m, source.get(), name.out(), nullptr);
    if (GSS_ERROR(name_major) || name.view().empty())
      {
        outcome.problem = KerberosProblem::Other;
        outcome.error = "cannot read the client principal of an authenticated Kerberos context: " +
                        gss_text(name_major, m);
        outcome.reply_token.clear();
        return outcome;
      }
    principal = std::string(name.view());
    for (unsigned char c : principal)
      if (c < 0x20 || c == 0x7f)
        {
          outcome.problem = KerberosProblem::Other;
          outcome.error = "client principal `" + printable(principal) + "` contains control characters: refused";
          outcome.reply_token.clear();
          return outcome;
        }
  }

  std::vector<std::string> missing;
  if (!(flags & GSS_C_MUTUAL_FLAG))
    missing.push_back("mutual authentication");
  if (!(flags & GSS_C_CONF_FLAG))
    missing.push_back("confidentiality");
  if (!(flags & GSS_C_INTEG_FLAG))
    missing.push_back("integrity");
  // Without them gss_unwrap() cannot tell a replayed, reordered or dropped message (Windows asks for both).
  if (!(flags & GSS_C_REPLAY_FLAG))
    missing.push_back("replay detection");
  if (!(flags & GSS_C_SEQUENCE_FLAG))
    missing.push_back("sequence checking");
  if (!missing.empty() || outcome.reply_token.empty())
    {
      if (missing.empty())
        missing.push_back("a mutual authentication reply");
      outcome.problem = KerberosProblem::Other;
      outcome.error = "Kerberos context of " + principal + " lacks " + join(missing) +
                      ": the forwarder must request mutual authentication and message encryption";
      outcome.reply_token.clear();
      return outcome;
    }

  outcome.context = std::make_unique<GssSecurityContext>(std::move(ctx), scheme, principal);
  return outcome;
}

} // namespace

std::unique_ptr<KerberosAcceptor> KerberosAcceptor::load(const std::string &keytab, const std::string &principal,
                                                         std::string &error)
{
  if (keytab.empty())
    {
      error = "no keytab configured";
      return nullptr;
    }
  auto acceptor = std::make_unique<GssAcceptor>();
  acceptor->keytab_display_ = keytab;
  acceptor->ktname_ = keytab_name_for(keytab);

  std::string reason;
  if (!list_keytab(acceptor->ktname_, acceptor->entries_, reason))
    {
      error = "keytab " + keytab + " cannot be read: " + reason;
      return nullptr;
    }
  if (acceptor->entries_.empty())
    {
      error = "keytab " + keytab + " holds no keys";
      return nullptr;
    }

  GssName desired;
  if (!principal.empty())
    {
      Krb5Context ctx;
      if (krb5_error_code code = ctx.init())
        {
          error = "cannot initialise Kerberos (krb5.conf?): error " + std::to_string(code);
          return nullptr;
        }
      Krb5Principal parsed(ctx.get());
      if (krb5_error_code code = krb5_parse_name(ctx.get(), principal.c_str(), parsed.out()))
        {
          error = "principal " + principal + " is not a valid Kerberos name: " + krb5_message(ctx.get(), code);
          return nullptr;
        }
      acceptor->principal_ = unparse(ctx.get(), parsed.get());
      bool found = false;
      for (const auto &e : acceptor->entries_)
        if (e.principal == acceptor->principal_)
          found = true;
      if (!found)
        {
          error = "keytab " + keytab + " holds no key for principal " + acceptor->principal_ + " (it holds " +
                  join(distinct_principals(acceptor->entries_)) + ")";
          return nullptr;
        }
      gss_buffer_desc name_buf = {acceptor->principal_.size(), const_cast<char *>(acceptor->principal_.data())};
      OM_uint32 minor = 0;
      OM_uint32 major = gss_import_name(&minor, &name_buf, GSS_KRB5_NT_PRINCIPAL_NAME, desired.out());
      if (GSS_ERROR(major))
        {
          error = "principal " + principal + ": " + gss_text(major, minor);
          return nullptr;
        }
    }

  if (!acquire(acceptor->ktname_, desired.get(), &kKrb5Oid, acceptor->krb5_cred_, reason))
    {
      error = "keytab " + keytab + ": cannot acquire Kerberos acceptor credentials: " + reason;
      return nullptr;
    }
  if (!acquire(acceptor->ktname_, desired.get(), &kSpnegoOid, acceptor->spnego_cred_, reason))
    {
      error = "keytab " + keytab + ": cannot acquire SPNEGO acceptor credentials: " + reason;
      return nullptr;
    }
  // SPNEGO may negotiate Kerberos only (both OIDs: Windows lists Microsoft's first).
  gss_OID_desc neg[2] = {kKrb5MsOid, kKrb5Oid};
  gss_OID_set_desc neg_set = {2, neg};
  OM_uint32 minor = 0;
  OM_uint32 major = gss_set_neg_mechs(&minor, acceptor->spnego_cred_.get(), &neg_set);
  if (GSS_ERROR(major))
    {
      error = "keytab " + keytab + ": cannot restrict SPNEGO to Kerberos: " + gss_text(major, minor);
      return nullptr;
    }
  return acceptor;
}

std::vector<std::string> kerberos_identity_names(const std::string &principal)
{
  std::vector<std::string> names;
  auto add = [&names](const std::string &n) {
    if (!n.empty() && std::find(names.begin(), names.end(), n) == names.end())
      names.push_back(n);
  };
  auto lower = [](std::string s) {
    for (auto &c : s)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  add(principal);
  // The realm starts at the last unescaped '@'.
  std::size_t at = std::string::npos;
  for (std::size_t i = 0; i < principal.size(); ++i)
    {
      if (principal[i] == '\\')
        ++i;
      else if (principal[i] == '@')
        at = i;
    }
  const std::string name = principal.substr(0, at);
  const std::string realm = at == std::string::npos ? std::string() : principal.substr(at + 1);
  // Only a machine account ("NAME$@REALM") names a host: users and services never match a host glob.
  if (name.size() > 1 && name.back() == '$' && name.find_first_of("/\\") == std::string::npos && !realm.empty())
    add(lower(name.substr(0, name.size() - 1)) + "." + lower(realm));
  return names;
}

std::string base64_encode(std::string_view bytes)
{
  static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((bytes.size() + 2) / 3 * 4);
  const auto *p = reinterpret_cast<const unsigned char *>(bytes.data());
  std::size_t i = 0;
  for (; i + 3 <= bytes.size(); i += 3)
    {
      std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8) | p[i + 2];
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.push_back(alphabet[(v >> 6) & 63]);
      out.push_back(alphabet[v & 63]);
    }
  std::size_t rest = bytes.size() - i;
  if (rest == 1)
    {
      std::uint32_t v = p[i] << 16;
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.append("==");
    }
  else if (rest == 2)
    {
      std::uint32_t v = (p[i] << 16) | (p[i + 1] << 8);
      out.push_back(alphabet[(v >> 18) & 63]);
      out.push_back(alphabet[(v >> 12) & 63]);
      out.push_back(alphabet[(v >> 6) & 63]);
      out.push_back('=');
    }
  return out;
}

bool base64_decode(std::string_view text, std::string &bytes)
{
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!text.empty() && ws(text.front()))
    text.remove_prefix(1);
  while (!text.empty() && ws(text.back()))
    text.remove_suffix(1);
  bytes.clear();
  std::size_t padding = 0;
  while (!text.empty() && text.back() == '=' && padding < 3)
    {
      text.remove_suffix(1);
      ++padding;
    }
  if (padding > 2 || (padding && (text.size() + padding) % 4 != 0) || text.size() % 4 == 1)
    return false;
  bytes.reserve(text.size() * 3 / 4);
  std::uint32_t acc = 0;
  int bits = 0;
  for (char c : text)
    {
      int v;
      if (c >= 'A' && c <= 'Z')
        v = c - 'A';
      else if (c >= 'a' && c <= 'z')
        v = c - 'a' + 26;
      else if (c >= '0' && c <= '9')
        v = c - '0' + 52;
      else if (c == '+')
        v = 62;
      else if (c == '/')
        v = 63;
      else
        return false;
      acc = (acc << 6) | static_cast<std::uint32_t>(v);
      bits += 6;
      if (bits >= 8)
        {
          bits -= 8;
          bytes.push_back(static_cast<char>((acc >> bits) & 0xff));
        }
    }
  // Leftover bits must be zero (canonical encoding).
  if (bits > 0 && (acc & ((1u << bits) - 1)) != 0)
    return false;
  return true;
}

} // namespace wec::auth
