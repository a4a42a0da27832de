// A minimal HTTPS/1.1 client for engine tests: one keep-alive connection with a client certificate,
// POST with Content-Length, the response read by Content-Length. The server is not verified (the
// tests are about the server side).
#pragma once

#include <criterion/criterion.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <cstring>
#include <string>

struct HttpResponse
{
  int status = 0;
  std::string body;
};

class HttpsClient
{
public:
  HttpsClient(int port, const std::string &cert_file, const std::string &key_file)
  {
    ctx_ = SSL_CTX_new(TLS_client_method());
    cr_assert(SSL_CTX_use_certificate_file(ctx_, cert_file.c_str(), SSL_FILETYPE_PEM) == 1);
    cr_assert(SSL_CTX_use_PrivateKey_file(ctx_, key_file.c_str(), SSL_FILETYPE_PEM) == 1);
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{10, 0}; // a hung server fails the test instead of hanging it
    setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof(timeout));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(static_cast<uint16_t>(port));
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    cr_assert(connect(fd_, reinterpret_cast<sockaddr *>(&address), sizeof(address)) == 0, "connect: %s",
              std::strerror(errno));
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    cr_assert(SSL_connect(ssl_) == 1, "TLS handshake failed");
  }

  ~HttpsClient()
  {
    SSL_free(ssl_);
    SSL_CTX_free(ctx_);
    close(fd_);
  }

  HttpResponse post(const std::string &path, const std::string &body)
  {
    const std::string request = "POST " + path +
                                " HTTP/1.1\r\nHost: localhost\r\n"
                                "Content-Type: application/soap+xml;charset=UTF-16\r\n"
                                "Content-Length: " +
                                std::to_string(body.size()) + "\r\n\r\n" + body;
    cr_assert(SSL_write(ssl_, request.data(), static_cast<int>(request.size())) == static_cast<int>(request.size()));
    std::string received;
    std::size_t header_end = std::string::npos;
    while ((header_end = received.find("\r\n\r\n")) == std::string::npos)
      read_more(received);
    HttpResponse response;
    response.status = std::stoi(received.substr(9, 3));
    std::size_t length = 0;
    const std::size_t field = find_nocase(received.substr(0, header_end), "content-length:");
    if (field != std::string::npos)
      length = std::stoul(received.substr(field + 15));
    while (received.size() < header_end + 4 + length)
      read_more(received);
    response.body = received.substr(header_end + 4, length);
    return response;
  }

private:
  void read_more(std::string &received)
  {
    char buffer[16384];
    const int got = SSL_read(ssl_, buffer, sizeof(buffer));
    cr_assert(got > 0, "connection closed or timed out while reading the response");
    received.append(buffer, static_cast<std::size_t>(got));
  }

  static std::size_t find_nocase(std::string text, const std::string &needle)
  {
    for (auto &c : text)
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return text.find(needle);
  }

  SSL_CTX *ctx_ = nullptr;
  SSL *ssl_ = nullptr;
  int fd_ = -1;
};
