// What the Kerberos unit tests against the real, throwaway MIT KDC on 127.0.0.1 (realm WEC.TEST)
// share: the KDC itself, the forwarder side with GSSAPI (raw krb5 mechanism and SPNEGO), acceptors
// loaded from its keytabs, the diagnosis names.
//
// The KDC is tests/kdc/loopback_kdc.py (test-kdc.hpp), the one the Python tests use. Including
// this header makes the executable's Criterion runner start it (report hook PRE_ALL) and stop it
// (POST_ALL): include it in one translation unit per executable (each tests/unit/test_*.cpp is
// one). Criterion re-executes the binary for every test, so the runner hands the KDC over through
// environment variables (WEC_TEST_KRB_DIR, KRB5_CONFIG, ...). KRB5_KTNAME and KRB5_CLIENT_KTNAME
// point to nonexistent files on purpose: the collector must not need them.
#pragma once

#include <criterion/criterion.h>
#include <criterion/hooks.h>

#include <gssapi/gssapi.h>
#include <gssapi/gssapi_ext.h>
#include <gssapi/gssapi_krb5.h>

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "auth/encrypted-mime.hpp"
#include "auth/kerberos.hpp"
#include "kerberos-fixtures.hpp"
#include "test-kdc.hpp"

namespace kerberos_fixtures {

using namespace wec::auth;
namespace fs = std::filesystem;

inline const char *problem_name(KerberosProblem p)
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
  cr_assert((actual) == (expected), "problem %s, want %s", kerberos_fixtures::problem_name(actual),                    \
            kerberos_fixtures::problem_name(expected))

// Every error line the tests provoke, printed once so that the log shows what an admin would see.
inline void show(const char *what, const std::string &line)
{
  std::fprintf(stderr, "[error line] %s: %s\n", what, line.c_str());
}

// ---------------------------------------------------------------------------------------------
// The throwaway KDC (runner process): tests/kdc/loopback_kdc.py, the harness of the Python tests

inline test_kdc::Kdc g_kdc;

inline bool start_kdc(std::string &error)
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

inline void stop_kdc()
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

inline gss_OID_desc kSpnegoOid = {6, const_cast<char *>("\x2b\x06\x01\x05\x05\x02")};

inline std::string gss_error(OM_uint32 major, OM_uint32 minor)
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

inline const OM_uint32 kWindowsFlags =
    GSS_C_MUTUAL_FLAG | GSS_C_CONF_FLAG | GSS_C_INTEG_FLAG | GSS_C_SEQUENCE_FLAG | GSS_C_REPLAY_FLAG;

inline std::string kdc_dir()
{
  const char *err = std::getenv("WEC_TEST_KDC_ERROR");
  if (err)
    cr_assert_fail("test KDC did not start: %s", err);
  const char *dir = std::getenv("WEC_TEST_KRB_DIR");
  if (!dir)
    cr_assert_fail("test KDC did not start (WEC_TEST_KRB_DIR unset)");
  return dir;
}

inline std::unique_ptr<KerberosAcceptor> load_or_fail(const std::string &keytab, const std::string &principal = "")
{
  std::string error;
  auto acceptor = KerberosAcceptor::load(keytab, principal, error);
  cr_assert(acceptor != nullptr, "load(%s): %s", keytab.c_str(), error.c_str());
  return acceptor;
}

} // namespace kerberos_fixtures

ReportHook(PRE_ALL)(struct criterion_test_set *set)
{
  (void) set;
  std::string error;
  if (!kerberos_fixtures::start_kdc(error))
    {
      std::fprintf(stderr, "test KDC: %s\n", error.c_str());
      setenv("WEC_TEST_KDC_ERROR", error.c_str(), 1);
      kerberos_fixtures::stop_kdc();
    }
}

ReportHook(POST_ALL)(struct criterion_global_stats *stats)
{
  (void) stats;
  kerberos_fixtures::stop_kdc();
}
