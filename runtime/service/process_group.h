#pragma once
// ProcessGroup: the worker processes the local launcher starts (fork + exec of this binary).
// Children die with the launcher (PR_SET_PDEATHSIG), so even a kill -9 of dynamo-run leaves no
// orphans; exits are reaped through SIGCHLD on the io_context. Single-threaded (io thread).
#include <sys/types.h>

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/io_context.hpp>

#include "core/status.h"

namespace dynamo::service {

class ProcessGroup {
 public:
  // `on_exit(pid, description)` runs for every child that exits ("exited with status 1",
  // "killed by signal 9").
  ProcessGroup(boost::asio::io_context& io, std::function<void(pid_t, const std::string&)> on_exit);
  ~ProcessGroup();  // SIGKILLs and reaps children still running
  ProcessGroup(const ProcessGroup&) = delete;
  ProcessGroup& operator=(const ProcessGroup&) = delete;

  // Starts `argv[0]` (a path) with `argv`; stdout/stderr inherited. Error: fork/exec failure.
  StatusOr<pid_t> Spawn(const std::vector<std::string>& argv);
  // Sends `sig` to every running child.
  void Signal(int sig);
  size_t running() const;
  std::vector<pid_t> pids() const;

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

// Path of the running executable (/proc/self/exe).
StatusOr<std::string> SelfExecutable();

}  // namespace dynamo::service
