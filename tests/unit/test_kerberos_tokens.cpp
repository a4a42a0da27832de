// Unit tests for the tokens the Kerberos acceptor is given, against the loopback KDC
// (kerberos-kdc-fixtures.hpp): the SPNEGO a Windows client sends under "Negotiate" (and the bare
// Kerberos token some send there), the tokens refused (no mutual authentication, no replay or
// sequence detection, replayed, NTLM in every form, malformed, cut or flipped), concurrent accepts
// on one acceptor, and random damage that must never crash the DER walker or the acceptor.
#include <criterion/criterion.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "expect.hpp"
#include "kerberos-kdc-fixtures.hpp"

using namespace wec::auth;
using namespace kerberos_fixtures;

namespace {

// DER helpers to craft SPNEGO tokens.
std::string der(unsigned char tag, const std::string &content)
{
  std::string out(1, static_cast<char>(tag));
  if (content.size() < 0x80)
    out.push_back(static_cast<char>(content.size()));
  else
    {
      out.push_back(static_cast<char>(0x82));
      out.push_back(static_cast<char>((content.size() >> 8) & 0xff));
      out.push_back(static_cast<char>(content.size() & 0xff));
    }
  return out + content;
}

const std::string kOidSpnegoDer = der(0x06, "\x2b\x06\x01\x05\x05\x02");
const std::string kOidNtlmDer = der(0x06, std::string("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x0a", 10));
const std::string kOidKrb5Der = der(0x06, std::string("\x2a\x86\x48\x86\xf7\x12\x01\x02\x02", 9));
const std::string kNtlmNegotiate = std::string("NTLMSSP\0\x01\0\0\0\x97\x82\x08\xe2", 16) + std::string(16, '\0');

std::string neg_token_init(const std::string &mech_types, const std::string &mech_token)
{
  std::string fields = der(0xa0, der(0x30, mech_types));
  if (!mech_token.empty())
    fields += der(0xa2, der(0x04, mech_token));
  return der(0x60, kOidSpnegoDer + der(0xa0, der(0x30, fields)));
}

// Reads one DER TLV at `pos` (test-side, for the server's SPNEGO reply).
bool read_tlv(const std::string &in, std::size_t &pos, unsigned char &tag, std::string &content)
{
  if (pos + 2 > in.size())
    return false;
  tag = static_cast<unsigned char>(in[pos]);
  std::size_t len = static_cast<unsigned char>(in[pos + 1]);
  std::size_t at = pos + 2;
  if (len & 0x80)
    {
      std::size_t k = len & 0x7f;
      if (k == 0 || k > 3 || at + k > in.size())
        return false;
      len = 0;
      for (std::size_t i = 0; i < k; ++i)
        len = (len << 8) | static_cast<unsigned char>(in[at + i]);
      at += k;
    }
  if (at + len > in.size())
    return false;
  content = in.substr(at, len);
  pos = at + len;
  return true;
}

} // namespace

// =============================================================================================
// Tokens: what the acceptor takes and what it refuses

Test(acceptor, context_without_replay_or_sequence_detection_refused)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  for (OM_uint32 dropped : {GSS_C_REPLAY_FLAG, GSS_C_SEQUENCE_FLAG})
    {
      Client client;
      std::string token;
      cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags & ~dropped, token), "%s",
                client.error.c_str());
      AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
      cr_assert_null(out.context.get());
      EXPECT_CONTAINS(out.error, dropped == GSS_C_REPLAY_FLAG ? "replay detection" : "sequence checking");
      show("missing flag", out.error);
    }
}

Test(acceptor, no_mutual_authentication_refused)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG, token), "%s",
            client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::Other);
  EXPECT_CONTAINS(out.error, "WIN01$@WEC.TEST");
  EXPECT_CONTAINS(out.error, "mutual authentication");
  show("no mutual authentication", out.error);
}

Test(acceptor, replayed_token_refused)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome first = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert(first.context, "%s", first.error.c_str());
  AcceptOutcome again = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(again.context.get());
  EXPECT_PROBLEM(again.problem, KerberosProblem::Other);
  show("replayed token", again.error);
}

Test(acceptor, ntlm_refused)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  const std::string want =
      "Negotiate offered NTLM, which is refused: the forwarder must use Kerberos (is the collector's name in DNS and "
      "its SPN registered?)";

  // Raw NTLMSSP in a Negotiate header.
  AcceptOutcome out = acceptor->accept(AuthScheme::Negotiate, kNtlmNegotiate);
  EXPECT_PROBLEM(out.problem, KerberosProblem::NtlmRefused);
  EXPECT_STR(out.error, want);
  show("NTLM", out.error);
  // SPNEGO offering only NTLM, with an NTLM optimistic token.
  out = acceptor->accept(AuthScheme::Negotiate, neg_token_init(kOidNtlmDer, kNtlmNegotiate));
  EXPECT_PROBLEM(out.problem, KerberosProblem::NtlmRefused);
  EXPECT_STR(out.error, want);
  // SPNEGO with NTLM first and Kerberos second (no Kerberos token).
  out = acceptor->accept(AuthScheme::Negotiate, neg_token_init(kOidNtlmDer + kOidKrb5Der, ""));
  EXPECT_PROBLEM(out.problem, KerberosProblem::NtlmRefused);
  // SPNEGO offering only NTLM, no token.
  out = acceptor->accept(AuthScheme::Negotiate, neg_token_init(kOidNtlmDer, ""));
  EXPECT_PROBLEM(out.problem, KerberosProblem::NtlmRefused);
  // A NegTokenResp carrying NTLM (the second leg of an NTLM exchange).
  out = acceptor->accept(AuthScheme::Negotiate,
                         der(0xa1, der(0x30, der(0xa2, der(0x04, std::string("NTLMSSP\0\x03\0\0\0", 12))))));
  EXPECT_PROBLEM(out.problem, KerberosProblem::NtlmRefused);
}

Test(acceptor, malformed_tokens)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  for (const std::string &bad :
       {std::string(), std::string("garbage"), std::string(1000, '\0'), std::string("\x60\x84\xff\xff\xff\xff", 6),
        std::string("\x60\x80\x06\x00", 4), der(0x60, der(0x06, "\x2b\x06\x01\x05\x05\x02") + "\xa0\x05\x30\x03"),
        der(0x60, kOidKrb5Der + std::string("\x01\x00\x6e\x03\x30\x01", 6))})
    {
      for (AuthScheme scheme : {AuthScheme::Kerberos, AuthScheme::Negotiate})
        {
          AcceptOutcome out = acceptor->accept(scheme, bad);
          cr_assert_null(out.context.get());
          cr_assert(out.problem != KerberosProblem::None);
          cr_assert(!out.error.empty());
        }
    }
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, "garbage");
  EXPECT_PROBLEM(out.problem, KerberosProblem::MalformedToken);
  show("garbage token", out.error);

  // A real token cut at every length, and with bytes flipped: always a clean refusal.
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  for (std::size_t len = 0; len < token.size(); len += 7)
    {
      std::string cut = token.substr(0, len);
      cut.shrink_to_fit();
      AcceptOutcome o = acceptor->accept(AuthScheme::Kerberos, cut);
      cr_assert_null(o.context.get(), "truncated token at %zu accepted", len);
      cr_assert(!o.error.empty());
    }
  // The AP-REQ's ap-options and the ticket's sname/realm are not integrity protected (MIT ignores
  // unknown option bits and, accepting with any keytab key, does not need the name): a flip there
  // may legitimately be accepted. Anything from the ticket's ciphertext on must be refused.
  const std::size_t ap_options = token.find(std::string("\xa2\x07\x03\x05\x00", 5));
  cr_assert(ap_options != std::string::npos);
  const std::size_t ticket_cipher = token.find(std::string("\x04\x82", 2), ap_options);
  cr_assert(ticket_cipher != std::string::npos);
  for (std::size_t i = 0; i < token.size(); i += 3)
    {
      std::string flipped = token;
      flipped[i] = static_cast<char>(flipped[i] ^ 0x5a);
      AcceptOutcome o = acceptor->accept(AuthScheme::Kerberos, flipped);
      if (o.context)
        cr_assert(i > ap_options && i < ticket_cipher, "token with byte %zu flipped accepted", i);
      else
        cr_assert(!o.error.empty());
    }
  // A fresh token still works.
  Client fresh;
  cr_assert(fresh.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", fresh.error.c_str());
  out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert(out.context, "%s", out.error.c_str());
}

// What a Windows client sends under "Negotiate": SPNEGO listing Microsoft's Kerberos OID first,
// then Kerberos, NegoEx and NTLM, with an optimistic Kerberos token.
Test(acceptor, windows_shaped_spnego)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string krb_token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, krb_token), "%s", client.error.c_str());
  const std::string ms_krb5 = der(0x06, std::string("\x2a\x86\x48\x82\xf7\x12\x01\x02\x02", 9));
  const std::string negoex = der(0x06, std::string("\x2b\x06\x01\x04\x01\x82\x37\x02\x02\x1e", 10));
  const std::string spnego = neg_token_init(ms_krb5 + kOidKrb5Der + negoex + kOidNtlmDer, krb_token);

  AcceptOutcome out = acceptor->accept(AuthScheme::Negotiate, spnego);
  cr_assert(out.context, "accept: %s (%s)", out.error.c_str(), problem_name(out.problem));
  EXPECT_STR(out.context->client_principal(), "WIN01$@WEC.TEST");

  // NegTokenResp { negState accept-completed, supportedMech = what the client listed first, responseToken = AP-REP }
  std::size_t pos = 0;
  unsigned char tag;
  std::string resp, seq, field;
  cr_assert(read_tlv(out.reply_token, pos, tag, resp) && tag == 0xa1);
  pos = 0;
  cr_assert(read_tlv(resp, pos, tag, seq) && tag == 0x30);
  pos = 0;
  std::string ap_rep, supported;
  bool completed = false;
  while (read_tlv(seq, pos, tag, field))
    {
      std::size_t p2 = 0;
      unsigned char inner_tag;
      std::string inner;
      cr_assert(read_tlv(field, p2, inner_tag, inner));
      if (tag == 0xa0)
        completed = inner == std::string("\x00", 1);
      else if (tag == 0xa1)
        supported = der(0x06, inner);
      else if (tag == 0xa2)
        ap_rep = inner;
    }
  cr_assert(completed, "negState is not accept-completed");
  cr_assert(supported == ms_krb5, "supportedMech is not Microsoft's Kerberos OID");
  cr_assert(!ap_rep.empty());
  cr_assert(client.finish(ap_rep), "%s", client.error.c_str());

  const std::string plaintext = sample_plaintext(777);
  std::string body, header, decrypted, error;
  KerberosProblem problem;
  cr_assert(client.wrap_body(plaintext, body, header));
  cr_assert(out.context->unwrap(mime::content_type(mime::Protocol::Spnego), body, decrypted, error, problem), "%s",
            error.c_str());
  cr_assert(decrypted == plaintext);
  std::string response, ct, back;
  cr_assert(out.context->wrap(plaintext, kSoapType, response, ct, error), "%s", error.c_str());
  EXPECT_CONTAINS(ct, "application/HTTP-SPNEGO-session-encrypted");
  cr_assert(client.unwrap_body(ct, response, back), "%s", client.error.c_str());
  cr_assert(back == plaintext);
}

// Some clients send the bare Kerberos token under "Negotiate": accepted, the body protocol
// follows the HTTP scheme (SPNEGO).
Test(acceptor, raw_kerberos_under_negotiate)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Negotiate, token);
  cr_assert(out.context, "%s", out.error.c_str());
  cr_assert(out.context->scheme() == AuthScheme::Negotiate);
  cr_assert(client.finish(out.reply_token), "%s", client.error.c_str());
  std::string body, ct, back, error;
  cr_assert(out.context->wrap("x", kSoapType, body, ct, error));
  EXPECT_CONTAINS(ct, "HTTP-SPNEGO-session-encrypted");
  cr_assert(client.unwrap_body(ct, body, back), "%s", client.error.c_str());
  EXPECT_STR(back, "x");
}

// One acceptor, several listener threads.
Test(acceptor, concurrent_accepts)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  constexpr int kThreads = 4, kEach = 8;
  std::vector<std::unique_ptr<Client>> clients;
  std::vector<std::string> tokens;
  for (int i = 0; i < kThreads * kEach; ++i)
    {
      clients.push_back(std::make_unique<Client>());
      std::string token;
      cr_assert(clients.back()->start(i % 2 ? "HTTP@localhost" : "HOST@localhost", i % 3 ? gss_mech_krb5 : &kSpnegoOid,
                                      kWindowsFlags, token),
                "%s", clients.back()->error.c_str());
      tokens.push_back(token);
    }
  std::vector<AcceptOutcome> outcomes(tokens.size());
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int k = 0; k < kEach; ++k)
        {
          const int i = t * kEach + k;
          outcomes[i] = acceptor->accept(i % 3 ? AuthScheme::Kerberos : AuthScheme::Negotiate, tokens[i]);
        }
    });
  for (auto &th : threads)
    th.join();
  for (std::size_t i = 0; i < outcomes.size(); ++i)
    {
      cr_assert(outcomes[i].context, "token %zu: %s", i, outcomes[i].error.c_str());
      EXPECT_STR(outcomes[i].context->client_principal(), "WIN01$@WEC.TEST");
      cr_assert(clients[i]->finish(outcomes[i].reply_token), "%s", clients[i]->error.c_str());
    }
}

// Random damage to SPNEGO and Kerberos tokens: the DER walker and the acceptor never crash.
Test(acceptor, mutated_tokens_never_crash)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab");
  Client c1, c2;
  std::string spnego, krb;
  cr_assert(c1.start("HTTP@localhost", &kSpnegoOid, kWindowsFlags, spnego), "%s", c1.error.c_str());
  cr_assert(c2.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, krb), "%s", c2.error.c_str());
  std::uint32_t seed = 12345;
  auto rnd = [&seed] {
    seed = seed * 1664525u + 1013904223u;
    return seed >> 8;
  };
  int accepted = 0;
  for (int round = 0; round < 1500; ++round)
    {
      std::string t = round % 2 ? spnego : krb;
      const int edits = 1 + static_cast<int>(rnd() % 4);
      for (int e = 0; e < edits; ++e)
        {
          const std::size_t at = rnd() % t.size();
          switch (rnd() % 4)
            {
            case 0: t[at] = static_cast<char>(rnd()); break;
            case 1: t.resize(at + 1); break;
            case 2: t.insert(at, 1, static_cast<char>(0x80 | (rnd() & 0x7f))); break;
            default: t[at] = static_cast<char>(0x84); break; // a long-form length byte
            }
        }
      t.shrink_to_fit();
      for (AuthScheme scheme : {AuthScheme::Kerberos, AuthScheme::Negotiate})
        {
          AcceptOutcome o = acceptor->accept(scheme, t);
          if (o.context)
            ++accepted;
          else
            cr_assert(!o.error.empty() && o.problem != KerberosProblem::None);
        }
    }
  std::fprintf(stderr, "[fuzz] %d mutated tokens still accepted (damage outside the authenticated parts)\n", accepted);
}
