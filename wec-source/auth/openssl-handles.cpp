#include "openssl-handles.hpp"

#include "core/files.hpp"

#include <openssl/asn1.h>
#include <openssl/bn.h>
#include <openssl/err.h>

#include <dirent.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <sstream>
#include <vector>

namespace wec::auth {

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
  if (read_whole_file(path, out))
    return true;
  error = "cannot read " + path + ": " + std::strerror(errno);
  return false;
}

bool list_directory(const std::string &dir, std::vector<std::string> &paths, std::string &error)
{
  DIR *handle = opendir(dir.c_str());
  if (!handle)
    {
      error = "cannot open directory " + dir + ": " + std::strerror(errno);
      return false;
    }
  std::vector<std::string> names;
  while (dirent *entry = readdir(handle))
    if (entry->d_name[0] != '.')
      names.emplace_back(entry->d_name);
  closedir(handle);
  std::sort(names.begin(), names.end());
  paths.clear();
  for (const auto &name : names)
    {
      std::string path = dir + "/" + name;
      struct stat st
      {};
      if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
        paths.push_back(std::move(path));
    }
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

std::string name_text(const X509_NAME *name)
{
  char text[512] = "";
  X509_NAME_oneline(name, text, sizeof(text));
  return text;
}

std::string serial_hex(const X509 *cert)
{
  std::unique_ptr<BIGNUM, decltype(&BN_free)> number(ASN1_INTEGER_to_BN(X509_get0_serialNumber(cert), nullptr),
                                                     &BN_free);
  if (!number)
    return "?";
  char *hex = BN_bn2hex(number.get());
  std::string text = hex ? hex : "?";
  OPENSSL_free(hex);
  return text;
}

std::string time_text(const ASN1_TIME *time)
{
  struct tm parts
  {};
  if (!time || ASN1_TIME_to_tm(time, &parts) != 1)
    return "?";
  char text[32];
  std::strftime(text, sizeof(text), "%Y-%m-%d %H:%M:%S UTC", &parts);
  return text;
}

} // namespace wec::auth
