// One HTTP request as the collector sees it, and its response: no server types in here.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace wec::http {

struct Request
{
  std::uint64_t id = 0;          // to answer later with Listener::answer()
  std::string method;
  std::string path;
  std::string content_type;
  std::string content_encoding;
  std::string peer;              // "address:port"
  std::string identity;          // certificate CN, empty on plain HTTP
  std::vector<std::string> identity_names; // CN and DNS subjectAltNames
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
