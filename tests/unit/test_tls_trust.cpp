// Unit tests for wec::auth::TlsTrust: pinned issuing CAs, chains built from loaded CAs only,
// and CRL checking with reloads. Each test builds its own small PKI with OpenSSL (EC P-256
// keys, fast) in a temporary directory: a root, an issuing CA, a sibling issuing CA under the
// same root, and client certificates.
#include <criterion/criterion.h>

#include "expect.hpp"
#include "test-pki.hpp"

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "auth/openssl-handles.hpp"
#include "auth/tls-trust.hpp"

using namespace wec::auth;
namespace fs = std::filesystem;

using namespace test_pki;

namespace {

struct Pki
{
  fs::path dir;
  Issued root, issuing, sibling, win01, win02, sibling_win01;

  Pki()
      : root(make_cert("Test Root CA", nullptr, true, 1)), issuing(make_cert("Test Issuing CA", &root, true, 2)),
        sibling(make_cert("Test Sibling CA", &root, true, 3)),
        win01(make_cert("win01.corp.example", &issuing, false, 101)),
        win02(make_cert("win02.corp.example", &issuing, false, 0x1A2B3C)),
        sibling_win01(make_cert("win01.corp.example", &sibling, false, 201))
  {
    char templ[] = "/tmp/wec-tls-trust-XXXXXX";
    cr_assert(mkdtemp(templ));
    dir = templ;
    fs::create_directories(dir / "ca.d");
    fs::create_directories(dir / "crl.d");
    write_file(dir / "ca.d" / "root.pem", pem_of(root.cert.get()));
    write_file(dir / "ca.d" / "issuing.pem", pem_of(issuing.cert.get()));
    write_file(dir / "sibling.pem", pem_of(sibling.cert.get()));
    write_file(dir / "issuing.pem", pem_of(issuing.cert.get()));
  }
  ~Pki() { fs::remove_all(dir); }

  TrustConfig config() const
  {
    TrustConfig c;
    c.ca_dir = (dir / "ca.d").string();
    return c;
  }

  void add_sibling_to_ca_dir() const { write_file(dir / "ca.d" / "sibling.pem", pem_of(sibling.cert.get())); }

  // crl.d/ with the root's CRL (revoking `root_revokes`) and the issuing CA's.
  void write_crls(const std::vector<long> &issuing_revokes, const std::vector<long> &root_revokes = {}) const
  {
    write_file(dir / "crl.d" / "root.crl", pem_of(make_crl(root, root_revokes).get()));
    write_file(dir / "crl.d" / "issuing.crl", pem_of(make_crl(issuing, issuing_revokes).get()));
  }
};

struct Log
{
  std::vector<std::string> lines;
  wec::LogFunction function()
  {
    return [this](wec::LogLevel, const std::string &message, const wec::LogTags &tags) {
      std::string line = message;
      for (const auto &tag : tags)
        line += std::string("; ") + tag.name + "='" + tag.value + "'";
      lines.push_back(line);
    };
  }
  std::size_t count(const std::string &needle) const
  {
    std::size_t n = 0;
    for (const auto &line : lines)
      n += line.find(needle) != std::string::npos;
    return n;
  }
};

std::unique_ptr<TlsTrust> load_ok(const TrustConfig &config, Log *log = nullptr)
{
  std::string error;
  auto trust = TlsTrust::load(config, log ? log->function() : nullptr, error);
  cr_assert(trust, "load failed: %s", error.c_str());
  return trust;
}

std::string load_error(const TrustConfig &config)
{
  std::string error;
  auto trust = TlsTrust::load(config, nullptr, error);
  cr_assert(!trust, "load succeeded");
  return error;
}

// Verifies a chain (leaf first); returns "" when accepted, else the reason.
std::string verdict(const TlsTrust &trust, const std::vector<const Issued *> &chain)
{
  std::vector<std::string> ders;
  for (const auto *c : chain)
    ders.push_back(der_of(c->cert.get()));
  std::vector<std::string_view> views(ders.begin(), ders.end());
  ClientIdentity identity;
  VerifyFailure failure;
  if (trust.verify_client(views, identity, failure))
    return "";
  cr_assert(!failure.hint.empty());
  return failure.reason + " | " + failure.hint;
}

std::string thumbprint(const Issued &ca) { return sha1_hex(ca.cert.get()); }

const auto kLater = std::chrono::hours(2); // past any crl-reload-interval() of these tests

} // namespace

Test(tls_trust, default_pins_are_the_cas_that_issued_no_other_loaded_ca)
{
  Pki pki;
  auto trust = load_ok(pki.config());
  cr_assert_eq(trust->issuer_thumbprints().size(), 1u);
  EXPECT_STR(trust->issuer_thumbprints()[0], thumbprint(pki.issuing));
  EXPECT_STR(verdict(*trust, {&pki.win01}), "");

  pki.add_sibling_to_ca_dir();
  auto both = load_ok(pki.config());
  cr_assert_eq(both->issuer_thumbprints().size(), 2u);
  EXPECT_STR(verdict(*both, {&pki.sibling_win01}), "");
}

Test(tls_trust, a_root_alone_is_its_own_issuing_ca)
{
  Pki pki;
  Issued direct = make_cert("direct.corp.example", &pki.root, false, 300);
  TrustConfig config;
  config.ca_file = (pki.dir / "ca.d" / "root.pem").string();
  auto trust = load_ok(config);
  cr_assert_eq(trust->issuer_thumbprints().size(), 1u);
  EXPECT_STR(trust->issuer_thumbprints()[0], thumbprint(pki.root));
  EXPECT_STR(verdict(*trust, {&direct}), "");
  // an intermediate under that root that the client sends along is still not trusted
  EXPECT_CONTAINS(verdict(*trust, {&pki.win01, &pki.issuing}), "unable to get local issuer certificate");
}

Test(tls_trust, a_sibling_ca_sent_by_the_client_is_never_trusted)
{
  Pki pki;
  auto trust = load_ok(pki.config());
  const std::string refused = verdict(*trust, {&pki.sibling_win01, &pki.sibling});
  EXPECT_CONTAINS(refused, "client certificate /CN=win01.corp.example (serial C9, issuer /CN=Test Sibling CA)");
  EXPECT_CONTAINS(refused, "unable to get local issuer certificate");
  EXPECT_CONTAINS(refused, "CA certificates that the client sends along are never trusted");
  // also when the client sends the whole chain, root included
  EXPECT_CONTAINS(verdict(*trust, {&pki.sibling_win01, &pki.sibling, &pki.root}), "unable to get local issuer");
}

Test(tls_trust, a_pin_refuses_other_loaded_issuing_cas)
{
  Pki pki;
  pki.add_sibling_to_ca_dir();
  TrustConfig config = pki.config();
  config.issuer_thumbprints = {thumbprint(pki.issuing)};
  auto trust = load_ok(config);
  cr_assert_eq(trust->issuer_thumbprints().size(), 1u);
  EXPECT_STR(trust->issuer_thumbprints()[0], thumbprint(pki.issuing));
  EXPECT_STR(verdict(*trust, {&pki.win01}), "");
  const std::string refused = verdict(*trust, {&pki.sibling_win01});
  EXPECT_CONTAINS(refused, "its issuing CA /CN=Test Sibling CA (thumbprint " + thumbprint(pki.sibling) +
                               ") is not a pinned issuing CA");
  EXPECT_CONTAINS(refused, "accepted issuing CAs: " + thumbprint(pki.issuing));
}

Test(tls_trust, a_pin_by_file_works_like_a_thumbprint)
{
  Pki pki;
  pki.add_sibling_to_ca_dir();
  TrustConfig config = pki.config();
  config.issuer_files = {(pki.dir / "sibling.pem").string()};
  auto trust = load_ok(config);
  cr_assert_eq(trust->issuer_thumbprints().size(), 1u);
  EXPECT_STR(trust->issuer_thumbprints()[0], thumbprint(pki.sibling));
  EXPECT_STR(verdict(*trust, {&pki.sibling_win01}), "");
  EXPECT_CONTAINS(verdict(*trust, {&pki.win01}), "is not a pinned issuing CA");
}

Test(tls_trust, pinning_the_root_admits_everything_below_it_and_warns)
{
  Pki pki;
  pki.add_sibling_to_ca_dir();
  TrustConfig config = pki.config();
  config.issuer_thumbprints = {thumbprint(pki.root)};
  Log log;
  auto trust = load_ok(config, &log);
  cr_assert_eq(log.count("a pinned issuing CA issued other loaded CAs"), 1u);
  EXPECT_STR(verdict(*trust, {&pki.win01}), "");
  EXPECT_STR(verdict(*trust, {&pki.sibling_win01}), "");
}

Test(tls_trust, pins_that_match_no_loaded_ca_fail_the_load)
{
  Pki pki;
  TrustConfig config = pki.config();
  config.issuer_thumbprints = {thumbprint(pki.sibling)}; // a real CA, but not loaded
  EXPECT_CONTAINS(load_error(config),
                  "issuer-thumbprints(\"" + thumbprint(pki.sibling) + "\") matches no CA in ca-file()/ca-dir()");
  config.issuer_thumbprints.clear();
  config.issuer_files = {(pki.dir / "sibling.pem").string()};
  EXPECT_CONTAINS(load_error(config),
                  "/CN=Test Sibling CA (thumbprint " + thumbprint(pki.sibling) + ") is not a CA in ca-file()/ca-dir()");
}

Test(tls_trust, thumbprints_are_normalised_or_refused)
{
  std::string out, error;
  cr_assert(normalise_thumbprint("ab:cd:ef:01:23:45:67:89:ab:cd:ef:01:23:45:67:89:ab:cd:ef:01", out, error));
  EXPECT_STR(out, "ABCDEF0123456789ABCDEF0123456789ABCDEF01");
  cr_assert(normalise_thumbprint("ab cd ef 01 23 45 67 89 ab cd ef 01 23 45 67 89 ab cd ef 01", out, error));
  EXPECT_STR(out, "ABCDEF0123456789ABCDEF0123456789ABCDEF01");
  cr_assert(!normalise_thumbprint("ABCDEF0123456789ABCDEF0123456789ABCDEF0", out, error));
  EXPECT_CONTAINS(error, "39 hexadecimal digits instead of 40");
  cr_assert(!normalise_thumbprint("\xE2\x80\x8E"
                                  "ABCDEF0123456789ABCDEF0123456789ABCDEF01",
                                  out, error));
  EXPECT_CONTAINS(error, "character 1 is not a hexadecimal digit (an invisible character");
  cr_assert(!normalise_thumbprint("ABCDEF0123456789ABCDEF0123456789ABCDEF0G", out, error));
  EXPECT_CONTAINS(error, "character 40 is not a hexadecimal digit");
}

Test(tls_trust, a_revoked_client_is_refused_with_serial_and_subject)
{
  Pki pki;
  pki.write_crls({0x1A2B3C});
  TrustConfig config = pki.config();
  config.crl_dir = (pki.dir / "crl.d").string();
  Log log;
  auto trust = load_ok(config, &log);
  cr_assert(trust->checks_revocation());
  cr_assert_eq(log.lines.size(), 0u, "%s", log.lines.empty() ? "" : log.lines[0].c_str());
  const std::string refused = verdict(*trust, {&pki.win02});
  EXPECT_CONTAINS(refused, "client certificate /CN=win02.corp.example (serial 1A2B3C, issuer /CN=Test Issuing CA) "
                           "rejected: certificate revoked");
  EXPECT_STR(verdict(*trust, {&pki.win01}), "");
}

Test(tls_trust, a_revoked_issuing_ca_refuses_its_clients)
{
  Pki pki;
  pki.write_crls({}, {2});
  TrustConfig config = pki.config();
  config.crl_dir = (pki.dir / "crl.d").string();
  auto trust = load_ok(config);
  const std::string refused = verdict(*trust, {&pki.win01});
  EXPECT_CONTAINS(refused, "rejected: certificate revoked (CA certificate /CN=Test Issuing CA, serial 02)");
}

Test(tls_trust, a_missing_or_expired_crl_refuses_the_client)
{
  Pki pki;
  // the issuing CA's CRL only: nothing from the root
  write_file(pki.dir / "only-issuing.crl", pem_of(make_crl(pki.issuing, {}).get()));
  TrustConfig config = pki.config();
  config.crl_file = (pki.dir / "only-issuing.crl").string();
  Log log;
  auto trust = load_ok(config, &log);
  cr_assert_eq(log.count("have no CRL: clients whose chain includes them are refused; cas='/CN=Test Root CA'"), 1u);
  const std::string missing = verdict(*trust, {&pki.win01});
  EXPECT_CONTAINS(missing, "unable to get certificate CRL (CA certificate /CN=Test Issuing CA");
  EXPECT_CONTAINS(missing, "no CRL from /CN=Test Root CA");

  write_file(pki.dir / "expired.crl",
             pem_of(make_crl(pki.root, {}).get()) + pem_of(make_crl(pki.issuing, {}, -3600).get()));
  config.crl_file = (pki.dir / "expired.crl").string();
  Log expired_log;
  auto expired = load_ok(config, &expired_log);
  cr_assert_eq(expired_log.count("CRL has expired"), 1u);
  EXPECT_CONTAINS(verdict(*expired, {&pki.win01}), "rejected: CRL has expired");
  // reported once, not at every check
  expired->refresh_revocation(std::chrono::steady_clock::now() + kLater);
  cr_assert_eq(expired_log.count("CRL has expired"), 1u);
}

Test(tls_trust, der_crls_are_read_and_rehash_links_count_once)
{
  Pki pki;
  unsigned char *der = nullptr;
  X509CrlPtr crl = make_crl(pki.issuing, {101});
  int len = i2d_X509_CRL(crl.get(), &der);
  write_file(pki.dir / "crl.d" / "issuing.crl",
             std::string(reinterpret_cast<char *>(der), static_cast<std::size_t>(len)));
  OPENSSL_free(der);
  write_file(pki.dir / "crl.d" / "root.crl", pem_of(make_crl(pki.root, {}).get()));
  fs::create_symlink("issuing.crl", pki.dir / "crl.d" / "0a1b2c3d.r0");
  TrustConfig config = pki.config();
  config.crl_dir = (pki.dir / "crl.d").string();
  auto trust = load_ok(config);
  EXPECT_CONTAINS(verdict(*trust, {&pki.win01}), "certificate revoked");
  EXPECT_STR(verdict(*trust, {&pki.win02}), "");
}

Test(tls_trust, bad_crls_fail_the_load)
{
  Pki pki;
  TrustConfig config = pki.config();
  config.crl_file = (pki.dir / "forged.crl").string();
  // the right issuer name, signed with another key
  write_file(pki.dir / "forged.crl", pem_of(make_crl(pki.issuing, {}, 30 * kDay, pki.sibling.key.get()).get()));
  EXPECT_CONTAINS(load_error(config), "names issuer /CN=Test Issuing CA but is not signed by that CA");
  write_file(pki.dir / "forged.crl", "not a CRL");
  EXPECT_CONTAINS(load_error(config), "forged.crl is neither a PEM nor a DER CRL");
  config.crl_file.clear();
  config.crl_dir = (pki.dir / "crl.d").string();
  EXPECT_CONTAINS(load_error(config), "no CRL found in crl-file()/crl-dir()");
}

Test(tls_trust, changed_crls_are_reloaded_and_a_broken_change_keeps_the_previous_ones)
{
  Pki pki;
  pki.write_crls({});
  TrustConfig config = pki.config();
  config.crl_dir = (pki.dir / "crl.d").string();
  Log log;
  auto trust = load_ok(config, &log);
  EXPECT_STR(verdict(*trust, {&pki.win02}), "");

  // not due yet: a change is only seen after crl-reload-interval()
  pki.write_crls({0x1A2B3C});
  trust->refresh_revocation(std::chrono::steady_clock::now());
  EXPECT_STR(verdict(*trust, {&pki.win02}), "");
  trust->refresh_revocation(std::chrono::steady_clock::now() + kLater);
  cr_assert_eq(log.count("CRLs reloaded"), 1u);
  EXPECT_CONTAINS(verdict(*trust, {&pki.win02}), "certificate revoked");

  // nothing changed: nothing re-read
  trust->refresh_revocation(std::chrono::steady_clock::now() + 2 * kLater);
  cr_assert_eq(log.count("CRLs reloaded"), 1u);

  // a broken replacement: one line, the previous CRLs stay, and it is not reported again
  write_file(pki.dir / "crl.d" / "issuing.crl", "-----BEGIN X509 CRL-----\nAAAA\n-----END X509 CRL-----\n");
  trust->refresh_revocation(std::chrono::steady_clock::now() + 3 * kLater);
  trust->refresh_revocation(std::chrono::steady_clock::now() + 4 * kLater);
  cr_assert_eq(log.count("changed CRL files not loaded, the previous CRLs stay in use"), 1u);
  EXPECT_CONTAINS(verdict(*trust, {&pki.win02}), "certificate revoked");
  EXPECT_STR(verdict(*trust, {&pki.win01}), "");

  // a file removed from crl-dir() is a change too: without the root's CRL the set still loads
  // (with a warning), and chains through the root are refused
  pki.write_crls({});
  fs::remove(pki.dir / "crl.d" / "root.crl");
  trust->refresh_revocation(std::chrono::steady_clock::now() + 5 * kLater);
  cr_assert_eq(log.count("CRLs reloaded"), 2u);
  cr_assert_eq(log.count("have no CRL: clients whose chain includes them are refused; cas='/CN=Test Root CA'"), 1u);
  EXPECT_CONTAINS(verdict(*trust, {&pki.win02}), "unable to get certificate CRL");
}
