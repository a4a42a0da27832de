// The GSSAPI security context of one authenticated connection: the WS-Management message
// encryption of its bodies both ways. Internal to wec-source/auth.
#pragma once

#include "auth/kerberos-handles.hpp"
#include "auth/kerberos.hpp"

#include <memory>
#include <string>

namespace wec::auth::detail {

// `context` is fully established, with integrity, confidentiality, replay and sequence detection.
std::unique_ptr<SecurityContext> make_security_context(GssContext context, AuthScheme scheme, std::string principal);

} // namespace wec::auth::detail
