// One HTTP request as the collector sees it, and its response: no server types in here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "auth/identity.hpp"

namespace wec::http {

using auth::auth_method_name;
using auth::AuthMethod; // how the client proved who it is

struct Request
{
  std::uint64_t id = 0; // to answer later with Listener::answer()
  std::string method;
  std::string path;
  std::string content_type;
  std::string content_encoding;
  std::string peer; // "address:port"
  AuthMethod auth_method = AuthMethod::Certificate;
  std::string identity;                    // certificate CN or Kerberos principal; empty: not authenticated
  std::vector<std::string> identity_names; // what computers() matches: CN and DNS SANs, or principal and host name
  std::string body;
};

struct Response
{
  unsigned status = 200;
  std::string content_type;
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

} // namespace wec::http
