// Who a client is, as an authenticator established it. Plain data without library types: the
// listener hands it on with each request and the collector matches it against computers().
#pragma once

#include <string>
#include <vector>

namespace wec::auth {

// How a client proved who it is: identities of different methods never share state.
enum class AuthMethod
{
  Certificate,
  Kerberos,
};

inline const char *auth_method_name(AuthMethod method)
{
  return method == AuthMethod::Kerberos ? "kerberos" : "certificate";
}

struct Identity
{
  std::string name;                     // certificate CN or Kerberos client principal; empty: not authenticated
  std::vector<std::string> match_names; // what computers() matches: CN and DNS SANs, or principal and host name
};

} // namespace wec::auth
