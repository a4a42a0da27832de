// Unit tests for the Kerberos security context against the loopback KDC
// (kerberos-kdc-fixtures.hpp): the full exchange for the raw krb5 mechanism (HTTP/ and HOST/
// SPNs) and SPNEGO, message wrap and unwrap both ways in Windows' framing and the
// specification's, large bodies in place, and the bodies the context refuses (corrupted,
// inconsistent, replayed, out of order, not encrypted).
#include <criterion/criterion.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "expect.hpp"
#include "kerberos-kdc-fixtures.hpp"

using namespace wec::auth;
using namespace kerberos_fixtures;

namespace {

// Full round trip for one mechanism: accept, complete the client, request and response bodies.
void round_trip(AuthScheme scheme, gss_OID mech, const std::string &keytab, const std::string &service,
                const std::string &expect_protocol)
{
  auto acceptor = load_or_fail(keytab);
  Client client;
  std::string token;
  cr_assert(client.start(service, mech, kWindowsFlags, token), "%s", client.error.c_str());

  AcceptOutcome out = acceptor->accept(scheme, token);
  cr_assert(out.context != nullptr, "accept: %s (%s)", out.error.c_str(), problem_name(out.problem));
  EXPECT_PROBLEM(out.problem, KerberosProblem::None);
  EXPECT_STR(out.context->client_principal(), "WIN01$@WEC.TEST");
  cr_assert(out.context->scheme() == scheme);
  cr_assert(!out.reply_token.empty());
  if (scheme == AuthScheme::Kerberos)
    {
      // Raw krb5 mech: InitialContextToken with TOK_ID 02 00 and an AP-REP ([APPLICATION 15] = 0x6F).
      const std::string &r = out.reply_token;
      cr_assert(r.size() > 20 && static_cast<unsigned char>(r[0]) == 0x60);
      std::size_t at = r.find(std::string("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02\x02\x00\x6f", 12));
      cr_assert(at != std::string::npos, "reply token is not an AP-REP");
    }
  cr_assert(client.finish(out.reply_token), "%s", client.error.c_str());

  // Forwarder → collector, in Windows' framing (no tabs) and in the spec's (tabs).
  for (const char *indent : {"", "\t"})
    {
      const std::string plaintext = sample_plaintext(5000);
      std::string body, header;
      cr_assert(client.wrap_body(plaintext, body, header, indent), "%s", client.error.c_str());
      // The layout the reference describes: 60-byte header, TOK_ID 05 04, flags 0x06, EC 0, RRC 28.
      cr_assert_eq(header.size(), 60u);
      cr_assert_eq(static_cast<unsigned char>(header[0]), 0x05);
      cr_assert_eq(static_cast<unsigned char>(header[1]), 0x04);
      cr_assert_eq(static_cast<unsigned char>(header[2]), 0x06);
      cr_assert_eq(static_cast<unsigned char>(header[7]), 28);
      std::string content_type = kKrbContentType;
      if (scheme == AuthScheme::Negotiate)
        content_type = mime::content_type(mime::Protocol::Spnego);
      std::string decrypted, error;
      KerberosProblem problem = KerberosProblem::Other;
      cr_assert(out.context->unwrap(content_type, body, decrypted, error, problem), "unwrap: %s", error.c_str());
      EXPECT_PROBLEM(problem, KerberosProblem::None);
      cr_assert(decrypted == plaintext, "decrypted body differs");
    }

  // Collector → forwarder.
  const std::string response = sample_plaintext(3001);
  std::string body, content_type, error;
  cr_assert(out.context->wrap(response, kSoapType, body, content_type, error), "wrap: %s", error.c_str());
  EXPECT_STR(content_type, "multipart/encrypted;protocol=\"" + expect_protocol + "\";boundary=\"Encrypted Boundary\"");
  const std::string prefix = "--Encrypted Boundary\r\n\tContent-Type: " + expect_protocol +
                             "\r\n\tOriginalContent: type=application/soap+xml;charset=UTF-16;Length=3001\r\n"
                             "--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n";
  EXPECT_STR(body.substr(0, prefix.size()), prefix);
  const std::string header = body.substr(prefix.size() + 4, 60);
  EXPECT_STR(body.substr(prefix.size(), 4), std::string("\x3c\0\0\0", 4));
  cr_assert_eq(static_cast<unsigned char>(header[2]), 0x07, "server token flags 0x%02x",
               static_cast<unsigned char>(header[2]));
  cr_assert_eq(static_cast<unsigned char>(header[7]), 28);
  cr_assert_eq(body.size(), prefix.size() + 4 + 60 + 3001 + std::strlen("--Encrypted Boundary--\r\n"));
  EXPECT_STR(body.substr(body.size() - 24), "--Encrypted Boundary--\r\n");
  std::string back;
  cr_assert(client.unwrap_body(content_type, body, back), "%s", client.error.c_str());
  cr_assert(back == response, "client decrypted something else");

  // A second exchange on the same context (sequence numbers move on).
  std::string body2, header2, decrypted2;
  KerberosProblem problem2;
  cr_assert(client.wrap_body("second", body2, header2));
  cr_assert(out.context->unwrap(kKrbContentType, body2, decrypted2, error, problem2), "%s", error.c_str());
  EXPECT_STR(decrypted2, "second");
}

} // namespace

// =============================================================================================
// Security context: establishment and message wrap/unwrap

Test(acceptor, kerberos_round_trip)
{
  const std::string dir = kdc_dir();
  round_trip(AuthScheme::Kerberos, gss_mech_krb5, dir + "/service.keytab", "HTTP@localhost",
             "application/HTTP-Kerberos-session-encrypted");
}

Test(acceptor, kerberos_round_trip_host_spn)
{
  // Windows Server 2025 forwarders ask for HOST/<fqdn>: the same keytab serves it.
  const std::string dir = kdc_dir();
  round_trip(AuthScheme::Kerberos, gss_mech_krb5, dir + "/service.keytab", "HOST@localhost",
             "application/HTTP-Kerberos-session-encrypted");
}

Test(acceptor, spnego_round_trip)
{
  const std::string dir = kdc_dir();
  round_trip(AuthScheme::Negotiate, &kSpnegoOid, dir + "/service.keytab", "HTTP@localhost",
             "application/HTTP-SPNEGO-session-encrypted");
}

Test(acceptor, large_body_in_place)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/http-only.keytab", "HTTP/localhost@WEC.TEST");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert(out.context, "%s", out.error.c_str());
  cr_assert(client.finish(out.reply_token), "%s", client.error.c_str());
  const std::string plaintext = sample_plaintext(4 * 1024 * 1024);
  std::string body, header, decrypted, error;
  KerberosProblem problem;
  cr_assert(client.wrap_body(plaintext, body, header));
  auto t0 = std::chrono::steady_clock::now();
  const int rounds = 5;
  for (int i = 0; i < rounds; ++i)
    {
      std::string b, h;
      if (i)
        cr_assert(client.wrap_body(plaintext, b, h));
      cr_assert(out.context->unwrap(kKrbContentType, i ? b : body, decrypted, error, problem), "%s", error.c_str());
    }
  auto t1 = std::chrono::steady_clock::now();
  cr_assert(decrypted == plaintext);
  std::string response, ct;
  for (int i = 0; i < rounds; ++i)
    cr_assert(out.context->wrap(plaintext, kSoapType, response, ct, error), "%s", error.c_str());
  auto t2 = std::chrono::steady_clock::now();
  std::string back;
  cr_assert(client.unwrap_body(ct, response, back), "%s", client.error.c_str());
  cr_assert(back == plaintext);
  std::fprintf(stderr, "[perf] 4 MiB: client wrap + server unwrap %.1f ms/round, server wrap %.1f ms/round\n",
               std::chrono::duration<double, std::milli>(t1 - t0).count() / rounds,
               std::chrono::duration<double, std::milli>(t2 - t1).count() / rounds);
}

Test(acceptor, corrupted_and_inconsistent_bodies)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert(out.context, "%s", out.error.c_str());
  cr_assert(client.finish(out.reply_token));
  const std::string plaintext = sample_plaintext(2000);
  std::string body, header, decrypted, error;
  KerberosProblem problem;
  // A refused body leaves its sequence number unused: the next one is refused as following a gap,
  // and the context is back in step after it (the listener closes the connection instead).
  auto resync = [&]() {
    std::string filler;
    cr_assert(client.wrap_body("x", filler, header));
    if (!out.context->unwrap(kKrbContentType, filler, decrypted, error, problem))
      EXPECT_CONTAINS(error, "gap");
  };

  // One flipped ciphertext byte.
  cr_assert(client.wrap_body(plaintext, body, header));
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  const std::size_t cipher_at = body.size() - std::strlen("--Encrypted Boundary--\r\n") - 1000;
  body[cipher_at] = static_cast<char>(body[cipher_at] ^ 0x01);
  cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  EXPECT_CONTAINS(error, "WIN01$@WEC.TEST");
  show("flipped ciphertext byte", error);

  // A flipped header byte (in the checksum carried by RRC).
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  const std::size_t header_at = body.find(header);
  body[header_at + 50] = static_cast<char>(body[header_at + 50] ^ 0x80);
  cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);

  // OriginalContent says something else than what was encrypted.
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  {
    const std::string from = "Length=2000", to = "Length=1999";
    body.replace(body.find(from), from.size(), to);
    cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
    EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
    EXPECT_CONTAINS(error, "OriginalContent length 1999 does not match the decrypted length 2000");
    show("OriginalContent mismatch", error);
  }
  // Claims more than there is.
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  body.replace(body.find("Length=2000"), 11, "Length=2001");
  cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  show("OriginalContent longer than the ciphertext", error);

  // Truncated ciphertext (closing boundary kept): the length does not fit, then it does not decrypt.
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  {
    std::string cut = body;
    cut.erase(cipher_at, 10);
    cr_assert_not(out.context->unwrap(kKrbContentType, cut, decrypted, error, problem));
    EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  }
  // Body cut short anywhere: a clean MalformedToken / IntegrityFailure, never a crash.
  for (std::size_t len = 0; len < body.size(); len += 97)
    {
      std::string cut = body.substr(0, len);
      cr_assert_not(out.context->unwrap(kKrbContentType, cut, decrypted, error, problem));
      cr_assert(problem == KerberosProblem::MalformedToken || problem == KerberosProblem::IntegrityFailure);
    }
  // Huge header length in a real body.
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  {
    std::string bad = body;
    bad.replace(header_at - 4, 4, le32(0xfffffff0u));
    cr_assert_not(out.context->unwrap(kKrbContentType, bad, decrypted, error, problem));
    EXPECT_PROBLEM(problem, KerberosProblem::MalformedToken);
    show("huge header length", error);
  }
  // Replay of an already accepted body is refused (sequence/replay detection).
  resync();
  cr_assert(client.wrap_body(plaintext, body, header));
  cr_assert(out.context->unwrap(kKrbContentType, body, decrypted, error, problem), "%s", error.c_str());
  cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  show("replayed body", error);
  // The context still works afterwards.
  resync();
  cr_assert(client.wrap_body("after", body, header));
  cr_assert(out.context->unwrap(kKrbContentType, body, decrypted, error, problem), "%s", error.c_str());
  EXPECT_STR(decrypted, "after");

  // Out of order: a message after a gap, then the skipped (now old) one, are both refused.
  std::string first, second;
  cr_assert(client.wrap_body("first", first, header));
  cr_assert(client.wrap_body("second", second, header));
  cr_assert_not(out.context->unwrap(kKrbContentType, second, decrypted, error, problem));
  EXPECT_CONTAINS(error, "gap");
  show("message after a gap", error);
  cr_assert_not(out.context->unwrap(kKrbContentType, first, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  show("older message", error);
}

Test(acceptor, integrity_only_token_refused)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert(out.context, "%s", out.error.c_str());
  cr_assert(client.finish(out.reply_token));
  // conf_req = 0: a signed but not sealed wrap token in the same framing.
  std::string data = "not secret";
  gss_iov_buffer_desc iov[3];
  iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE;
  iov[0].buffer = {0, nullptr};
  iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
  iov[1].buffer = {data.size(), &data[0]};
  iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE;
  iov[2].buffer = {0, nullptr};
  OM_uint32 minor;
  int conf = -1;
  cr_assert(!GSS_ERROR(gss_wrap_iov(&minor, client.ctx, 0, GSS_C_QOP_DEFAULT, &conf, iov, 3)));
  cr_assert_eq(conf, 0);
  std::string header(static_cast<char *>(iov[0].buffer.value), iov[0].buffer.length);
  gss_release_iov_buffer(&minor, iov, 3);
  std::string body = hand_body("", "Encrypted Boundary", data.size(), header, data);
  std::string decrypted, error;
  KerberosProblem problem;
  cr_assert_not(out.context->unwrap(kKrbContentType, body, decrypted, error, problem));
  EXPECT_PROBLEM(problem, KerberosProblem::IntegrityFailure);
  EXPECT_CONTAINS(error, "not encrypted");
  show("integrity-only body", error);
}
