// A small PKI made with OpenSSL in the test itself (EC P-256 keys: fast): CAs, client and server
// certificates, CRLs, and their PEM/DER forms.
#pragma once

#include <criterion/criterion.h>

#include <openssl/ec.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "auth/openssl-handles.hpp"

namespace test_pki {

using wec::auth::BioPtr;
using wec::auth::PkeyFree;
using wec::auth::X509CrlPtr;
using wec::auth::X509Ptr;
namespace fs = std::filesystem;

using KeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;

struct Issued
{
  KeyPtr key;
  X509Ptr cert;
};

constexpr long kDay = 24 * 3600;

inline void add_extension(X509 *cert, X509 *issuer, int nid, const char *value)
{
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION *ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  cr_assert(ext, "extension %d=%s", nid, value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

// A certificate for `cn`, signed by `issuer` (self-signed when null). CA or client (clientAuth).
inline Issued make_cert(const std::string &cn, const Issued *issuer, bool ca, long serial)
{
  Issued out;
  out.key.reset(EVP_EC_gen("P-256"));
  out.cert.reset(X509_new());
  X509 *cert = out.cert.get();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), serial);
  X509_NAME *name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char *>(cn.c_str()), -1, -1, 0);
  X509_set_issuer_name(cert, issuer ? X509_get_subject_name(issuer->cert.get()) : name);
  X509_gmtime_adj(X509_getm_notBefore(cert), -kDay);
  X509_gmtime_adj(X509_getm_notAfter(cert), 365 * kDay);
  X509_set_pubkey(cert, out.key.get());
  X509 *signer_cert = issuer ? issuer->cert.get() : cert;
  add_extension(cert, signer_cert, NID_subject_key_identifier, "hash");
  add_extension(cert, signer_cert, NID_authority_key_identifier, "keyid:always");
  if (ca)
    {
      add_extension(cert, signer_cert, NID_basic_constraints, "critical,CA:TRUE");
      add_extension(cert, signer_cert, NID_key_usage, "critical,keyCertSign,cRLSign");
    }
  else
    {
      add_extension(cert, signer_cert, NID_basic_constraints, "critical,CA:FALSE");
      add_extension(cert, signer_cert, NID_key_usage, "critical,digitalSignature");
      add_extension(cert, signer_cert, NID_ext_key_usage, "clientAuth");
      add_extension(cert, signer_cert, NID_subject_alt_name, ("DNS:" + cn).c_str());
    }
  X509_sign(cert, issuer ? issuer->key.get() : out.key.get(), EVP_sha256());
  return out;
}

// A CRL of `issuer` revoking `serials`, valid from now-1d to now+next_update_seconds.
inline X509CrlPtr make_crl(const Issued &issuer, const std::vector<long> &serials, long next_update_seconds = 30 * kDay,
                           const EVP_PKEY *signing_key = nullptr)
{
  X509CrlPtr crl(X509_CRL_new());
  X509_CRL_set_version(crl.get(), 1);
  X509_CRL_set_issuer_name(crl.get(), X509_get_subject_name(issuer.cert.get()));
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> last(X509_gmtime_adj(nullptr, -kDay), &ASN1_TIME_free);
  std::unique_ptr<ASN1_TIME, decltype(&ASN1_TIME_free)> next(X509_gmtime_adj(nullptr, next_update_seconds),
                                                             &ASN1_TIME_free);
  X509_CRL_set1_lastUpdate(crl.get(), last.get());
  X509_CRL_set1_nextUpdate(crl.get(), next.get());
  for (long serial : serials)
    {
      X509_REVOKED *entry = X509_REVOKED_new();
      ASN1_INTEGER *number = ASN1_INTEGER_new();
      ASN1_INTEGER_set(number, serial);
      X509_REVOKED_set_serialNumber(entry, number);
      ASN1_INTEGER_free(number);
      X509_REVOKED_set_revocationDate(entry, last.get());
      X509_CRL_add0_revoked(crl.get(), entry);
    }
  X509_CRL_sort(crl.get());
  X509_CRL_sign(crl.get(), const_cast<EVP_PKEY *>(signing_key ? signing_key : issuer.key.get()), EVP_sha256());
  return crl;
}

inline std::string pem_of(X509 *cert)
{
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509(bio.get(), cert);
  char *data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

inline std::string pem_of(X509_CRL *crl)
{
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_X509_CRL(bio.get(), crl);
  char *data = nullptr;
  long len = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(len));
}

inline std::string der_of(X509 *cert)
{
  unsigned char *der = nullptr;
  int len = i2d_X509(cert, &der);
  std::string out(reinterpret_cast<char *>(der), static_cast<std::size_t>(len));
  OPENSSL_free(der);
  return out;
}

// Writes by rename, as a CRL publisher should: a reader never sees half a file.
inline void write_file(const fs::path &path, const std::string &content)
{
  fs::path staged = path.parent_path() / ("." + path.filename().string() + ".new");
  std::ofstream(staged, std::ios::binary) << content;
  fs::rename(staged, path);
}

inline std::string pem_of(EVP_PKEY *key)
{
  BioPtr bio(BIO_new(BIO_s_mem()));
  PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr);
  char *data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(size));
}

} // namespace test_pki
