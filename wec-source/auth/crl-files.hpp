// Certificate revocation lists from crl-file() and crl-dir(). They are read at startup and
// again whenever one of the files changes: enterprise PKIs publish a new CRL every few days,
// and a collector runs for weeks without a restart.
#pragma once

#include "auth/openssl-handles.hpp"

#include <map>
#include <string>
#include <vector>

namespace wec::auth {

struct LoadedCrl
{
  X509CrlPtr crl;
  std::string path; // the file it came from, for log lines
};

class CrlFiles
{
public:
  CrlFiles(std::string file, std::string dir) : file_(std::move(file)), dir_(std::move(dir)) {}

  bool configured() const { return !file_.empty() || !dir_.empty(); }

  // Reads every CRL of crl-file() and of the regular, non-hidden files of crl-dir(): PEM (one or
  // more per file) or DER. Every file must hold at least one CRL; identical CRLs (hash links)
  // count once. On failure the reason names the file and `crls` is left as it was.
  bool load(std::vector<LoadedCrl> &crls, std::string &error);

  // True when a file appeared, disappeared or was modified (mtime, size, inode) since the last
  // load(), whether that load succeeded or not: each change is read, and reported, once.
  bool changed() const;

private:
  struct Stamp
  {
    bool present = false;
    long long mtime_sec = 0, mtime_nsec = 0, size = 0;
    unsigned long long inode = 0, device = 0;
    bool operator==(const Stamp &o) const
    {
      return present == o.present && mtime_sec == o.mtime_sec && mtime_nsec == o.mtime_nsec && size == o.size &&
             inode == o.inode && device == o.device;
    }
  };
  using Stamps = std::map<std::string, Stamp>;

  // The files that make up the CRL set right now; the directory listing is part of the state.
  Stamps current_stamps(std::vector<std::string> &paths, std::string &error) const;

  std::string file_;
  std::string dir_;
  Stamps stamps_;
  std::string listing_error_; // a crl-dir() that could not be listed at the last load()
};

// Parses the CRLs of one file's content (PEM blocks, or one DER CRL).
bool parse_crls(const std::string &content, const std::string &path, std::vector<X509CrlPtr> &out, std::string &error);

} // namespace wec::auth
