#include "bookmarks/redis-options.hpp"

#include "bookmarks/redis-connection.hpp"

#include <cstdlib>

namespace wec {

std::string RedisAddress::text() const
{
  const bool ipv6 = host.find(':') != std::string::npos;
  return (ipv6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::optional<RedisAddress> RedisAddress::parse(const std::string &text)
{
  const std::size_t colon = text.rfind(':');
  if (colon == std::string::npos)
    return std::nullopt;
  RedisAddress parsed;
  parsed.host = text.substr(0, colon);
  if (parsed.host.size() >= 2 && parsed.host.front() == '[' && parsed.host.back() == ']')
    parsed.host = parsed.host.substr(1, parsed.host.size() - 2);
  const std::string port = text.substr(colon + 1);
  char *end = nullptr;
  const long number = port.empty() ? 0 : std::strtol(port.c_str(), &end, 10);
  parsed.port = end && *end == '\0' && number >= 1 && number <= 65535 ? static_cast<int>(number) : 0;
  if (parsed.host.empty() || parsed.port == 0 || parsed.host.find_first_of("[]") != std::string::npos)
    return std::nullopt;
  return parsed;
}

bool RedisOptions::add_sentinel(const std::string &address, std::string &error)
{
  const std::optional<RedisAddress> parsed = RedisAddress::parse(address);
  if (!parsed)
    {
      error = "windowsevent(): redis(sentinels(\"" + address +
              "\")) is not \"host:port\" (a Sentinel's address, e.g. \"10.0.0.1:26379\")";
      return false;
    }
  sentinels.push_back(*parsed);
  return true;
}

bool RedisOptions::check(std::string &error) const
{
  if (host.empty() && sentinels.empty())
    error = "windowsevent(): redis() needs host(\"...\") for one Redis, or sentinels(\"host:port\" ...) with "
            "master-name(\"...\") for Redis Sentinel";
  else if (!host.empty() && !sentinels.empty())
    error = "windowsevent(): redis() takes host() or sentinels(), not both: with Sentinel the master's address "
            "comes from the Sentinels";
  else if (!sentinels.empty() && master_name.empty())
    error = "windowsevent(): redis(sentinels(...)) needs master-name(\"...\"): the name the Sentinels monitor";
  else if (sentinels.empty() && !master_name.empty())
    error = "windowsevent(): redis(master-name()) needs sentinels(\"host:port\" ...)";
  else if (!sentinels.empty() && port != 0)
    error = "windowsevent(): redis(port()) is the port of host(); with sentinels() the Sentinels name the master's "
            "address";
  else if (!username.empty() && password.empty())
    error = "windowsevent(): redis(username()) needs password()";
  else if (key_prefix.empty())
    error = "windowsevent(): redis(key-prefix(\"\")) must not be empty: the machines' keys would mix with others";
  else if (tls && !RedisConnection::tls_supported())
    error = "windowsevent(): redis(tls()) needs hiredis 1.0 or newer, this build uses hiredis " +
            RedisConnection::library_version() +
            ": reach Redis over a private network or through a TLS tunnel (stunnel), see docs/configuration.md";
  else if (tls && tls_cert_file.empty() != tls_key_file.empty())
    error = "windowsevent(): redis(tls()) needs cert-file() and key-file() together, or neither";
  return error.empty();
}

std::string RedisOptions::describe() const
{
  if (sentinels.empty())
    return RedisAddress{host, host_port()}.text();
  std::string list;
  for (const auto &sentinel : sentinels)
    list += (list.empty() ? "" : ",") + sentinel.text();
  return "master " + master_name + " of sentinels " + list;
}

} // namespace wec
