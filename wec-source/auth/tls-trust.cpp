#include "tls-trust.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <dirent.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace wec::auth {

namespace {

struct X509Free { void operator()(X509 *x) const { X509_free(x); } };
struct X509StoreFree { void operator()(X509_STORE *s) const { X509_STORE_free(s); } };
struct X509StoreCtxFree { void operator()(X509_STORE_CTX *c) const { X509_STORE_CTX_free(c); } };
struct BioFree { void operator()(BIO *b) const { BIO_free(b); } };
struct StackFree { void operator()(STACK_OF(X509) *s) const { sk_X509_pop_free(s, X509_free); } };
struct PkeyFree { void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); } };

using X509Ptr = std::unique_ptr<X509, X509Free>;

std::string openssl_error()
{
  unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (!code)
    return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(code, buf, sizeof(buf));
  return buf;
}

bool read_file(const std::string &path, std::string &out, std::string &error)
{
  std::ifstream in(path, std::ios::binary);
  if (!in)
    {
      error = "cannot read " + path;
      return false;
    }
  std::ostringstream buf;
  buf << in.rdbuf();
  out = buf.str();
  return true;
}

std::string sha1_hex(const X509 *cert)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_digest(cert, EVP_sha1(), md, &len);
  std::string hex;
  char byte[3];
  for (unsigned int i = 0; i < len; ++i)
    {
      std::snprintf(byte, sizeof(byte), "%02X", md[i]);
      hex += byte;
    }
  return hex;
}

std::vector<X509Ptr> certificates_in_pem(std::string_view pem)
{
  std::vector<X509Ptr> certs;
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  while (X509 *cert = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr))
    certs.emplace_back(cert);
  ERR_clear_error(); // the loop ends on a "no start line" error
  return certs;
}

std::string to_pem(X509 *cert)
{
  std::unique_ptr<BIO, BioFree> bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char *data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

} // namespace

struct TlsTrust::State
{
  std::unique_ptr<X509_STORE, X509StoreFree> store{X509_STORE_new()};
  std::vector<X509Ptr> cas;
};

TlsTrust::TlsTrust() : state_(std::make_unique<State>()) {}
TlsTrust::~TlsTrust() = default;

std::unique_ptr<TlsTrust> TlsTrust::load(const std::string &ca_file, const std::string &ca_dir, std::string &error)
{
  std::unique_ptr<TlsTrust> trust(new TlsTrust());
  std::vector<std::string> files;
  if (!ca_file.empty())
    files.push_back(ca_file);
  if (!ca_dir.empty())
    {
      DIR *dir = opendir(ca_dir.c_str());
      if (!dir)
        {
          error = "cannot open ca-dir(" + ca_dir + ")";
          return nullptr;
        }
      std::vector<std::string> names;
      while (dirent *entry = readdir(dir))
        if (entry->d_name[0] != '.')
          names.emplace_back(entry->d_name);
      closedir(dir);
      std::sort(names.begin(), names.end());
      for (const auto &name : names)
        files.push_back(ca_dir + "/" + name);
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
          if (std::find(seen.begin(), seen.end(), thumbprint) != seen.end())
            continue; // hash-named symlinks point at the same certificates
          seen.push_back(thumbprint);
          X509_STORE_add_cert(trust->state_->store.get(), cert.get());
          trust->trusted_pem_ += to_pem(cert.get());
          trust->state_->cas.push_back(std::move(cert));
        }
    }
  if (trust->state_->cas.empty())
    {
      error = "no CA certificate found in ca-file()/ca-dir(): client certificates cannot be verified";
      return nullptr;
    }

  // Advertise the CAs that issue end-entity certificates: those that signed no other loaded CA.
  for (const auto &candidate : trust->state_->cas)
    {
      bool issued_another_ca = false;
      for (const auto &other : trust->state_->cas)
        if (other != candidate && X509_check_issued(candidate.get(), other.get()) == X509_V_OK)
          issued_another_ca = true;
      if (!issued_another_ca)
        trust->issuer_thumbprints_.push_back(sha1_hex(candidate.get()));
    }
  return trust;
}

bool TlsTrust::verify_client(const std::vector<std::string_view> &der_chain, ClientIdentity &identity,
                             std::string &error) const
{
  if (der_chain.empty())
    {
      error = "the client sent no certificate";
      return false;
    }
  std::vector<X509Ptr> parsed;
  for (auto der : der_chain)
    {
      const unsigned char *p = reinterpret_cast<const unsigned char *>(der.data());
      X509 *cert = d2i_X509(nullptr, &p, static_cast<long>(der.size()));
      if (!cert)
        {
          error = "the client certificate cannot be parsed: " + openssl_error();
          return false;
        }
      parsed.emplace_back(cert);
    }
  std::unique_ptr<STACK_OF(X509), StackFree> untrusted(sk_X509_new_null());
  for (std::size_t i = 1; i < parsed.size(); ++i)
    {
      X509_up_ref(parsed[i].get());
      sk_X509_push(untrusted.get(), parsed[i].get());
    }

  std::unique_ptr<X509_STORE_CTX, X509StoreCtxFree> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), state_->store.get(), parsed[0].get(), untrusted.get());
  X509_STORE_CTX_set_purpose(ctx.get(), X509_PURPOSE_SSL_CLIENT);
  if (X509_verify_cert(ctx.get()) != 1)
    {
      int code = X509_STORE_CTX_get_error(ctx.get());
      char subject[256] = "";
      X509_NAME_oneline(X509_get_subject_name(parsed[0].get()), subject, sizeof(subject));
      char issuer[256] = "";
      X509_NAME_oneline(X509_get_issuer_name(parsed[0].get()), issuer, sizeof(issuer));
      error = std::string("client certificate ") + subject + " (issuer " + issuer + ") rejected: " +
              X509_verify_cert_error_string(code);
      ERR_clear_error();
      return false;
    }

  X509_NAME *subject = X509_get_subject_name(parsed[0].get());
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
  auto *names = static_cast<GENERAL_NAMES *>(X509_get_ext_d2i(parsed[0].get(), NID_subject_alt_name, nullptr, nullptr));
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
      error = "client certificate has no subject CN: the CN names the forwarding computer";
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
  std::unique_ptr<BIO, BioFree> bio(BIO_new_mem_buf(key_pem.data(), static_cast<int>(key_pem.size())));
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

std::string pem_thumbprint(std::string_view pem)
{
  auto certs = certificates_in_pem(pem);
  return certs.empty() ? std::string() : sha1_hex(certs[0].get());
}

} // namespace wec::auth
