// One configured subscription and what the forwarders see of it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace wec {

// What a forwarder sees of a subscription: the fields of its Subscribe envelope. The version
// (subscription_version()) is a hash of exactly these and of how the forwarder connects.
struct SubscriptionPolicy
{
  std::string name;
  bool rendered_text = false; // content-format(rendered-text)
  std::string locale;
  std::string data_locale;
  unsigned heartbeat_seconds = 900;
  unsigned retry_interval_seconds = 60;
  unsigned retry_count = 5;
  unsigned max_time_seconds = 30;
  std::optional<unsigned> max_elements;
  unsigned long max_envelope_size = 512000;
  bool read_existing_events = false;
  bool ignore_channel_error = true;
  std::string query; // <QueryList> XML
};

// One configured subscription: its policy and who gets it.
struct SubscriptionConfig : SubscriptionPolicy
{
  std::vector<std::string> computers; // globs with * and ?, matched case-insensitively
};

// Case-insensitive glob: '*' any run of characters, '?' exactly one.
bool glob_match(std::string_view pattern, std::string_view text);

// Does any computers() glob match one of the identity's names?
bool subscription_allows(const SubscriptionConfig &subscription, const std::vector<std::string> &identity_names);

// RFC 4122 version-5 (SHA-1, name-based) UUID in upper case, without "uuid:".
std::string name_based_uuid(std::string_view name_space, std::string_view name);

// The stable GUID that names a subscription in delivery URLs and e:Identifier.
std::string subscription_uuid(const SubscriptionConfig &subscription);

// m:Version: changes exactly when something the forwarder sees changes. `listener_view` adds
// what depends on how a client connects (delivery address, authentication profile, thumbprints).
std::string subscription_version(const SubscriptionPolicy &policy, std::string_view listener_view);

// Well-formed <QueryList> with at least one <Query>/<Select>? One-line reason otherwise.
bool validate_query(std::string_view query_xml, std::string &error);

} // namespace wec
