#include "crl-files.hpp"

#include <openssl/err.h>
#include <openssl/pem.h>

#include <sys/stat.h>

#include <algorithm>
#include <cstdlib>

namespace wec::auth {

namespace {

std::string crl_digest(X509_CRL *crl)
{
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  X509_CRL_digest(crl, EVP_sha256(), md, &len);
  return std::string(reinterpret_cast<const char *>(md), len);
}

} // namespace

bool parse_crls(const std::string &content, const std::string &path, std::vector<X509CrlPtr> &out, std::string &error)
{
  ERR_clear_error();
  std::vector<X509CrlPtr> found;
  if (content.find("-----BEGIN") != std::string::npos)
    {
      BioPtr bio(BIO_new_mem_buf(content.data(), static_cast<int>(content.size())));
      while (X509_CRL *crl = PEM_read_bio_X509_CRL(bio.get(), nullptr, nullptr, nullptr))
        found.emplace_back(crl);
      // Reading ends with "no start line" after the last block; anything else is a damaged block.
      unsigned long last = ERR_peek_last_error();
      if (last && ERR_GET_REASON(last) != PEM_R_NO_START_LINE)
        {
          error = path + " holds a damaged PEM block: " + openssl_error();
          return false;
        }
      ERR_clear_error();
      if (found.empty())
        {
          error = path + " holds no PEM \"X509 CRL\" block";
          return false;
        }
    }
  else
    {
      // Active Directory Certificate Services publishes DER (.crl files).
      const auto *p = reinterpret_cast<const unsigned char *>(content.data());
      const unsigned char *end = p + content.size();
      X509_CRL *crl = d2i_X509_CRL(nullptr, &p, static_cast<long>(content.size()));
      if (!crl || p != end)
        {
          X509_CRL_free(crl);
          ERR_clear_error();
          error = path + " is neither a PEM nor a DER CRL" + (content.empty() ? " (empty file)" : "");
          return false;
        }
      found.emplace_back(crl);
    }
  for (auto &crl : found)
    out.push_back(std::move(crl));
  return true;
}

CrlFiles::Stamps CrlFiles::current_stamps(std::vector<std::string> &paths, std::string &error) const
{
  paths.clear();
  if (!file_.empty())
    paths.push_back(file_);
  if (!dir_.empty())
    {
      std::vector<std::string> listed;
      if (!list_directory(dir_, listed, error))
        error = "crl-dir(): " + error;
      paths.insert(paths.end(), listed.begin(), listed.end());
    }
  Stamps stamps;
  for (const auto &path : paths)
    {
      Stamp stamp;
      struct stat st
      {};
      if (stat(path.c_str(), &st) == 0)
        {
          stamp.present = true;
          stamp.mtime_sec = st.st_mtim.tv_sec;
          stamp.mtime_nsec = st.st_mtim.tv_nsec;
          stamp.size = st.st_size;
          stamp.inode = st.st_ino;
          stamp.device = st.st_dev;
        }
      stamps[path] = stamp;
    }
  return stamps;
}

bool CrlFiles::changed() const
{
  std::vector<std::string> paths;
  std::string error;
  Stamps now = current_stamps(paths, error);
  return now != stamps_ || error != listing_error_;
}

bool CrlFiles::load(std::vector<LoadedCrl> &crls, std::string &error)
{
  // The stamps are taken before reading: a file replaced while it is read shows up as a
  // change at the next check and is read again.
  std::vector<std::string> paths;
  listing_error_.clear();
  stamps_ = current_stamps(paths, listing_error_);
  if (!listing_error_.empty())
    {
      error = listing_error_;
      return false;
    }

  // `openssl rehash` links (<hash>.r0) name the same files: read each file once, under its own
  // name rather than a link's, so that log lines name the file the operator knows.
  std::stable_partition(paths.begin(), paths.end(), [](const std::string &path) {
    struct stat st
    {};
    return lstat(path.c_str(), &st) == 0 && !S_ISLNK(st.st_mode);
  });
  std::vector<std::string> files_read;
  std::vector<LoadedCrl> loaded;
  std::vector<std::string> digests;
  for (const auto &path : paths)
    {
      char *resolved = realpath(path.c_str(), nullptr);
      const std::string real = resolved ? resolved : path;
      std::free(resolved);
      if (std::find(files_read.begin(), files_read.end(), real) != files_read.end())
        continue;
      files_read.push_back(real);
      std::string content;
      if (!read_file(path, content, error))
        return false;
      std::vector<X509CrlPtr> parsed;
      if (!parse_crls(content, path, parsed, error))
        return false;
      for (auto &crl : parsed)
        {
          std::string digest = crl_digest(crl.get());
          if (std::find(digests.begin(), digests.end(), digest) != digests.end())
            continue; // the same CRL in two files
          digests.push_back(std::move(digest));
          loaded.push_back(LoadedCrl{std::move(crl), path});
        }
    }
  if (loaded.empty())
    {
      error = "no CRL found in crl-file()/crl-dir()";
      return false;
    }
  crls = std::move(loaded);
  return true;
}

} // namespace wec::auth
