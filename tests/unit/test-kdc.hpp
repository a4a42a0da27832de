// The throw-away MIT KDC of the C++ Kerberos tests: tests/kdc/loopback_kdc.py, the same set-up
// (krb5.conf, kdc.conf, database, principals, keytabs) as the Python tests, run as a child
// process. The child prints `export NAME=VALUE` lines and then a line starting with
// "# running" once the KDC answers and every keytab is written; with --while-stdin-open it
// stops the KDC when its standard input ends, so the KDC goes with the test runner even when the
// runner is killed. stop() closes that pipe and waits for the child.
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace test_kdc {

constexpr const char *kPython = "/usr/bin/python3";
constexpr const char *kScript = WEC_TEST_DATA_DIR "/../kdc/loopback_kdc.py";

struct Kdc
{
  pid_t pid = -1;
  int input = -1;  // the child's standard input: the KDC runs while it is open
  int output = -1; // the child's standard output and error
  std::string directory;
  std::vector<std::pair<std::string, std::string>> env; // the `export` lines
  std::string output_text;                              // everything printed up to "# running"
};

// The value of an `export` line as the shell reads it: shlex.quote() writes safe strings as they
// are and others between single quotes, a single quote itself as '"'"'.
inline std::string shell_unquote(const std::string &quoted)
{
  std::string out;
  for (std::size_t i = 0; i < quoted.size(); ++i)
    {
      const char c = quoted[i];
      if (c == '\'' || c == '"')
        {
          const std::size_t end = quoted.find(c, i + 1);
          const std::size_t stop = end == std::string::npos ? quoted.size() : end;
          out.append(quoted, i + 1, stop - i - 1);
          i = stop;
        }
      else
        out.push_back(c);
    }
  return out;
}

inline void parse_exports(Kdc &kdc)
{
  std::size_t pos = 0;
  while (pos < kdc.output_text.size())
    {
      std::size_t eol = kdc.output_text.find('\n', pos);
      if (eol == std::string::npos)
        eol = kdc.output_text.size();
      const std::string line = kdc.output_text.substr(pos, eol - pos);
      pos = eol + 1;
      const std::string prefix = "export ";
      const std::size_t eq = line.find('=');
      if (line.compare(0, prefix.size(), prefix) == 0 && eq != std::string::npos)
        kdc.env.emplace_back(line.substr(prefix.size(), eq - prefix.size()), shell_unquote(line.substr(eq + 1)));
    }
}

inline void stop(Kdc &kdc)
{
  if (kdc.input >= 0)
    close(kdc.input); // end of file: the harness stops krb5kdc and exits
  kdc.input = -1;
  if (kdc.pid > 0)
    {
      bool gone = false;
      for (int i = 0; i < 300 && !gone; ++i) // 15 s
        {
          if (waitpid(kdc.pid, nullptr, WNOHANG) == kdc.pid)
            gone = true;
          else
            {
              if (i == 200)
                kill(kdc.pid, SIGTERM);
              std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
        }
      if (!gone)
        {
          kill(kdc.pid, SIGKILL);
          waitpid(kdc.pid, nullptr, 0);
        }
      kdc.pid = -1;
    }
  if (kdc.output >= 0)
    close(kdc.output);
  kdc.output = -1;
}

// Runs `loopback_kdc.py DIRECTORY ARGS... --while-stdin-open` and waits up to `timeout_s` for its
// "# running" line; then `kdc.env` holds the variables it exported. On failure `error` has the
// child's output and the child is stopped.
inline bool start(Kdc &kdc, const std::string &directory, const std::vector<std::string> &args, double timeout_s,
                  std::string &error)
{
  kdc.directory = directory;
  if (access(kPython, X_OK) != 0 || access(kScript, R_OK) != 0)
    {
      error = std::string("cannot run ") + kPython + " " + kScript;
      return false;
    }
  int in[2], out[2];
  if (pipe2(in, O_CLOEXEC) != 0)
    {
      error = "pipe failed";
      return false;
    }
  if (pipe2(out, O_CLOEXEC) != 0)
    {
      close(in[0]);
      close(in[1]);
      error = "pipe failed";
      return false;
    }
  std::vector<std::string> argv = {kPython, kScript, directory};
  argv.insert(argv.end(), args.begin(), args.end());
  argv.push_back("--while-stdin-open");
  std::vector<char *> cargv;
  for (auto &a : argv)
    cargv.push_back(&a[0]);
  cargv.push_back(nullptr);

  kdc.pid = fork();
  if (kdc.pid == 0)
    {
      dup2(in[0], 0);
      dup2(out[1], 1);
      dup2(out[1], 2);
      execv(cargv[0], cargv.data());
      _exit(127);
    }
  close(in[0]);
  close(out[1]);
  kdc.input = in[1];
  kdc.output = out[0];
  if (kdc.pid < 0)
    {
      error = "fork failed";
      stop(kdc);
      return false;
    }

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(static_cast<int>(timeout_s * 1000));
  const std::string ready = "\n# running";
  char buf[4096];
  while (kdc.output_text.find(ready) == std::string::npos)
    {
      const auto left =
          std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now()).count();
      if (left <= 0)
        {
          error = "loopback_kdc.py not ready after " + std::to_string(timeout_s) + " s: " + kdc.output_text;
          stop(kdc);
          return false;
        }
      struct pollfd p = {kdc.output, POLLIN, 0};
      if (poll(&p, 1, static_cast<int>(left)) <= 0)
        continue;
      const ssize_t got = read(kdc.output, buf, sizeof(buf));
      if (got <= 0)
        {
          error = "loopback_kdc.py exited before the KDC was ready: " + kdc.output_text;
          stop(kdc);
          return false;
        }
      kdc.output_text.append(buf, static_cast<std::size_t>(got));
    }
  parse_exports(kdc);
  return true;
}

} // namespace test_kdc
