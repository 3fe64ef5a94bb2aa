#include "runtime/service/process_group.h"

#include <fcntl.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>
#include <set>

#include <boost/asio/signal_set.hpp>

namespace dynamo::service {

class ProcessGroup::Impl {
 public:
  Impl(boost::asio::io_context& io, std::function<void(pid_t, const std::string&)> on_exit)
      : sigchld_(io, SIGCHLD), on_exit_(std::move(on_exit)) {
    Wait();
  }
  ~Impl() {
    boost::system::error_code ec;
    sigchld_.cancel(ec);
    for (pid_t p : running_) ::kill(p, SIGKILL);
    for (pid_t p : running_) ::waitpid(p, nullptr, 0);
  }

  void Wait() {
    sigchld_.async_wait([this](boost::system::error_code ec, int) {
      if (ec) return;
      Reap();
      Wait();
    });
  }

  void Reap() {
    for (;;) {
      int status = 0;
      const pid_t p = ::waitpid(-1, &status, WNOHANG);
      if (p <= 0) return;
      if (running_.erase(p) == 0) continue;  // not ours
      std::string how;
      if (WIFEXITED(status)) {
        how = "exited with status " + std::to_string(WEXITSTATUS(status));
      } else if (WIFSIGNALED(status)) {
        how = "killed by signal " + std::to_string(WTERMSIG(status));
      } else {
        how = "stopped";
      }
      if (on_exit_) on_exit_(p, how);
    }
  }

  StatusOr<pid_t> Spawn(const std::vector<std::string>& argv) {
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    const pid_t parent = ::getpid();
    const pid_t p = ::fork();
    if (p < 0) return IoError(std::string("cannot start a worker: fork: ") + std::strerror(errno));
    if (p == 0) {
      // Child: die with the launcher; if it already died, do not linger.
      ::prctl(PR_SET_PDEATHSIG, SIGTERM);
      if (::getppid() != parent) ::_exit(1);
      // Signals the launcher handles (Ctrl-C reaches the whole process group): the launcher
      // drains its workers itself, so they ignore SIGINT.
      ::signal(SIGINT, SIG_IGN);
      // Nothing of the launcher's (its HTTP socket, event loop) leaks into the worker.
      const long max_fd = std::min(::sysconf(_SC_OPEN_MAX), 65536L);
      for (int fd = 3; fd < max_fd; ++fd) ::close(fd);
      ::execv(args[0], args.data());
      const char msg[] = "dynamo-run: cannot exec the worker\n";
      [[maybe_unused]] ssize_t n = ::write(2, msg, sizeof(msg) - 1);
      ::_exit(127);
    }
    running_.insert(p);
    return p;
  }

  void Signal(int sig) {
    for (pid_t p : running_) ::kill(p, sig);
  }

  boost::asio::signal_set sigchld_;
  std::function<void(pid_t, const std::string&)> on_exit_;
  std::set<pid_t> running_;
};

ProcessGroup::ProcessGroup(boost::asio::io_context& io,
                           std::function<void(pid_t, const std::string&)> on_exit)
    : impl_(std::make_unique<Impl>(io, std::move(on_exit))) {}
ProcessGroup::~ProcessGroup() = default;
StatusOr<pid_t> ProcessGroup::Spawn(const std::vector<std::string>& argv) {
  return impl_->Spawn(argv);
}
void ProcessGroup::Signal(int sig) { impl_->Signal(sig); }
size_t ProcessGroup::running() const { return impl_->running_.size(); }
std::vector<pid_t> ProcessGroup::pids() const {
  return {impl_->running_.begin(), impl_->running_.end()};
}

StatusOr<std::string> SelfExecutable() {
  char buf[PATH_MAX];
  const ssize_t n = ::readlink("/proc/self/exe", buf, sizeof(buf) - 1);
  if (n <= 0) return IoError(std::string("cannot find this executable: ") + std::strerror(errno));
  return std::string(buf, static_cast<size_t>(n));
}

}  // namespace dynamo::service
