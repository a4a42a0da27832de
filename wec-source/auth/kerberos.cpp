#include "auth/kerberos.hpp"

#include "auth/kerberos-diagnosis.hpp"
#include "auth/kerberos-handles.hpp"
#include "auth/kerberos-token.hpp"
#include "auth/keytab.hpp"
#include "auth/security-context.hpp"
#include "core/text.hpp"

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <utility>

namespace wec::auth {

using namespace detail;

namespace {

const char *const kNtlmRefused =
    "Negotiate offered NTLM, which is refused: the forwarder must use Kerberos (is the collector's name in DNS "
    "and its SPN registered?)";

// GSSAPI takes OIDs as mutable descriptors; it never writes through them.
gss_OID_desc oid_desc(std::string_view oid)
{
  return {static_cast<OM_uint32>(oid.size()), const_cast<char *>(oid.data())};
}

gss_OID_desc kKrb5Oid = oid_desc(kOidKrb5);
gss_OID_desc kKrb5MsOid = oid_desc(kOidKrb5Ms);
gss_OID_desc kSpnegoOid = oid_desc(kOidSpnego);

// Acceptor credentials for one mechanism, from this keytab rather than the process-wide default.
bool acquire(const std::string &ktname, gss_name_t name, gss_OID mech, GssCred &cred, std::string &error)
{
  gss_key_value_element_desc element = {"keytab", ktname.c_str()};
  gss_key_value_set_desc store = {1, &element};
  gss_OID_set_desc mechs = {1, mech};
  OM_uint32 minor = 0;
  OM_uint32 major =
      gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, &mechs, GSS_C_ACCEPT, &store, cred.out(), nullptr, nullptr);
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

  Keytab keytab_;
  GssCred krb5_cred_;
  GssCred spnego_cred_;
};

std::vector<std::string> GssAcceptor::keytab_entries() const
{
  std::vector<std::string> out;
  out.reserve(keytab_.entries.size());
  for (const auto &e : keytab_.entries)
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
    case TokenKind::Krb5: cred = krb5_cred_.get(); break;
    case TokenKind::Spnego: cred = spnego_cred_.get(); break;
    case TokenKind::SpnegoResp:
      outcome.problem = KerberosProblem::MalformedToken;
      outcome.error = std::string(scheme_name) +
                      " continuation token without a negotiation in progress (only one-step Kerberos is supported)";
      return outcome;
    default:
      outcome.problem = KerberosProblem::MalformedToken;
      outcome.error =
          std::string("the ") + scheme_name + " authorization token is neither a GSSAPI Kerberos nor a SPNEGO token";
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
      Diagnosis d = diagnose_accept_failure(major, minor, info, keytab_);
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
        outcome.error =
            "cannot read the client principal of an authenticated Kerberos context: " + gss_text(name_major, m);
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

  outcome.context = make_security_context(std::move(ctx), scheme, principal);
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
  Keytab &keys = acceptor->keytab_;
  keys.display = keytab;
  keys.name = keytab_name_for(keytab);

  std::string reason;
  if (!list_keytab(keys.name, keys.entries, reason))
    {
      error = "keytab " + keytab + " cannot be read: " + reason;
      return nullptr;
    }
  if (keys.entries.empty())
    {
      error = "keytab " + keytab + " holds no keys";
      return nullptr;
    }

  GssName desired;
  if (!principal.empty())
    {
      Krb5Context ctx;
      if (!open_krb5(ctx, error))
        return nullptr;
      Krb5Principal parsed{FreeKrb5Principal{ctx.get()}};
      if (krb5_error_code code = krb5_parse_name(ctx.get(), principal.c_str(), parsed.out()))
        {
          error = "principal " + principal + " is not a valid Kerberos name: " + krb5_message(ctx.get(), code);
          return nullptr;
        }
      keys.principal = principal_text(ctx.get(), parsed.get());
      const auto principals = distinct_principals(keys.entries);
      if (std::find(principals.begin(), principals.end(), keys.principal) == principals.end())
        {
          error = "keytab " + keytab + " holds no key for principal " + keys.principal + " (it holds " +
                  join(principals) + ")";
          return nullptr;
        }
      gss_buffer_desc name_buf = {keys.principal.size(), const_cast<char *>(keys.principal.data())};
      OM_uint32 minor = 0;
      OM_uint32 major = gss_import_name(&minor, &name_buf, GSS_KRB5_NT_PRINCIPAL_NAME, desired.out());
      if (GSS_ERROR(major))
        {
          error = "principal " + principal + ": " + gss_text(major, minor);
          return nullptr;
        }
    }

  if (!acquire(keys.name, desired.get(), &kKrb5Oid, acceptor->krb5_cred_, reason))
    {
      error = "keytab " + keytab + ": cannot acquire Kerberos acceptor credentials: " + reason;
      return nullptr;
    }
  if (!acquire(keys.name, desired.get(), &kSpnegoOid, acceptor->spnego_cred_, reason))
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

} // namespace wec::auth
