// Unit tests for the Kerberos failures the collector diagnoses, against the loopback KDC
// (kerberos-kdc-fixtures.hpp): keytab loading and listing, missing, empty and foreign keytabs, a
// stale key version, an enctype the keytab lacks, a service principal it does not hold or that
// the collector does not accept, and clock skew (a client under libfaketime); each error line is
// printed once ("[error line]") so that the log shows what an admin would see.
#include <criterion/criterion.h>

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <utility>
#include <vector>

#include "auth/base64.hpp"
#include "expect.hpp"
#include "kerberos-kdc-fixtures.hpp"

using namespace wec::auth;
using namespace kerberos_fixtures;

namespace {

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

// =============================================================================================
// Keytabs and diagnosed failures

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
