// The keytab as the Kerberos acceptor sees it: its entries, listed with krb5 for the startup log
// and for explaining failures, and the krb5 text helpers that go with them. Internal to
// wec-source/auth.
#pragma once

#include "auth/kerberos-handles.hpp"

#include <krb5.h>

#include <string>
#include <vector>

namespace wec::auth::detail {

struct KeytabEntry
{
  std::string principal; // "HTTP/wec.corp.example@CORP.EXAMPLE"
  krb5_kvno kvno = 0;
  krb5_enctype enctype = 0;
};

// The keys an acceptor works with.
struct Keytab
{
  std::string display;              // as configured, for messages
  std::string name;                 // "TYPE:residual", for krb5 and GSSAPI
  std::string principal;            // principal() option, canonical; empty: any principal in the keytab
  std::vector<KeytabEntry> entries; // as listed at startup
};

// "FILE:/etc/wec.keytab" and "MEMORY:x" as they are; a plain path (a drive letter included) gets "FILE:".
std::string keytab_name_for(const std::string &keytab);

// Lists every entry (at most 100,000). An empty keytab lists nothing and succeeds.
bool list_keytab(const std::string &name, std::vector<KeytabEntry> &entries, std::string &reason);

// Each principal once, in keytab order.
std::vector<std::string> distinct_principals(const std::vector<KeytabEntry> &entries);

// "aes256-cts-hmac-sha1-96", or "enctype 99" for one krb5 does not know.
std::string enctype_name(krb5_enctype enctype);

// A fresh krb5 context; fails with the reason (usually a broken krb5.conf).
bool open_krb5(Krb5Context &context, std::string &reason);

// The library's message for an error code.
std::string krb5_message(krb5_context context, krb5_error_code code);

// "HTTP/wec.corp.example@CORP.EXAMPLE", or "?" when krb5 cannot write the name.
std::string principal_text(krb5_context context, krb5_const_principal principal);

} // namespace wec::auth::detail
