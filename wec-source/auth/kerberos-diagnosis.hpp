// Why a Kerberos authentication failed, in words an operator can act on: GSSAPI's status text,
// and for key errors a comparison of the ticket with the keytab as it is on disk now (principal,
// key version, encryption type). Internal to wec-source/auth.
#pragma once

#include "auth/kerberos.hpp"
#include "auth/kerberos-token.hpp"
#include "auth/keytab.hpp"

#include <gssapi/gssapi.h>

#include <string>

namespace wec::auth::detail {

// The most useful text of a GSSAPI status: the mechanism's (minor) message when there is one,
// else the GSSAPI one.
std::string gss_text(OM_uint32 major, OM_uint32 minor);

struct Diagnosis
{
  KerberosProblem problem = KerberosProblem::Other;
  std::string error; // one line: what failed and what to fix
};

// Explains a failed gss_accept_sec_context() of `token` against `keytab`.
Diagnosis diagnose_accept_failure(OM_uint32 major, OM_uint32 minor, const TokenInfo &token, const Keytab &keytab);

} // namespace wec::auth::detail
