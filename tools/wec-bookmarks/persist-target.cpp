#include "persist-target.hpp"

#include "bookmarks/chunked-bookmark-store.hpp"
#include "persist-file-entries.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <functional>
#include <iostream>
#include <sstream>

#include "cpp-start.h"
#include "messages.h"
#include "persist-state.h"
#include "cpp-end.h"

namespace wec::tool {

namespace {

std::string errno_text() { return std::strerror(errno); }

// The module's PersistEntries, with this thread as syslog-ng's main thread: the entry allocations
// that ChunkedBookmarkStore::save() asks for run when the tool calls run_queued().
class OfflineEntries : public module::PersistFileEntries
{
public:
  using PersistFileEntries::PersistFileEntries;
  void call_on_main_thread(std::function<void()> task) override { queued_.push_back(std::move(task)); }
  bool run_queued()
  {
    std::vector<std::function<void()>> tasks;
    tasks.swap(queued_);
    for (auto &task : tasks)
      task();
    return !tasks.empty();
  }

private:
  std::vector<std::function<void()>> queued_;
};

struct StateDeleter
{
  void operator()(PersistState *state) const { persist_state_free(state); }
};
using StatePtr = std::unique_ptr<PersistState, StateDeleter>;

// A private directory holding the copy that a read works on; removed with its files.
class PrivateCopy
{
public:
  explicit PrivateCopy(const std::string &source)
  {
    const char *tmp = std::getenv("TMPDIR");
    std::string pattern = std::string(tmp && *tmp ? tmp : "/tmp") + "/wec-bookmarks.XXXXXX";
    if (!mkdtemp(pattern.data()))
      throw ToolError("cannot create a temporary directory in " + pattern.substr(0, pattern.rfind('/')) + ": " +
                      errno_text() + " (set TMPDIR to a writable directory)");
    dir_ = pattern;
    path_ = dir_ + "/syslog-ng.persist";
    std::ifstream in(source, std::ios::binary);
    std::ofstream out(path_, std::ios::binary);
    out << in.rdbuf();
    if (!in || !out.flush())
      {
        remove_all();
        throw ToolError("cannot copy " + source + " to " + path_ + " (is " + dir_ + "'s filesystem full?)");
      }
  }
  ~PrivateCopy() { remove_all(); }
  const std::string &path() const { return path_; }

private:
  void remove_all()
  {
    unlink(path_.c_str());
    unlink((path_ + "-").c_str()); // persist-state's own temporary file
    rmdir(dir_.c_str());
  }
  std::string dir_;
  std::string path_;
};

// A process that has the file (or syslog-ng's "<file>-", written while it starts) open: a running
// syslog-ng keeps its persist file open and mapped, and would overwrite what the tool wrote.
std::string holder_of(const std::string &path)
{
  std::vector<struct stat> files;
  for (const std::string &name : {path, path + "-"})
    {
      struct stat st;
      if (stat(name.c_str(), &st) == 0)
        files.push_back(st);
    }
  if (files.empty())
    return "";
  std::unique_ptr<DIR, int (*)(DIR *)> proc(opendir("/proc"), closedir);
  if (!proc)
    return "";
  const std::string self = std::to_string(getpid());
  while (const dirent *process = readdir(proc.get()))
    {
      const std::string pid = process->d_name;
      if (pid.find_first_not_of("0123456789") != std::string::npos || pid == self)
        continue;
      const std::string fd_dir = "/proc/" + pid + "/fd";
      std::unique_ptr<DIR, int (*)(DIR *)> fds(opendir(fd_dir.c_str()), closedir);
      if (!fds)
        continue; // gone, or not ours to look at
      while (const dirent *fd = readdir(fds.get()))
        {
          struct stat st;
          if (fd->d_name[0] == '.' || stat((fd_dir + "/" + fd->d_name).c_str(), &st) != 0)
            continue;
          for (const auto &file : files)
            if (st.st_dev == file.st_dev && st.st_ino == file.st_ino)
              {
                std::string comm;
                std::getline(std::ifstream("/proc/" + pid + "/comm"), comm);
                return (comm.empty() ? "a process" : comm) + " (pid " + pid + ")";
              }
        }
    }
  return "";
}

// syslog-ng's persist-state reads a file that is not a persist file as an empty one: refuse it.
void check_is_persist_file(const std::string &path)
{
  std::ifstream in(path, std::ios::binary);
  char magic[4] = {};
  if (!in.read(magic, sizeof(magic)) && in.gcount() == 0)
    return; // empty: syslog-ng starts from nothing as well
  if (std::memcmp(magic, "SLP4", 4) != 0)
    throw ToolError(path + " is not a syslog-ng persist file (it does not start with SLP4); give the file of "
                           "syslog-ng's --persist-file, /var/lib/syslog-ng/syslog-ng.persist by default");
}

// syslog-ng's loader trusts the sizes it finds in the file: a truncated or damaged file can make it
// read past its mapping and crash (so would syslog-ng at its start). It reads a copy in a child
// process first, so that such a file gets an error line instead of a crash.
void check_loads_without_crash(const std::string &copy, const std::string &path)
{
  std::fflush(nullptr);
  const pid_t child = fork();
  if (child < 0)
    return; // cannot tell: go on
  if (child == 0)
    {
      // die of the signal itself (under the sanitizers too: their handlers would report the crash)
      std::signal(SIGSEGV, SIG_DFL);
      std::signal(SIGBUS, SIG_DFL);
      const int null = open("/dev/null", O_WRONLY);
      dup2(null, STDERR_FILENO);
      PersistState *state = persist_state_new(copy.c_str());
      persist_state_start(state);
      persist_state_free(state);
      _exit(0);
    }
  int status = 0;
  while (waitpid(child, &status, 0) < 0 && errno == EINTR)
    {}
  if (WIFSIGNALED(status))
    throw ToolError(path + " is damaged: syslog-ng's persist reader crashes on it (signal " +
                    std::to_string(WTERMSIG(status)) +
                    "), and syslog-ng would not start with it either; nothing was changed: restore it from a backup, "
                    "or import into a new persist file");
}

// persist_state_start() reports a damaged file through syslog-ng's messages, on stderr, and goes on
// with what it could read: the messages are collected so that such a file is never rewritten.
class StderrCapture
{
public:
  StderrCapture() : file_(std::tmpfile()), saved_(dup(STDERR_FILENO))
  {
    std::fflush(stderr);
    if (file_ && saved_ >= 0)
      dup2(fileno(file_), STDERR_FILENO);
  }
  ~StderrCapture()
  {
    restore();
    if (file_)
      std::fclose(file_);
  }
  std::vector<std::string> lines()
  {
    restore();
    std::vector<std::string> result;
    if (!file_)
      return result;
    std::rewind(file_);
    char line[1024];
    while (std::fgets(line, sizeof(line), file_))
      {
        std::string text(line);
        while (!text.empty() && (text.back() == '\n' || text.back() == '\r'))
          text.pop_back();
        if (!text.empty())
          result.push_back(text);
      }
    return result;
  }

private:
  void restore()
  {
    std::fflush(stderr);
    if (saved_ >= 0)
      {
        dup2(saved_, STDERR_FILENO);
        close(saved_);
        saved_ = -1;
      }
  }
  std::FILE *file_;
  int saved_;
};

void log_to_stderr(LogLevel level, const std::string &message, const LogTags &tags)
{
  if (level > LogLevel::Warning)
    return;
  std::cerr << "wec-bookmarks: " << message;
  for (const auto &tag : tags)
    std::cerr << (&tag == &tags.front() ? "; " : ", ") << tag.name << "='" << tag.value << "'";
  std::cerr << '\n';
}

} // namespace

struct PersistFileTarget::Session
{
  std::unique_ptr<PrivateCopy> copy;
  StatePtr state;
  std::unique_ptr<OfflineEntries> entries;
  std::unique_ptr<ChunkedBookmarkStore> store;
  Mode mode = Mode::Read;
  bool existed = false;
  struct stat original = {};
  bool changed = false;
};

PersistFileTarget::PersistFileTarget(const std::string &path, const std::string &persist_name, Mode mode)
    : path_(path), persist_name_(persist_name), session_(std::make_unique<Session>())
{
  static const bool messages_ready = (msg_init(TRUE), true); // syslog-ng's messages go to stderr
  (void) messages_ready;
  auto &s = *session_;
  s.mode = mode;
  s.existed = stat(path.c_str(), &s.original) == 0;
  if (!s.existed && (errno != ENOENT || mode == Mode::Read))
    throw ToolError("cannot read " + path + ": " + errno_text() +
                    " (the persist file is /var/lib/syslog-ng/syslog-ng.persist by default, or syslog-ng's "
                    "--persist-file)");
  if (s.existed)
    check_is_persist_file(path);
  std::string opened = path;
  if (mode == Mode::Write)
    {
      const std::string holder = holder_of(path);
      if (!holder.empty())
        throw ToolError(holder + " has " + path +
                        " open: stop syslog-ng (systemctl stop syslog-ng) and run this again, or work on a copy "
                        "(list and export work while it runs)");
    }
  if (s.existed)
    {
      s.copy = std::make_unique<PrivateCopy>(path);
      check_loads_without_crash(s.copy->path(), path);
      if (mode == Mode::Read)
        opened = s.copy->path();
    }

  s.state.reset(persist_state_new(opened.c_str()));
  std::vector<std::string> problems;
  {
    StderrCapture capture;
    const bool started = persist_state_start(s.state.get());
    problems = capture.lines();
    if (!started)
      throw ToolError(
          "cannot open " + path + (problems.empty() ? "" : ": " + problems.front()) +
          (mode == Mode::Write ? " (the directory must be writable: the file is replaced as a whole)" : ""));
  }
  if (!problems.empty() && mode == Mode::Write)
    throw ToolError(path + " is damaged (syslog-ng: " + problems.front() +
                    "); nothing was changed: restore it from a backup, or import into a new persist file");
  for (const auto &line : problems)
    std::cerr << "wec-bookmarks: warning: " << path << ": syslog-ng: " << line << '\n';

  s.entries = std::make_unique<OfflineEntries>(s.state.get());
  // Entries syslog-ng does not look up are dropped at its next start: every entry that was in
  // use stays in use, whichever source owns it.
  for (const auto &name : s.entries->names_starting_with(""))
    {
      std::size_t size = 0;
      s.entries->lookup(name, size);
    }
  s.store = std::make_unique<ChunkedBookmarkStore>(
      *s.entries, persist_name, [] {}, log_to_stderr);
  s.store->load_all(std::chrono::seconds(0));
}

PersistFileTarget::~PersistFileTarget() = default;

std::vector<Record> PersistFileTarget::list()
{
  std::vector<Record> records;
  for (auto &stored : session_->store->list())
    records.push_back({std::move(stored.owner), std::move(stored.subscription), std::move(stored.bookmark)});
  return records;
}

std::optional<std::string> PersistFileTarget::get(const std::string &owner, const std::string &subscription)
{
  BookmarkStore::LoadResult loaded = session_->store->load(owner, subscription);
  if (loaded.status == BookmarkStore::LoadStatus::Found)
    return std::move(loaded.bookmark);
  return std::nullopt; // a persist file is never Unavailable: it is in memory
}

bool PersistFileTarget::put(const Record &record, bool only_if_absent)
{
  auto &s = *session_;
  if (s.mode != Mode::Write)
    throw std::logic_error("persist file opened for reading");
  if (only_if_absent && get(record.owner, record.subscription))
    return false;
  // A new entry is allocated on syslog-ng's main thread: save() asks for it (Pending), the tool
  // runs the allocation, and the next save() writes. Two rounds at most: slot, then nothing.
  for (int round = 0; round < 4; ++round)
    {
      std::string error;
      switch (s.store->save(record.owner, record.subscription, record.bookmark, error))
        {
        case BookmarkStore::SaveResult::Committed: s.changed = true; return true;
        case BookmarkStore::SaveResult::Failed:
          throw ToolError("cannot store the bookmark of " + record.owner + ", " + record.subscription + " in " + path_ +
                          ": " + error + "; nothing was changed");
        case BookmarkStore::SaveResult::Pending: s.entries->run_queued(); break;
        }
    }
  throw ToolError("cannot store the bookmark of " + record.owner + ", " + record.subscription + " in " + path_ +
                  ": its entries were not allocated; nothing was changed");
}

bool PersistFileTarget::remove(const std::string &owner, const std::string &subscription)
{
  if (session_->mode != Mode::Write)
    throw std::logic_error("persist file opened for reading");
  const bool removed = session_->store->remove(owner, subscription);
  session_->changed |= removed;
  return removed;
}

void PersistFileTarget::commit()
{
  auto &s = *session_;
  if (s.mode != Mode::Write || !s.changed)
    return; // nothing to write: the file stays as it was
  // The new file is complete on disk before it replaces the old one.
  if (fsync(s.state->fd) != 0)
    throw ToolError("cannot write " + path_ + "-: " + errno_text() + "; nothing was changed");
  if (!persist_state_commit(s.state.get()))
    throw ToolError("cannot replace " + path_ + " with " + path_ + "-: " + errno_text() + "; nothing was changed");
  if (s.existed)
    {
      // persist-state creates the file 0600 for the user running the tool: keep what it was
      if (chmod(path_.c_str(), s.original.st_mode & 07777) != 0 ||
          (geteuid() == 0 && chown(path_.c_str(), s.original.st_uid, s.original.st_gid) != 0))
        std::cerr << "wec-bookmarks: warning: cannot restore the owner and mode of " << path_ << ": " << errno_text()
                  << '\n';
    }
  const std::string dir = path_.find('/') == std::string::npos ? "." : path_.substr(0, path_.rfind('/') + 1);
  const int dir_fd = open(dir.c_str(), O_RDONLY | O_DIRECTORY);
  if (dir_fd >= 0)
    {
      fsync(dir_fd); // the rename itself
      close(dir_fd);
    }
  s.changed = false;
}

std::string PersistFileTarget::describe() const
{
  return "persist file " + path_ + " (persist-name '" + persist_name_ + "')";
}

std::vector<std::string> PersistFileTarget::persist_names() const
{
  return ChunkedBookmarkStore::persist_names(*session_->entries);
}

} // namespace wec::tool
