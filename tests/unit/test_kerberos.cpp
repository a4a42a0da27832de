// Unit tests for wec::auth Kerberos: the multipart/encrypted framing (no KDC needed) and the
// GSSAPI acceptor against a real, throwaway MIT KDC on 127.0.0.1 (realm WEC.TEST). The test
// itself plays the Windows forwarder with GSSAPI (raw krb5 mechanism and SPNEGO).
//
// The KDC is tests/kdc/loopback_kdc.py (test-kdc.hpp), the one the Python tests use, started
// once by the runner process (Criterion report hook PRE_ALL) and stopped in POST_ALL; Criterion
// re-executes this binary for every test, so the runner hands the KDC over through environment
// variables (WEC_TEST_KRB_DIR, KRB5_CONFIG, ...). KRB5_KTNAME and KRB5_CLIENT_KTNAME point to
// nonexistent files on purpose: the collector must not need them.
#include <criterion/criterion.h>

#include "expect.hpp"
#include <criterion/hooks.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <thread>
#include <vector>

#include "auth/base64.hpp"
#include "auth/encrypted-mime.hpp"
#include "auth/kerberos.hpp"
#include "test-kdc.hpp"

using namespace wec::auth;
namespace fs = std::filesystem;

namespace {

const char *problem_name(KerberosProblem p)
{
  switch (p)
    {
    case KerberosProblem::None: return "None";
    case KerberosProblem::ClockSkew: return "ClockSkew";
    case KerberosProblem::PrincipalNotInKeytab: return "PrincipalNotInKeytab";
    case KerberosProblem::KeyVersionMismatch: return "KeyVersionMismatch";
    case KerberosProblem::EnctypeNotInKeytab: return "EnctypeNotInKeytab";
    case KerberosProblem::NtlmRefused: return "NtlmRefused";
    case KerberosProblem::MalformedToken: return "MalformedToken";
    case KerberosProblem::IntegrityFailure: return "IntegrityFailure";
    case KerberosProblem::Other: return "Other";
    }
  return "?";
}

#define EXPECT_PROBLEM(actual, expected)                                                                               \
  cr_assert((actual) == (expected), "problem %s, want %s", problem_name(actual), problem_name(expected))

// Every error line the tests provoke, printed once so that the log shows what an admin would see.
void show(const char *what, const std::string &line)
{
  std::fprintf(stderr, "[error line] %s: %s\n", what, line.c_str());
}

std::string le32(std::uint32_t v)
{
  std::string s(4, '\0');
  s[0] = static_cast<char>(v & 0xff);
  s[1] = static_cast<char>((v >> 8) & 0xff);
  s[2] = static_cast<char>((v >> 16) & 0xff);
  s[3] = static_cast<char>((v >> 24) & 0xff);
  return s;
}

const std::string kKrbContentType =
    "multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"Encrypted Boundary\"";
const std::string kSoapType = "application/soap+xml;charset=UTF-16";

// A body laid out by hand, the way Windows (indent "") or the spec/pywinrm (indent "\t") write it.
std::string hand_body(const std::string &indent, const std::string &boundary, std::size_t original_length,
                      const std::string &header, const std::string &cipher, const std::string &before_close = "")
{
  return "--" + boundary + "\r\n" + indent + "Content-Type: application/HTTP-Kerberos-session-encrypted\r\n" + indent +
         "OriginalContent: type=" + kSoapType + ";Length=" + std::to_string(original_length) + "\r\n--" + boundary +
         "\r\n" + indent + "Content-Type: application/octet-stream\r\n" +
         le32(static_cast<std::uint32_t>(header.size())) + header + cipher + before_close + "--" + boundary + "--\r\n";
}

// ---------------------------------------------------------------------------------------------
// Subprocesses with bounded waits

struct RunResult
{
  bool started = false;
  bool timed_out = false;
  int exit_code = -1;
  std::string output; // stdout + stderr
};

RunResult run(const std::vector<std::string> &argv, double timeout_s,
              const std::vector<std::pair<std::string, std::string>> &env = {}, bool merge_stderr = true)
{
  RunResult r;
  int fds[2];
  if (pipe(fds) != 0)
    return r;
  pid_t pid = fork();
  if (pid < 0)
    {
      close(fds[0]);
      close(fds[1]);
      return r;
    }
  if (pid == 0)
    {
      dup2(fds[1], 1);
      if (merge_stderr)
        dup2(fds[1], 2);
      else
        {
          int devnull = open("/dev/null", O_WRONLY);
          if (devnull >= 0)
            dup2(devnull, 2);
        }
      close(fds[0]);
      close(fds[1]);
      for (const auto &kv : env)
        setenv(kv.first.c_str(), kv.second.c_str(), 1);
      std::vector<char *> args;
      for (const auto &a : argv)
        args.push_back(const_cast<char *>(a.c_str()));
      args.push_back(nullptr);
      execv(args[0], args.data());
      _exit(127);
    }
  close(fds[1]);
  r.started = true;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  char buf[4096];
  for (;;)
    {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0)
        {
          r.timed_out = true;
          kill(pid, SIGKILL);
          break;
        }
      struct pollfd p = {fds[0], POLLIN, 0};
      int n = poll(&p, 1, static_cast<int>(left.count()));
      if (n <= 0)
        continue;
      ssize_t got = read(fds[0], buf, sizeof(buf));
      if (got <= 0)
        break;
      r.output.append(buf, static_cast<std::size_t>(got));
    }
  close(fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  if (WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  return r;
}

// ---------------------------------------------------------------------------------------------
// The throwaway KDC (runner process): tests/kdc/loopback_kdc.py, the harness of the Python tests

test_kdc::Kdc g_kdc;

bool start_kdc(std::string &error)
{
  char tmpl[] = "/tmp/wec-krb-test-XXXXXX";
  if (!mkdtemp(tmpl))
    {
      error = "mkdtemp failed";
      return false;
    }
  const std::string dir = tmpl;
  g_kdc.directory = dir;
  const std::vector<std::string> args = {
      // service.keytab: HTTP/localhost and HOST/localhost; clients/WIN01$.keytab: the forwarder.
      "--service",
      "HTTP/localhost",
      "--client",
      "WIN01$",
      "--keytab",
      "http-only.keytab=HTTP/localhost",
      // kvno: exported at kvno 1, then the KDC moves to kvno 2: the keytab is stale.
      "--stale-keytab",
      "kvno-old.keytab=HTTP/kvno.wec.test",
      // enctype: the KDC issues aes256 tickets, the keytab holds the aes128 key only.
      "--keytab",
      "etype-aes128.keytab=HTTP/etype.wec.test",
      "--keytab-enctypes",
      "etype-aes128.keytab=aes128-cts-hmac-sha1-96",
      // A keytab file with the version header and no entries.
      "--keytab",
      "empty.keytab=",
  };
  if (!test_kdc::start(g_kdc, dir, args, 120.0, error))
    return false;
  // For this process and, through the environment, for the test processes: KRB5_CONFIG,
  // KRB5_KDC_PROFILE, KRB5RCACHEDIR from the harness; no default keytab and no default ccache.
  for (const auto &kv : g_kdc.env)
    setenv(kv.first.c_str(), kv.second.c_str(), 1);
  setenv("KRB5CCNAME", "MEMORY:wec-test-default", 1);
  setenv("KRB5_KTNAME", "FILE:/nonexistent/wec-test-no-default.keytab", 1);
  setenv("KRB5_CLIENT_KTNAME", "FILE:/nonexistent/wec-test-no-default-client.keytab", 1);
  unsetenv("KRB5_TRACE");
  setenv("WEC_TEST_KRB_DIR", dir.c_str(), 1);
  return true;
}

void stop_kdc()
{
  test_kdc::stop(g_kdc);
  if (!g_kdc.directory.empty() && std::getenv("WEC_TEST_KEEP_KDC") == nullptr)
    {
      std::error_code ec;
      fs::remove_all(g_kdc.directory, ec);
    }
}

// ---------------------------------------------------------------------------------------------
// The forwarder side, with GSSAPI

gss_OID_desc kSpnegoOid = {6, const_cast<char *>("\x2b\x06\x01\x05\x05\x02")};

std::string gss_error(OM_uint32 major, OM_uint32 minor)
{
  std::string out;
  for (int pass = 0; pass < 2; ++pass)
    {
      OM_uint32 ctx = 0, m;
      do
        {
          gss_buffer_desc b{0, nullptr};
          if (GSS_ERROR(gss_display_status(&m, pass ? minor : major, pass ? GSS_C_MECH_CODE : GSS_C_GSS_CODE,
                                           GSS_C_NO_OID, &ctx, &b)))
            break;
          out.append(static_cast<char *>(b.value), b.length).append("; ");
          gss_release_buffer(&m, &b);
      } while (ctx);
    }
  return out;
}

struct Client
{
  gss_cred_id_t cred = GSS_C_NO_CREDENTIAL;
  gss_ctx_id_t ctx = GSS_C_NO_CONTEXT;
  gss_name_t target = GSS_C_NO_NAME;
  gss_OID mech = GSS_C_NO_OID;
  OM_uint32 flags = 0;
  std::string error;

  Client() = default;
  Client(const Client &) = delete;
  Client &operator=(const Client &) = delete;
  ~Client()
  {
    OM_uint32 m;
    if (ctx != GSS_C_NO_CONTEXT)
      gss_delete_sec_context(&m, &ctx, GSS_C_NO_BUFFER);
    if (cred != GSS_C_NO_CREDENTIAL)
      gss_release_cred(&m, &cred);
    if (target != GSS_C_NO_NAME)
      gss_release_name(&m, &target);
  }

  // Credentials of WIN01$ from its keytab into `ccache` (a unique MEMORY ccache by default).
  bool acquire(const std::string &ccache = "", bool with_keytab = true)
  {
    static int counter = 0;
    const std::string dir = std::getenv("WEC_TEST_KRB_DIR");
    const std::string client_keytab = dir + "/clients/WIN01$.keytab";
    const std::string cc =
        ccache.empty() ? "MEMORY:wec-client-" + std::to_string(getpid()) + "-" + std::to_string(++counter) : ccache;
    gss_key_value_element_desc elements[2] = {{"ccache", cc.c_str()}, {"client_keytab", client_keytab.c_str()}};
    gss_key_value_set_desc store = {with_keytab ? 2u : 1u, elements};
    gss_name_t name = GSS_C_NO_NAME;
    OM_uint32 minor = 0;
    gss_buffer_desc nb = {std::strlen("WIN01$@WEC.TEST"), const_cast<char *>("WIN01$@WEC.TEST")};
    OM_uint32 major = gss_import_name(&minor, &nb, GSS_KRB5_NT_PRINCIPAL_NAME, &name);
    if (GSS_ERROR(major))
      {
        error = "import client name: " + gss_error(major, minor);
        return false;
      }
    major = gss_acquire_cred_from(&minor, name, GSS_C_INDEFINITE, GSS_C_NO_OID_SET, GSS_C_INITIATE, &store, &cred,
                                  nullptr, nullptr);
    OM_uint32 m;
    gss_release_name(&m, &name);
    if (GSS_ERROR(major))
      {
        error = "client acquire_cred_from: " + gss_error(major, minor);
        return false;
      }
    return true;
  }

  // First token to `service` ("HTTP@localhost").
  bool start(const std::string &service, gss_OID mechanism, OM_uint32 req_flags, std::string &token)
  {
    if (cred == GSS_C_NO_CREDENTIAL && !acquire())
      return false;
    mech = mechanism;
    flags = req_flags;
    OM_uint32 minor = 0;
    gss_buffer_desc nb = {service.size(), const_cast<char *>(service.data())};
    OM_uint32 major = gss_import_name(&minor, &nb, GSS_C_NT_HOSTBASED_SERVICE, &target);
    if (GSS_ERROR(major))
      {
        error = "import target: " + gss_error(major, minor);
        return false;
      }
    gss_buffer_desc out{0, nullptr};
    major = gss_init_sec_context(&minor, cred, &ctx, target, mech, flags, 0, GSS_C_NO_CHANNEL_BINDINGS, GSS_C_NO_BUFFER,
                                 nullptr, &out, nullptr, nullptr);
    if (GSS_ERROR(major))
      {
        error = "init_sec_context: " + gss_error(major, minor);
        return false;
      }
    token.assign(static_cast<char *>(out.value), out.length);
    OM_uint32 m;
    gss_release_buffer(&m, &out);
    return true;
  }

  // Completes the context with the server's reply (the AP-REP, or SPNEGO's NegTokenResp).
  bool finish(const std::string &reply)
  {
    OM_uint32 minor = 0;
    gss_buffer_desc in = {reply.size(), const_cast<char *>(reply.data())};
    gss_buffer_desc out{0, nullptr};
    OM_uint32 ret_flags = 0;
    OM_uint32 major = gss_init_sec_context(&minor, cred, &ctx, target, mech, flags, 0, GSS_C_NO_CHANNEL_BINDINGS, &in,
                                           nullptr, &out, &ret_flags, nullptr);
    OM_uint32 m;
    gss_release_buffer(&m, &out);
    if (major != GSS_S_COMPLETE)
      {
        error = "completing with the reply: " + gss_error(major, minor);
        return false;
      }
    return true;
  }

  // A request body the way a forwarder writes it: wrap_iov(HEADER, DATA, PADDING), no tabs by
  // default (Windows' own framing).
  bool wrap_body(const std::string &plaintext, std::string &body, std::string &header_out,
                 const std::string &indent = "")
  {
    std::string data = plaintext;
    gss_iov_buffer_desc iov[3];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER | GSS_IOV_BUFFER_FLAG_ALLOCATE;
    iov[0].buffer = {0, nullptr};
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer = {data.size(), data.empty() ? nullptr : &data[0]};
    iov[2].type = GSS_IOV_BUFFER_TYPE_PADDING | GSS_IOV_BUFFER_FLAG_ALLOCATE;
    iov[2].buffer = {0, nullptr};
    OM_uint32 minor = 0;
    int conf = 0;
    OM_uint32 major = gss_wrap_iov(&minor, ctx, 1, GSS_C_QOP_DEFAULT, &conf, iov, 3);
    if (GSS_ERROR(major) || conf != 1)
      {
        error = "client wrap_iov: " + gss_error(major, minor);
        return false;
      }
    header_out.assign(static_cast<char *>(iov[0].buffer.value), iov[0].buffer.length);
    std::string padding(static_cast<char *>(iov[2].buffer.value), iov[2].buffer.length);
    OM_uint32 m;
    gss_release_iov_buffer(&m, iov, 3);
    body = hand_body(indent, "Encrypted Boundary", plaintext.size(), header_out, data + padding);
    return true;
  }

  // Decrypts a response body from the collector.
  bool unwrap_body(const std::string &content_type, const std::string &body, std::string &plaintext)
  {
    mime::EncryptedBody parts;
    mime::ParseError kind;
    if (!mime::parse(content_type, body, parts, error, kind))
      return false;
    std::string header(parts.token_header);
    plaintext.assign(parts.ciphertext.data(), parts.ciphertext.size());
    gss_iov_buffer_desc iov[2];
    iov[0].type = GSS_IOV_BUFFER_TYPE_HEADER;
    iov[0].buffer = {header.size(), &header[0]};
    iov[1].type = GSS_IOV_BUFFER_TYPE_DATA;
    iov[1].buffer = {plaintext.size(), plaintext.empty() ? nullptr : &plaintext[0]};
    int conf = 0;
    gss_qop_t qop = 0;
    OM_uint32 minor = 0;
    OM_uint32 major = gss_unwrap_iov(&minor, ctx, &conf, &qop, iov, 2);
    if (GSS_ERROR(major) || conf != 1)
      {
        error = "client unwrap_iov: " + gss_error(major, minor);
        return false;
      }
    plaintext.resize(iov[1].buffer.length);
    if (plaintext.size() != parts.original_length)
      {
        error = "client: length mismatch";
        return false;
      }
    return true;
  }
};

const OM_uint32 kWindowsFlags =
    GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG;

std::string kdc_dir()
{
  const char *err = std::getenv("WEC_TEST_KDC_ERROR");
  if (err)
    cr_assert_fail("test KDC did not start: %s", err);
  const char *dir = std::getenv("WEC_TEST_KRB_DIR");
  if (!dir)
    cr_assert_fail("test KDC did not start (WEC_TEST_KRB_DIR unset)");
  return dir;
}

std::unique_ptr<KerberosAcceptor> load_or_fail(const std::string &keytab, const std::string &principal = "")
{
  std::string error;
  auto acceptor = KerberosAcceptor::load(keytab, principal, error);
  cr_assert(acceptor != nullptr, "load(%s): %s", keytab.c_str(), error.c_str());
  return acceptor;
}

// A UTF-16LE-ish SOAP payload with every byte value in it.
std::string sample_plaintext(std::size_t size)
{
  std::string s = std::string("\xff\xfe", 2);
  for (std::size_t i = 0; s.size() < size; ++i)
    s.push_back(static_cast<char>((i * 131 + 7) & 0xff));
  s.resize(size);
  return s;
}

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

// Child mode for the clock skew test: this binary re-executed under libfaketime makes the
// client token from a ccache the parent filled, prints it as base64 and exits before Criterion.
__attribute__((constructor)) void skewed_client_mode()
{
  const char *ccache = std::getenv("WEC_TEST_SKEW_CCACHE");
  if (!ccache)
    return;
  Client client;
  std::string token;
  int rc = 1;
  if (client.acquire(ccache, false) && client.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, token))
    {
      std::printf("TOKEN:%s\n", base64_encode(token).c_str());
      rc = 0;
    }
  else
    std::printf("ERROR:%s\n", client.error.c_str());
  std::fflush(stdout);
  _exit(rc);
}

} // namespace

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
  (void) set;
  std::string error;
  if (!start_kdc(error))
    {
      std::fprintf(stderr, "test KDC: %s\n", error.c_str());
      setenv("WEC_TEST_KDC_ERROR", error.c_str(), 1);
      stop_kdc();
    }
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
  (void) stats;
  stop_kdc();
}

// =============================================================================================
// MIME framing (no KDC)

Test(mime, parses_windows_framing_without_tabs)
{
  const std::string header(60, 'H'), cipher = "0123456789";
  const std::string body = hand_body("", "Encrypted Boundary", 10, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind), "%s", error.c_str());
  cr_assert(parts.protocol == mime::Protocol::Kerberos);
  EXPECT_STR(std::string(parts.original_type), kSoapType);
  cr_assert_eq(parts.original_length, 10u);
  EXPECT_STR(std::string(parts.token_header), header);
  EXPECT_STR(std::string(parts.ciphertext), cipher);
}

Test(mime, parses_spec_framing_with_tabs_and_spnego)
{
  const std::string header(60, '\r'), cipher = "--Encrypted Boundary--\r\n"; // the ciphertext may look like anything
  std::string body = hand_body("\t", "Encrypted Boundary", cipher.size(), header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse("multipart/encrypted; protocol=\"application/HTTP-SPNEGO-session-encrypted\"; "
                        "boundary=\"Encrypted Boundary\"",
                        body, parts, error, kind),
            "%s", error.c_str());
  cr_assert(parts.protocol == mime::Protocol::Spnego);
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  EXPECT_STR(std::string(parts.token_header), header);
}

Test(mime, unquoted_and_other_boundaries)
{
  const std::string header(60, 'h'), cipher = "abc";
  const std::string body = hand_body("", "b0undary-XYZ", 3, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(
      mime::parse("Multipart/Encrypted;protocol=application/HTTP-Kerberos-session-encrypted;boundary=b0undary-XYZ",
                  body, parts, error, kind),
      "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  // The wrong boundary fails.
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  cr_assert(kind == mime::ParseError::Malformed);
}

Test(mime, tolerates_crlf_before_closing_boundary)
{
  const std::string header(60, 'h'), cipher = "abcdef";
  const std::string body = hand_body("\t", "Encrypted Boundary", 6, header, cipher, "\r\n");
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind), "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), cipher);
  // A ciphertext that itself ends in CRLF (length matches) keeps it.
  const std::string body2 = hand_body("", "Encrypted Boundary", 8, header, "abcdef\r\n");
  cr_assert(mime::parse(kKrbContentType, body2, parts, error, kind), "%s", error.c_str());
  EXPECT_STR(std::string(parts.ciphertext), "abcdef\r\n");
}

Test(mime, rejects_bad_content_types)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string body = hand_body("", "Encrypted Boundary", 3, std::string(60, 'h'), "abc");
  cr_assert_not(mime::parse("application/soap+xml;charset=UTF-16", body, parts, error, kind));
  cr_assert(kind == mime::ParseError::BadContentType);
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-CredSSP-session-encrypted\";boundary=x",
                            body, parts, error, kind));
  cr_assert(kind == mime::ParseError::BadContentType);
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\"", body, parts,
                            error, kind));
  cr_assert_not(mime::parse("multipart/encrypted;protocol=\"application/HTTP-Kerberos-session-encrypted\";boundary=\"x",
                            body, parts, error, kind));
  cr_assert(mime::is_encrypted_content_type(kKrbContentType));
  cr_assert_not(mime::is_encrypted_content_type("application/soap+xml;charset=UTF-16"));
}

Test(mime, every_truncation_fails_cleanly)
{
  const std::string header(60, 'h'), cipher(100, 'c');
  const std::string body = hand_body("\t", "Encrypted Boundary", 100, header, cipher);
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  cr_assert(mime::parse(kKrbContentType, body, parts, error, kind));
  // Cut anywhere before the closing boundary is complete: always a clean error, never a read
  // past the (copied, exactly sized) buffer. Cuts that remove only the final CRLF are accepted.
  for (std::size_t cut = 0; cut < body.size() - 2; ++cut)
    {
      std::string truncated = body.substr(0, cut);
      truncated.shrink_to_fit();
      bool ok = mime::parse(kKrbContentType, truncated, parts, error, kind);
      cr_assert_not(ok, "truncated at %zu of %zu was accepted", cut, body.size());
      cr_assert(kind == mime::ParseError::Malformed);
      cr_assert(!error.empty());
    }
}

Test(mime, huge_or_zero_header_length)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string prefix = "--Encrypted Boundary\r\n\tContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
                             "\tOriginalContent: type=application/soap+xml;charset=UTF-16;Length=3\r\n"
                             "--Encrypted Boundary\r\n\tContent-Type: application/octet-stream\r\n";
  const std::string tail = std::string(60, 'h') + "abc--Encrypted Boundary--\r\n";
  for (std::uint32_t bad : {0xffffffffu, 0x7fffffffu, 100000u, 4097u, 0u, 88u})
    {
      const std::string body = prefix + le32(bad) + tail;
      cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind), "header length %u accepted", bad);
      cr_assert(kind == mime::ParseError::Malformed);
    }
  cr_assert(mime::parse(kKrbContentType, prefix + le32(60) + tail, parts, error, kind), "%s", error.c_str());
}

Test(mime, missing_parts_and_bad_original_content)
{
  mime::EncryptedBody parts;
  mime::ParseError kind;
  std::string error;
  const std::string h(60, 'h');
  const std::string second = "--Encrypted Boundary\r\nContent-Type: application/octet-stream\r\n" + le32(60) + h +
                             "abc--Encrypted Boundary--\r\n";
  // No OriginalContent.
  std::string body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n" + second;
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  EXPECT_CONTAINS(error, "OriginalContent");
  // Length not a number / missing.
  for (const char *oc : {"type=application/soap+xml;Length=abc", "type=application/soap+xml",
                         "type=application/soap+xml;Length=", "type=x;Length=99999999999999999999"})
    {
      body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\nOriginalContent: " +
             std::string(oc) + "\r\n" + second;
      cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind), "accepted %s", oc);
    }
  // Second part not octet-stream.
  body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
         "OriginalContent: type=a;Length=3\r\n--Encrypted Boundary\r\nContent-Type: text/plain\r\n" +
         le32(60) + h + "abc--Encrypted Boundary--\r\n";
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  // Only the first part.
  body = "--Encrypted Boundary\r\nContent-Type: application/HTTP-Kerberos-session-encrypted\r\n"
         "OriginalContent: type=a;Length=3\r\n--Encrypted Boundary--\r\n";
  cr_assert_not(mime::parse(kKrbContentType, body, parts, error, kind));
  // Empty body.
  cr_assert_not(mime::parse(kKrbContentType, "", parts, error, kind));
  // Garbage.
  cr_assert_not(mime::parse(kKrbContentType, std::string(1000, '\0'), parts, error, kind));
}

Test(mime, frame_lays_out_the_body_like_the_specification)
{
  const std::string plaintext = "hello world";
  const std::string header(60, 'H'), padding = "";
  std::string body;
  mime::Layout l = mime::frame(body, mime::Protocol::Kerberos, kSoapType, plaintext, header.size(), 4);
  cr_assert_eq(l.total, body.size());
  body.replace(l.header_offset, header.size(), header);
  EXPECT_STR(body.substr(l.data_offset, plaintext.size()), plaintext);
  mime::shrink_padding(body, l, 0);
  EXPECT_STR(body, hand_body("\t", "Encrypted Boundary", plaintext.size(), header, plaintext));
  EXPECT_STR(mime::content_type(mime::Protocol::Kerberos), kKrbContentType);
  EXPECT_STR(
      mime::content_type(mime::Protocol::Spnego),
      "multipart/encrypted;protocol=\"application/HTTP-SPNEGO-session-encrypted\";boundary=\"Encrypted Boundary\"");
}

// =============================================================================================
// Helpers

Test(helpers, base64)
{
  EXPECT_STR(base64_encode(""), "");
  EXPECT_STR(base64_encode("f"), "Zg==");
  EXPECT_STR(base64_encode("fo"), "Zm8=");
  EXPECT_STR(base64_encode("foo"), "Zm9v");
  EXPECT_STR(base64_encode(std::string("\x60\x82\xff\x00", 4)), "YIL/AA==");
  std::string out;
  cr_assert(base64_decode("  Zm9vYg==\r\n", out));
  EXPECT_STR(out, "foob");
  cr_assert(base64_decode("YIL/AA==", out));
  EXPECT_STR(out, std::string("\x60\x82\xff\x00", 4));
  cr_assert(base64_decode("Zm8", out)); // unpadded is tolerated
  EXPECT_STR(out, "fo");
  cr_assert_not(base64_decode("Zm9v!A==", out));
  cr_assert_not(base64_decode("Zm 9v", out));
  cr_assert_not(base64_decode("Zm9vY", out));
  cr_assert_not(base64_decode("Zg===", out));
  cr_assert_not(base64_decode("Z=g=", out));
  cr_assert_not(base64_decode("Zh==", out)); // non-zero trailing bits
  const std::string all = sample_plaintext(1000);
  cr_assert(base64_decode(base64_encode(all), out));
  cr_assert(out == all);
}

Test(helpers, identity_names)
{
  auto names = kerberos_identity_names("WIN10$@CORP.EXAMPLE");
  cr_assert_eq(names.size(), 2u);
  EXPECT_STR(names[0], "WIN10$@CORP.EXAMPLE");
  EXPECT_STR(names[1], "win10.corp.example");
  // Users and services name no host: a glob without '@' ("srv*", "a*") never admits them.
  names = kerberos_identity_names("alice@CORP.EXAMPLE");
  cr_assert_eq(names.size(), 1u);
  EXPECT_STR(names[0], "alice@CORP.EXAMPLE");
  cr_assert_eq(kerberos_identity_names("HTTP/srv01.corp.example@CORP.EXAMPLE").size(), 1u);
}

// =============================================================================================
// Acceptor against the real KDC

Test(acceptor, loads_keytab_and_lists_entries)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/service.keytab"); // a plain path
  auto entries = acceptor->keytab_entries();
  cr_assert_eq(entries.size(), 4u); // two principals × aes256 + aes128
  bool http = false, host = false;
  for (const auto &e : entries)
    {
      std::fprintf(stderr, "[keytab] %s\n", e.c_str());
      http |= e == "HTTP/localhost@WEC.TEST (kvno 1, aes256-cts-hmac-sha1-96)";
      host |= e == "HOST/localhost@WEC.TEST (kvno 1, aes128-cts-hmac-sha1-96)";
    }
  cr_assert(http && host);
  load_or_fail("FILE:" + dir + "/service.keytab", "HTTP/localhost"); // realm defaulted
  load_or_fail(dir + "/service.keytab", "HOST/localhost@WEC.TEST");
}

Test(acceptor, load_errors)
{
  const std::string dir = kdc_dir();
  std::string error;
  cr_assert_null(KerberosAcceptor::load(dir + "/missing.keytab", "", error));
  EXPECT_CONTAINS(error, "keytab " + dir + "/missing.keytab cannot be read: ");
  show("missing keytab", error);

  cr_assert_null(KerberosAcceptor::load(dir + "/empty.keytab", "", error));
  EXPECT_STR(error, "keytab " + dir + "/empty.keytab holds no keys");
  show("empty keytab", error);

  cr_assert_null(KerberosAcceptor::load(dir + "/http-only.keytab", "HOST/localhost", error));
  EXPECT_STR(error, "keytab " + dir +
                        "/http-only.keytab holds no key for principal HOST/localhost@WEC.TEST (it holds "
                        "HTTP/localhost@WEC.TEST)");
  show("principal not in keytab at load", error);

  cr_assert_null(KerberosAcceptor::load(dir + "/krb5.conf", "", error)); // not a keytab
  EXPECT_CONTAINS(error, "cannot be read: ");
  show("not a keytab", error);

  cr_assert_null(KerberosAcceptor::load("", "", error));
}

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

Test(acceptor, kvno_mismatch)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/kvno-old.keytab"); // kvno 1; the KDC is at kvno 2
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@kvno.wec.test", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::KeyVersionMismatch);
  EXPECT_STR(out.error, "ticket for HTTP/kvno.wec.test@WEC.TEST has key version 2 but the keytab holds version 1: "
                        "re-export the keytab (ktpass/ktutil) after the password change");
  show("kvno mismatch", out.error);

  // Same through SPNEGO.
  Client client2;
  cr_assert(client2.start("HTTP@kvno.wec.test", &kSpnegoOid, kWindowsFlags, token), "%s", client2.error.c_str());
  out = acceptor->accept(AuthScheme::Negotiate, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::KeyVersionMismatch);
  EXPECT_CONTAINS(out.error, "has key version 2 but the keytab holds version 1");
  show("kvno mismatch (SPNEGO)", out.error);
}

Test(acceptor, enctype_not_in_keytab)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/etype-aes128.keytab");
  auto entries = acceptor->keytab_entries();
  cr_assert_eq(entries.size(), 1u);
  EXPECT_STR(entries[0], "HTTP/etype.wec.test@WEC.TEST (kvno 1, aes128-cts-hmac-sha1-96)");
  Client client;
  std::string token;
  cr_assert(client.start("HTTP@etype.wec.test", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::EnctypeNotInKeytab);
  EXPECT_CONTAINS(out.error, "ticket for HTTP/etype.wec.test@WEC.TEST is encrypted with aes256-cts-hmac-sha1-96 but "
                             "the keytab holds only aes128-cts-hmac-sha1-96 for it (kvno 1)");
  show("enctype not in keytab", out.error);
}

Test(acceptor, principal_not_in_keytab)
{
  const std::string dir = kdc_dir();
  auto acceptor = load_or_fail(dir + "/http-only.keytab");
  Client client;
  std::string token;
  cr_assert(client.start("HOST@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client.error.c_str());
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::PrincipalNotInKeytab);
  EXPECT_CONTAINS(out.error, "ticket is for service principal HOST/localhost@WEC.TEST, which keytab " + dir +
                                 "/http-only.keytab does not hold (it holds HTTP/localhost@WEC.TEST)");
  show("principal not in keytab", out.error);

  // A keytab that has it, but the collector is restricted to another principal.
  auto restricted = load_or_fail(dir + "/service.keytab", "HTTP/localhost");
  Client client2;
  cr_assert(client2.start("HOST@localhost", gss_mech_krb5, kWindowsFlags, token), "%s", client2.error.c_str());
  out = restricted->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::PrincipalNotInKeytab);
  EXPECT_CONTAINS(out.error, "HOST/localhost@WEC.TEST");
  EXPECT_CONTAINS(out.error, "accepts only HTTP/localhost@WEC.TEST");
  show("principal restricted", out.error);
}

Test(acceptor, clock_skew)
{
  const std::string dir = kdc_dir();
  const char *faketime = "/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1";
  if (access(faketime, R_OK) != 0)
    cr_skip_test("libfaketime not installed");
  // The parent fetches the service ticket at the real time into a file ccache; a child running
  // 15 minutes in the future (libfaketime) builds the AP-REQ from it without talking to the KDC.
  const std::string ccache = "FILE:" + dir + "/skew-" + std::to_string(getpid()) + ".ccache";
  {
    Client warm;
    cr_assert(warm.acquire(ccache), "%s", warm.error.c_str());
    std::string unused;
    cr_assert(warm.start("HTTP@localhost", gss_mech_krb5, kWindowsFlags, unused), "%s", warm.error.c_str());
  }
  char self[4096];
  ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
  cr_assert(n > 0);
  self[n] = '\0';
  RunResult r = run({self}, 30.0,
                    {{"WEC_TEST_SKEW_CCACHE", ccache},
                     {"LD_PRELOAD", faketime},
                     {"FAKETIME", "+15m"},
                     {"FAKETIME_DONT_FAKE_MONOTONIC", "1"}},
                    false);
  cr_assert(!r.timed_out, "skewed client timed out");
  const std::size_t at = r.output.find("TOKEN:");
  cr_assert(at != std::string::npos, "skewed client failed: %s", r.output.c_str());
  std::string token;
  std::size_t end = r.output.find('\n', at);
  cr_assert(base64_decode(r.output.substr(at + 6, end - at - 6), token));

  auto acceptor = load_or_fail(dir + "/service.keytab");
  AcceptOutcome out = acceptor->accept(AuthScheme::Kerberos, token);
  cr_assert_null(out.context.get());
  EXPECT_PROBLEM(out.problem, KerberosProblem::ClockSkew);
  EXPECT_CONTAINS(out.error, "clock skew too great between the forwarder and the collector (more than 5 minutes)");
  EXPECT_CONTAINS(out.error, "check time sync (NTP)");
  EXPECT_CONTAINS(out.error, "HTTP/localhost@WEC.TEST");
  show("clock skew", out.error);
  std::fprintf(stderr, "[info] reply token after the clock skew failure: %zu bytes (KRB-ERROR)\n",
               out.reply_token.size());
}

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

} // namespace

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

namespace {

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
