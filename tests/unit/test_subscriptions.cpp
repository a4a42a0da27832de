// Subscriptions: computers() globs, stable GUIDs, versions that change exactly with what
// forwarders see, query validation.
#include <criterion/criterion.h>

#include "expect.hpp"
#include "subscriptions/subscription.hpp"

#include <string>

using wec::SubscriptionConfig;

static SubscriptionConfig sample()
{
  SubscriptionConfig s;
  s.name = "security";
  s.computers = {"*.corp.example"};
  s.query = "<QueryList><Query Id='0'><Select Path='Security'>*</Select></Query></QueryList>";
  return s;
}

Test(glob, star_and_question_mark_case_insensitive)
{
  cr_assert(wec::glob_match("*.corp.example", "WIN01.Corp.Example"));
  cr_assert(wec::glob_match("win??.corp.example", "win01.corp.example"));
  cr_assert_not(wec::glob_match("win??.corp.example", "win001.corp.example"));
  cr_assert_not(wec::glob_match("*.corp.example", "win01.corp.example.evil"));
  cr_assert(wec::glob_match("*", ""));
  cr_assert(wec::glob_match("a*b*c", "aXXbYYbc"));
  cr_assert_not(wec::glob_match("a*b*c", "aXXbYYbd"));
  cr_assert(wec::glob_match("dc01.corp.example", "DC01.CORP.EXAMPLE"));
}

Test(glob, subscription_allows_any_identity_name)
{
  SubscriptionConfig s = sample();
  s.computers = {"dc*.corp.example", "exact.host"};
  cr_assert(wec::subscription_allows(s, {"dc7.corp.example"}));
  cr_assert(wec::subscription_allows(s, {"cn-does-not-match", "exact.host"}));
  cr_assert_not(wec::subscription_allows(s, {"web1.corp.example"}));
  cr_assert_not(wec::subscription_allows(s, {}));
}

Test(glob, principals_match_only_globs_with_a_realm)
{
  SubscriptionConfig s = sample();
  s.computers = {"*.corp.example"};
  cr_assert_not(wec::subscription_allows(s, {"alice@CHILD.CORP.EXAMPLE"}));
  cr_assert(wec::subscription_allows(s, {"WIN10$@CORP.EXAMPLE", "win10.corp.example", "WIN10$", "win10"}));
  s.computers = {"*$@CORP.EXAMPLE"};
  cr_assert(wec::subscription_allows(s, {"WIN10$@CORP.EXAMPLE", "win10.corp.example"}));
  cr_assert_not(wec::subscription_allows(s, {"alice@CORP.EXAMPLE"}));
}

Test(uuid, name_based_uuid_is_rfc4122_version_5)
{
  // RFC 4122 appendix B style check with the DNS namespace: uuid5(NAMESPACE_DNS, "python.org").
  EXPECT_STR(wec::name_based_uuid("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "python.org"),
             "886313E1-3B8A-5372-9B90-0C9AEE199E5D");
}

Test(version, stable_for_unchanged_subscription_and_changes_with_visible_options)
{
  SubscriptionConfig a = sample();
  SubscriptionConfig b = sample();
  EXPECT_STR(wec::subscription_version(a, "https://h:5986"), wec::subscription_version(b, "https://h:5986"));
  EXPECT_STR(wec::subscription_uuid(a), wec::subscription_uuid(b));

  const std::string base = wec::subscription_version(a, "https://h:5986");
  b.heartbeat_seconds = 60;
  EXPECT_STR_NE(base, wec::subscription_version(b, "https://h:5986"));
  b = sample();
  b.rendered_text = true;
  EXPECT_STR_NE(base, wec::subscription_version(b, "https://h:5986"));
  b = sample();
  b.query = "<QueryList><Query Id='0'><Select Path='System'>*</Select></Query></QueryList>";
  EXPECT_STR_NE(base, wec::subscription_version(b, "https://h:5986"));
  EXPECT_STR_NE(base, wec::subscription_version(a, "https://other:5986"));

  // computers() is not visible to a forwarder: the version stays.
  b = sample();
  b.computers = {"*"};
  EXPECT_STR(base, wec::subscription_version(b, "https://h:5986"));
}

Test(query, validation)
{
  std::string error;
  cr_assert(wec::validate_query(sample().query, error));
  cr_assert_not(wec::validate_query("<QueryList><Query>", error));
  cr_assert(error.find("not well-formed") != std::string::npos, "%s", error.c_str());
  cr_assert_not(wec::validate_query("<Query/>", error));
  cr_assert(error.find("<QueryList>") != std::string::npos);
  cr_assert_not(wec::validate_query("<QueryList><Query Id='0'/></QueryList>", error));
  cr_assert_not(wec::validate_query(
      "<!DOCTYPE QueryList [<!ENTITY x 'y'>]><QueryList><Query><Select>&x;</Select></Query></QueryList>", error));
  cr_assert(error.find("DTD not allowed") == 0, "%s", error.c_str());
  // The query goes through the same hardened parser as everything a client sends.
  std::string crowded = "<QueryList><Query Id='0'><Select Path='Security'";
  for (int i = 0; i < 65; ++i)
    crowded += " a" + std::to_string(i) + "='1'";
  cr_assert_not(wec::validate_query(crowded + ">*</Select></Query></QueryList>", error));
  cr_assert(error.find("more than 64 attributes on one element") == 0, "%s", error.c_str());
}
