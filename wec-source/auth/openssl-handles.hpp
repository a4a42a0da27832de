// Owning handles for the OpenSSL objects of the auth code, and the few helpers that the
// certificate and CRL code share. Internal to wec-source/auth (and its unit tests).
#pragma once

#include <openssl/bio.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace wec::auth {

struct X509Free
{
  void operator()(X509 *x) const { X509_free(x); }
};
struct X509CrlFree
{
  void operator()(X509_CRL *c) const { X509_CRL_free(c); }
};
struct X509StoreFree
{
  void operator()(X509_STORE *s) const { X509_STORE_free(s); }
};
struct X509StoreCtxFree
{
  void operator()(X509_STORE_CTX *c) const { X509_STORE_CTX_free(c); }
};
struct BioFree
{
  void operator()(BIO *b) const { BIO_free(b); }
};
struct PkeyFree
{
  void operator()(EVP_PKEY *k) const { EVP_PKEY_free(k); }
};

using X509Ptr = std::unique_ptr<X509, X509Free>;
using X509CrlPtr = std::unique_ptr<X509_CRL, X509CrlFree>;
using X509StorePtr = std::unique_ptr<X509_STORE, X509StoreFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// The oldest queued OpenSSL error as text; clears the queue.
std::string openssl_error();

bool read_file(const std::string &path, std::string &out, std::string &error);

// Regular, non-hidden files of a directory, sorted by name, as dir + "/" + name. Hidden
// files are skipped: they are how editors and `mv`-based replacements stage new content.
bool list_directory(const std::string &dir, std::vector<std::string> &paths, std::string &error);

// SHA-1 of the DER form, upper-case hex: the Windows "thumbprint".
std::string sha1_hex(const X509 *cert);

// "/CN=win01.corp.example" (X509_NAME_oneline), as the log lines show names.
std::string name_text(const X509_NAME *name);

// Upper-case hex of a serial number, as `openssl x509 -serial` prints it.
std::string serial_hex(const X509 *cert);

// "2026-01-31 12:00:00 UTC"
std::string time_text(const ASN1_TIME *time);

} // namespace wec::auth
