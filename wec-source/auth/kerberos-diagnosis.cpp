#include "auth/kerberos-diagnosis.hpp"

#include "core/text.hpp"

#include <algorithm>
#include <cctype>
#include <set>
#include <utility>
#include <vector>

namespace wec::auth::detail {

namespace {

// Appends every message GSSAPI has for one status code, "; "-separated.
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
  } while (context != 0 && ++rounds < 8);
}

bool contains_ci(std::string_view hay, std::string_view needle)
{
  if (needle.size() > hay.size())
    return false;
  for (std::size_t i = 0; i + needle.size() <= hay.size(); ++i)
    {
      std::size_t j = 0;
      while (j < needle.size() && std::tolower(static_cast<unsigned char>(hay[i + j])) ==
                                      std::tolower(static_cast<unsigned char>(needle[j])))
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
    std::string reason;
    if (!open_krb5(ctx, reason))
      return t;
    for (krb5_error_code c : {KRB5KRB_AP_ERR_SKEW, KRB5KRB_AP_ERR_TKT_NYV, KRB5KRB_AP_ERR_TKT_EXPIRED,
                              KRB5KRB_AP_ERR_REPEAT, KRB5KRB_AP_ERR_BADKEYVER, KRB5KRB_AP_ERR_NOKEY,
                              KRB5KRB_AP_ERR_NOT_US, KRB5KRB_AP_WRONG_PRINC, KRB5_KT_NOTFOUND, KRB5_KT_KVNONOTFOUND,
                              KRB5KRB_AP_ERR_BAD_INTEGRITY, KRB5KRB_AP_ERR_MODIFIED, KRB5_BAD_ENCTYPE})
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

} // namespace

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

Diagnosis diagnose_accept_failure(OM_uint32 major, OM_uint32 minor, const TokenInfo &token, const Keytab &keytab)
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
      if (!list_keytab(keytab.name, entries, reason))
        entries = keytab.entries;
      if (diagnose_keys(token.ticket, entries, keytab.display, keytab.principal, d))
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
          d.error = "service principal not in keytab " + keytab.display + for_principal + ": " + text +
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

} // namespace wec::auth::detail
