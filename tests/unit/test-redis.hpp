// Throw-away redis-server processes on 127.0.0.1 for the unit tests: plain servers, replicas and
// Sentinels, each in a directory of its own, killed with the test (PR_SET_PDEATHSIG) if it dies.
#pragma once

#include "bookmarks/redis-connection.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <thread>
#include <vector>

namespace test_redis {

inline int free_port()
{
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr *>(&address), sizeof(address));
  socklen_t length = sizeof(address);
  getsockname(fd, reinterpret_cast<sockaddr *>(&address), &length);
  close(fd);
  return ntohs(address.sin_port);
}

// Polls `done` every 10 ms until it holds or `limit` passed; returns its last value.
inline bool wait_until(const std::function<bool()> &done, std::chrono::milliseconds limit)
{
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (!done())
    {
      if (std::chrono::steady_clock::now() > deadline)
        return done();
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  return true;
}

inline std::string make_directory()
{
  std::string pattern = (std::filesystem::temp_directory_path() / "wec-redis-XXXXXX").string();
  return mkdtemp(pattern.data()) ? pattern : std::string();
}

inline std::string text_of(const redisReply &reply)
{
  using namespace wec;
  switch (reply_kind(reply))
    {
    case RedisReplyKind::Nil: return "(nil)";
    case RedisReplyKind::Error: return "(error) " + reply_text(reply);
    case RedisReplyKind::Integer: return std::to_string(reply_integer(reply));
      case RedisReplyKind::Array: {
        std::string joined;
        for (std::size_t i = 0; i < reply_elements(reply); ++i)
          joined += (i ? " " : "") + text_of(reply_element(reply, i));
        return joined;
      }
    default: return reply_text(reply);
    }
}

// One command on a fresh connection; the reply's text (for arrays: the elements joined by ' '),
// "(nil)", integers in decimal, or "(error) ..." / "(down) ..." when it could not be asked.
inline std::string ask(int port, const std::vector<std::string_view> &command)
{
  using namespace wec;
  std::string error;
  auto connection = RedisConnection::open("127.0.0.1", port, std::chrono::milliseconds(1000), nullptr, error);
  if (!connection)
    return "(down) " + error;
  RedisReply reply = connection->command(command, error);
  return reply ? text_of(*reply) : "(down) " + error;
}

class Server
{
public:
  // A Redis without persistence; `extra` are further command-line options ("--requirepass", "x").
  explicit Server(std::vector<std::string> extra = {}, int port = 0)
      : port_(port ? port : free_port()), directory_(make_directory()), extra_(std::move(extra))
  {
    start();
  }
  ~Server()
  {
    stop();
    std::error_code ignored;
    std::filesystem::remove_all(directory_, ignored);
  }
  Server(const Server &) = delete;
  Server &operator=(const Server &) = delete;

  int port() const { return port_; }
  const std::string &directory() const { return directory_; }

  // A Sentinel: `config` is written to its own file (Sentinel rewrites it), then --sentinel.
  static std::vector<std::string> sentinel_arguments(const std::string &directory, int port, const std::string &config)
  {
    const std::string path = directory + "/sentinel-" + std::to_string(port) + ".conf";
    std::ofstream(path) << "port " << port << "\nbind 127.0.0.1\ndir " << directory << "\n" << config;
    return {path, "--sentinel"};
  }

  void start()
  {
    std::vector<std::string> arguments{"redis-server"};
    if (extra_.empty() || extra_.back() != "--sentinel")
      arguments.insert(arguments.end(), {"--port", std::to_string(port_), "--bind", "127.0.0.1", "--save", "",
                                         "--appendonly", "no", "--dir", directory_});
    arguments.insert(arguments.end(), extra_.begin(), extra_.end());
    const std::string log = directory_ + "/redis-" + std::to_string(port_) + ".log";
    const pid_t parent = getpid();
    pid_ = fork();
    if (pid_ == 0)
      {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
          _exit(1);
        freopen(log.c_str(), "a", stdout);
        freopen(log.c_str(), "a", stderr);
        std::vector<char *> argv;
        for (auto &argument : arguments)
          argv.push_back(argument.data());
        argv.push_back(nullptr);
        execvp(argv[0], argv.data());
        _exit(127);
      }
    ready_ = wait_until([this] { return ask(port_, {"PING"}) == "PONG" || answers_auth_required(); },
                        std::chrono::seconds(10));
  }

  bool ready() const { return ready_; }

  void stop()
  {
    if (pid_ <= 0)
      return;
    kill(pid_, SIGCONT);
    kill(pid_, SIGTERM);
    int status = 0;
    const bool exited =
        wait_until([this, &status] { return waitpid(pid_, &status, WNOHANG) == pid_; }, std::chrono::seconds(10));
    if (!exited)
      {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      }
    pid_ = -1;
  }

  void pause() { kill(pid_, SIGSTOP); }
  void resume() { kill(pid_, SIGCONT); }

private:
  bool answers_auth_required() const { return ask(port_, {"PING"}).find("NOAUTH") != std::string::npos; }

  int port_;
  std::string directory_;
  std::vector<std::string> extra_;
  pid_t pid_ = -1;
  bool ready_ = false;
};

} // namespace test_redis
