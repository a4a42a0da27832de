#include "tls-trust.hpp"

#include "auth/crl-files.hpp"
#include "auth/openssl-handles.hpp"
#include "core/text.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>

namespace wec::auth {

namespace {

std::vector<X509Ptr> certificates_in_pem(std::string_view pem)
{
  std::vector<X509Ptr> certs;
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certs.emplace_back(cert);
  ERR_clear_error(); // the loop ends on a "no start line" error
  return certs;
}

std::string to_pem(X509 *cert)
{
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char *data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

bool contains(const std::vector<std::string> &list, const std::string &item)
{
  return std::find(list.begin(), list.end(), item) != list.end();
}

bool issued_another(const X509 *candidate, const std::vector<X509Ptr> &cas)
{
  for (const auto &other : cas)
    if (other.get() != candidate && X509_check_issued(const_cast<X509 *>(candidate), other.get()) == X509_V_OK)
      return true;
  return false;
}

const X509 *ca_with_thumbprint(const std::vector<X509Ptr> &cas, const std::string &thumbprint)
{
  for (const auto &ca : cas)
    if (sha1_hex(ca.get()) == thumbprint)
      return ca.get();
  return nullptr;
}

bool crl_expired(const X509_CRL *crl)
{
  const ASN1_TIME *next = X509_CRL_get0_nextUpdate(crl);
  return next && X509_cmp_current_time(next) < 0;
}

// Every CRL must be signed by the loaded CA whose subject is the CRL's issuer. A CRL from an
// issuer that is not loaded is useless but harmless: it is reported, not refused.
bool check_crl_signatures(const std::vector<X509Ptr> &cas, const std::vector<LoadedCrl> &crls,
                          std::vector<std::string> &unused, std::string &error)
{
  for (const auto &entry : crls)
    {
      const X509_NAME *issuer = X509_CRL_get_issuer(entry.crl.get());
      bool named = false, signed_by_it = false;
      for (const auto &ca : cas)
        if (X509_NAME_cmp(X509_get_subject_name(ca.get()), issuer) == 0)
          {
            named = true;
            if (X509_CRL_verify(entry.crl.get(), X509_get0_pubkey(ca.get())) == 1)
              signed_by_it = true;
          }
      ERR_clear_error();
      if (!named)
        unused.push_back(name_text(issuer) + " (" + entry.path + ")");
      else if (!signed_by_it)
        {
          error = "the CRL in " + entry.path + " names issuer " + name_text(issuer) +
                  " but is not signed by that CA in ca-file()/ca-dir()";
          return false;
        }
    }
  return true;
}

X509StorePtr build_store(const std::vector<X509Ptr> &cas, const std::vector<LoadedCrl> &crls, bool revocation)
{
  X509StorePtr store(X509_STORE_new());
  for (const auto &ca : cas)
    X509_STORE_add_cert(store.get(), ca.get());
  for (const auto &entry : crls)
    X509_STORE_add_crl(store.get(), entry.crl.get());
  if (revocation)
    X509_STORE_set_flags(store.get(), X509_V_FLAG_CRL_CHECK | X509_V_FLAG_CRL_CHECK_ALL);
  return store;
}

// The one-line explanation of a failed chain verification, about the certificate it concerns.
VerifyFailure describe_failure(X509_STORE_CTX *ctx, X509 *leaf, const std::string &about_leaf, bool sent_cas)
{
  const int code = X509_STORE_CTX_get_error(ctx);
  const int depth = X509_STORE_CTX_get_error_depth(ctx);
  X509 *current = X509_STORE_CTX_get_current_cert(ctx);
  if (!current)
    current = leaf;
  VerifyFailure failure;
  failure.reason = about_leaf + " rejected: " + X509_verify_cert_error_string(code);
  if (depth > 0 && current != leaf)
    failure.reason +=
        " (CA certificate " + name_text(X509_get_subject_name(current)) + ", serial " + serial_hex(current) + ")";
  const std::string issuer = name_text(X509_get_issuer_name(current));
  switch (code)
    {
    case X509_V_ERR_CERT_REVOKED:
      failure.hint = "the certificate is on the CRL of " + issuer +
                     " (crl-file()/crl-dir()); the machine needs a "
                     "new certificate";
      break;
    case X509_V_ERR_UNABLE_TO_GET_CRL:
      failure.hint = "crl-file()/crl-dir() holds no CRL from " + issuer +
                     ": with revocation checking on, every CA "
                     "of the chain, the root included, needs its current CRL there";
      break;
    case X509_V_ERR_CRL_HAS_EXPIRED:
      failure.hint = "the CRL from " + issuer +
                     " has passed its nextUpdate: place the CA's current CRL in "
                     "crl-file()/crl-dir() (changed files are re-read within crl-reload-interval())";
      break;
    case X509_V_ERR_CRL_NOT_YET_VALID:
      failure.hint = "the CRL from " + issuer + " starts in the future: check the collector's clock";
      break;
    case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
      failure.hint =
          "the issuer " + issuer + " is not a CA in ca-file()/ca-dir()" +
          (sent_cas ? std::string("; CA certificates that the client sends along are never trusted") : std::string());
      break;
    default: failure.hint = "the forwarder's certificate must be valid and issued by a CA in ca-file()/ca-dir()"; break;
    }
  return failure;
}

} // namespace

struct TlsTrust::State
{
  LogFunction log;
  std::vector<X509Ptr> cas;
  CrlFiles crl_files;
  std::vector<LoadedCrl> crls;
  X509StorePtr store;
  std::chrono::seconds reload_interval{60};
  std::chrono::steady_clock::time_point next_check{};
  std::vector<const X509_CRL *> expiry_reported; // CRLs in use whose expiry was logged

  explicit State(const TrustConfig &config) : crl_files(config.crl_file, config.crl_dir) {}

  bool revocation() const { return crl_files.configured(); }

  // After every (re)load: what an operator should know about the CRL set.
  void report_crl_coverage(const std::vector<std::string> &unused)
  {
    if (!unused.empty())
      log(LogLevel::Warning, "windowsevent: CRL from an issuer that is not in ca-file()/ca-dir(), not used",
          {{"crls", join(unused)}});
    std::vector<std::string> uncovered;
    for (const auto &ca : cas)
      {
        bool covered = false;
        for (const auto &entry : crls)
          covered =
              covered || X509_NAME_cmp(X509_get_subject_name(ca.get()), X509_CRL_get_issuer(entry.crl.get())) == 0;
        if (!covered)
          uncovered.push_back(name_text(X509_get_subject_name(ca.get())));
      }
    if (!uncovered.empty())
      log(LogLevel::Warning,
          "windowsevent: revocation checking is on, but these CAs have no CRL: clients whose "
          "chain includes them are refused",
          {{"cas", join(uncovered, "; ")},
           {"hint", "add each CA's CRL, the root's included, to crl-file()/crl-dir()"}});
    report_expired_crls();
  }

  void report_expired_crls()
  {
    for (const auto &entry : crls)
      if (crl_expired(entry.crl.get()) &&
          std::find(expiry_reported.begin(), expiry_reported.end(), entry.crl.get()) == expiry_reported.end())
        {
          expiry_reported.push_back(entry.crl.get());
          log(LogLevel::Warning,
              "windowsevent: CRL has expired: clients of its CA are refused until a current CRL "
              "replaces it",
              {{"issuer", name_text(X509_CRL_get_issuer(entry.crl.get()))},
               {"next_update", time_text(X509_CRL_get0_nextUpdate(entry.crl.get()))},
               {"file", entry.path}});
        }
  }
};

TlsTrust::TlsTrust() = default;
TlsTrust::~TlsTrust() = default;

std::unique_ptr<TlsTrust> TlsTrust::load(const TrustConfig &config, LogFunction log, std::string &error)
{
  std::unique_ptr<TlsTrust> trust(new TlsTrust());
  trust->state_ = std::make_unique<State>(config);
  State &state = *trust->state_;
  state.log = log ? std::move(log) : [](LogLevel, const std::string &, const LogTags &) {};
  state.reload_interval = std::chrono::seconds(std::max(1u, config.crl_reload_interval_seconds));

  std::vector<std::string> files;
  if (!config.ca_file.empty())
    files.push_back(config.ca_file);
  if (!config.ca_dir.empty())
    {
      std::vector<std::string> listed;
      if (!list_directory(config.ca_dir, listed, error))
        {
          error = "ca-dir(): " + error;
          return nullptr;
        }
      files.insert(files.end(), listed.begin(), listed.end());
    }

  std::vector<std::string> seen;
  for (const auto &path : files)
    {
      std::string pem;
      if (!read_file(path, pem, error))
        return nullptr;
      for (auto &cert : certificates_in_pem(pem))
        {
          std::string thumbprint = sha1_hex(cert.get());
          if (contains(seen, thumbprint))
            continue; // hash-named symlinks point at the same certificates
          seen.push_back(thumbprint);
          trust->trusted_pem_ += to_pem(cert.get());
          state.cas.push_back(std::move(cert));
        }
    }
  if (state.cas.empty())
    {
      error = "no CA certificate found in ca-file()/ca-dir(): client certificates cannot be verified";
      return nullptr;
    }

  // The pinned issuing CAs, in configuration order.
  std::vector<std::string> &pinned = trust->issuer_thumbprints_;
  for (const auto &thumbprint : config.issuer_thumbprints)
    {
      if (!ca_with_thumbprint(state.cas, thumbprint))
        {
          error = "issuer-thumbprints(\"" + thumbprint +
                  "\") matches no CA in ca-file()/ca-dir(): put the issuing "
                  "CA's certificate there, or correct the thumbprint (SHA-1 of the issuing CA's certificate)";
          return nullptr;
        }
      if (!contains(pinned, thumbprint))
        pinned.push_back(thumbprint);
    }
  for (const auto &path : config.issuer_files)
    {
      std::string pem;
      if (!read_file(path, pem, error))
        {
          error = "issuer-file(): " + error;
          return nullptr;
        }
      auto certs = certificates_in_pem(pem);
      if (certs.empty())
        {
          error = "issuer-file(\"" + path + "\") holds no PEM certificate";
          return nullptr;
        }
      for (const auto &cert : certs)
        {
          std::string thumbprint = sha1_hex(cert.get());
          if (!ca_with_thumbprint(state.cas, thumbprint))
            {
              error = "issuer-file(\"" + path + "\"): " + name_text(X509_get_subject_name(cert.get())) +
                      " (thumbprint " + thumbprint + ") is not a CA in ca-file()/ca-dir(): put it there too";
              return nullptr;
            }
          if (!contains(pinned, thumbprint))
            pinned.push_back(thumbprint);
        }
    }
  if (pinned.empty())
    {
      // Not configured: the CAs that issue end-entity certificates, those that signed no other
      // loaded CA (an intermediate rather than its root).
      for (const auto &ca : state.cas)
        if (!issued_another(ca.get(), state.cas))
          pinned.push_back(sha1_hex(ca.get()));
    }
  else
    {
      for (const auto &thumbprint : pinned)
        {
          const X509 *ca = ca_with_thumbprint(state.cas, thumbprint);
          if (issued_another(ca, state.cas))
            state.log(LogLevel::Warning,
                      "windowsevent: a pinned issuing CA issued other loaded CAs: clients of every CA below it are "
                      "accepted, and Windows looks for certificates issued directly by it",
                      {{"ca", name_text(X509_get_subject_name(ca))},
                       {"thumbprint", thumbprint},
                       {"hint", "pin the issuing CA itself, not its root"}});
        }
    }

  if (state.revocation())
    {
      std::vector<std::string> unused;
      if (!state.crl_files.load(state.crls, error) || !check_crl_signatures(state.cas, state.crls, unused, error))
        return nullptr;
      state.report_crl_coverage(unused);
      state.next_check = std::chrono::steady_clock::now() + state.reload_interval;
    }
  state.store = build_store(state.cas, state.crls, state.revocation());
  return trust;
}

bool TlsTrust::checks_revocation() const { return state_->revocation(); }

void TlsTrust::refresh_revocation(std::chrono::steady_clock::time_point now)
{
  State &state = *state_;
  if (!state.revocation() || now < state.next_check)
    return;
  state.next_check = now + state.reload_interval;
  if (state.crl_files.changed())
    {
      std::vector<LoadedCrl> fresh;
      std::vector<std::string> unused;
      std::string error;
      if (!state.crl_files.load(fresh, error) || !check_crl_signatures(state.cas, fresh, unused, error))
        {
          state.log(LogLevel::Error, "windowsevent: changed CRL files not loaded, the previous CRLs stay in use",
                    {{"error", error}, {"hint", "fix or replace the file; it is read again when it changes"}});
          return;
        }
      state.store = build_store(state.cas, fresh, true);
      state.crls = std::move(fresh);
      state.expiry_reported.clear();
      state.log(LogLevel::Notice, "windowsevent: CRLs reloaded", {{"crls", std::to_string(state.crls.size())}});
      state.report_crl_coverage(unused);
      return;
    }
  state.report_expired_crls();
}

bool TlsTrust::verify_client(const std::vector<std::string_view> &der_chain, ClientIdentity &identity,
                             VerifyFailure &failure) const
{
  if (der_chain.empty())
    {
      failure = {"the client sent no certificate",
                 "the forwarder needs a client certificate issued by a pinned CA (see issuer_thumbprints in the "
                 "'listening' line)"};
      return false;
    }
  std::vector<X509Ptr> parsed;
  for (auto der : der_chain)
    {
      const unsigned char *p = reinterpret_cast<const unsigned char *>(der.data());
      X509 *cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
      if (!cert)
        {
          failure = {"the client certificate cannot be parsed: " + openssl_error(),
                     "the forwarder's certificate must be a valid X.509 certificate"};
          return false;
        }
      parsed.emplace_back(cert);
    }
  X509 *leaf = parsed[0].get();
  const std::string about_leaf = "client certificate " + name_text(X509_get_subject_name(leaf)) + " (serial " +
                                 serial_hex(leaf) + ", issuer " + name_text(X509_get_issuer_name(leaf)) + ")";

  // No untrusted certificates: the chain is built from the loaded CAs only, so an issuing CA
  // that the client sends along cannot bring its own certificates in.
  std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), state_->store.get(), leaf, nullptr);
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1)
    {
      failure = describe_failure(ctx.get(), leaf, about_leaf, parsed.size() > 1);
      ERR_clear_error();
      return false;
    }

  // The verified chain must pass through a pinned issuing CA; the leaf itself does not count.
  STACK_OF(X509) *chain = X509_STORE_CTX_get0_chain(ctx.get());
  bool pinned = false;
  for (int i = 1; chain && i < sk_X509_num(chain) && !pinned; ++i)
    pinned = contains(issuer_thumbprints_, sha1_hex(sk_X509_value(chain, i)));
  if (!pinned)
    {
      const X509 *issuer = chain && sk_X509_num(chain) > 1 ? sk_X509_value(chain, 1) : leaf;
      failure = {about_leaf + " rejected: its issuing CA " + name_text(X509_get_subject_name(issuer)) +
                     " (thumbprint " + sha1_hex(issuer) + ") is not a pinned issuing CA",
                 "accepted issuing CAs: " + join(issuer_thumbprints_) +
                     "; add the CA to issuer-thumbprints()/issuer-file() if its certificates are to be accepted"};
      return false;
    }

  X509_NAME *subject = X509_get_subject_name(leaf);
  int index = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  identity = ClientIdentity{};
  if (index >= 0)
    {
      ASN1_STRING *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, index));
      unsigned char *utf8 = nullptr;
      int len = ASN1_STRING_to_UTF8(&utf8, data);
      if (len > 0)
        identity.common_name.assign(reinterpret_cast<char *>(utf8), static_cast<std::size_t>(len));
      OPENSSL_free(utf8);
    }
  auto *names = static_cast<GENERAL_NAMES *>(X509_get_ext_d2i(leaf, NID_subject_alt_name, nullptr, nullptr));
  if (names)
    {
      for (int i = 0; i < sk_GENERAL_NAME_num(names); ++i)
        {
          const GENERAL_NAME *name = sk_GENERAL_NAME_value(names, i);
          if (name->type == GEN_DNS)
            identity.dns_names.emplace_back(reinterpret_cast<const char *>(ASN1_STRING_get0_data(name->d.dNSName)),
                                            static_cast<std::size_t>(ASN1_STRING_length(name->d.dNSName)));
        }
      GENERAL_NAMES_free(names);
    }
  if (identity.common_name.empty())
    {
      failure = {"client certificate has no subject CN: the CN names the forwarding computer",
                 "issue the forwarder a certificate whose subject CN is its FQDN"};
      return false;
    }
  return true;
}

bool normalise_thumbprint(std::string_view text, std::string &thumbprint, std::string &error)
{
  thumbprint.clear();
  for (std::size_t i = 0; i < text.size(); ++i)
    {
      const unsigned char c = static_cast<unsigned char>(text[i]);
      if (c == ' ' || c == ':')
        continue;
      if (!std::isxdigit(c))
        {
          error = "is not a SHA-1 thumbprint: character " + std::to_string(i + 1) + " is not a hexadecimal digit" +
                  (c >= 0x80 ? " (an invisible character copied from the Windows certificate dialog?)" : "");
          return false;
        }
      thumbprint += static_cast<char>(std::toupper(c));
    }
  if (thumbprint.size() != 40)
    {
      error = "is not a SHA-1 thumbprint: " + std::to_string(thumbprint.size()) + " hexadecimal digits instead of 40";
      return false;
    }
  return true;
}

bool load_server_credentials(const std::string &cert_file, const std::string &key_file, std::string &cert_pem,
                             std::string &key_pem, std::string &error)
{
  if (!read_file(cert_file, cert_pem, error) || !read_file(key_file, key_pem, error))
    return false;
  auto certs = certificates_in_pem(cert_pem);
  if (certs.empty())
    {
      error = "cert-file(" + cert_file + ") holds no PEM certificate";
      return false;
    }
  BioPtr bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
  std::unique_ptr<EVP_PKEY, PkeyFree> key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key)
    {
      error = "key-file(" + key_file + ") holds no unencrypted PEM private key: " + openssl_error();
      return false;
    }
  if (X509_check_private_key(certs[0].get(), key.get()) != 1)
    {
      ERR_clear_error();
      error = "key-file(" + key_file + ") does not belong to cert-file(" + cert_file + ")";
      return false;
    }
  return true;
}

} // namespace wec::auth
