#include "auth/keytab.hpp"

#include <algorithm>
#include <cctype>

namespace wec::auth::detail {

namespace {

// Far more than any real keytab holds: bounds what a huge file can cost.
constexpr std::size_t kMaxKeytabEntries = 100000;

} // namespace

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

bool list_keytab(const std::string &name, std::vector<KeytabEntry> &entries, std::string &reason)
{
  entries.clear();
  Krb5Context ctx;
  if (!open_krb5(ctx, reason))
    return false;
  Krb5Keytab kt{CloseKrb5Keytab{ctx.get()}};
  if (krb5_error_code code = krb5_kt_resolve(ctx.get(), name.c_str(), kt.out()))
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
        entries.push_back({principal_text(ctx.get(), entry.principal), entry.vno, entry.key.enctype});
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

std::vector<std::string> distinct_principals(const std::vector<KeytabEntry> &entries)
{
  std::vector<std::string> names;
  for (const auto &e : entries)
    if (std::find(names.begin(), names.end(), e.principal) == names.end())
      names.push_back(e.principal);
  return names;
}

std::string enctype_name(krb5_enctype enctype)
{
  char buf[128];
  if (krb5_enctype_to_name(enctype, FALSE, buf, sizeof(buf)) == 0)
    return buf;
  return "enctype " + std::to_string(enctype);
}

bool open_krb5(Krb5Context &context, std::string &reason)
{
  if (krb5_error_code code = krb5_init_context(context.out()))
    {
      reason = "cannot initialise Kerberos (krb5.conf?): error " + std::to_string(code);
      return false;
    }
  return true;
}

std::string krb5_message(krb5_context context, krb5_error_code code)
{
  const char *msg = krb5_get_error_message(context, code);
  std::string text = msg ? msg : ("krb5 error " + std::to_string(code));
  if (msg)
    krb5_free_error_message(context, msg);
  return text;
}

std::string principal_text(krb5_context context, krb5_const_principal principal)
{
  char *name = nullptr;
  if (krb5_unparse_name(context, principal, &name) != 0 || !name)
    return "?";
  std::string text = name;
  krb5_free_unparsed_name(context, name);
  return text;
}

} // namespace wec::auth::detail
