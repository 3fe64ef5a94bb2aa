#pragma once
// dynamo-run's commands: the local launcher (frontend + router in this process, one process per
// worker), and the `frontend` and `worker` processes it (or Kubernetes) starts. Each returns the
// process exit code.
#include <cstdint>
#include <string>

namespace dynamo::cli {

struct RunArgs {
  std::string plan;
  std::string engine = "mock";
  std::string host = "127.0.0.1";
  int port = 8000;
  std::string run_dir;  // "" -> a temporary directory, removed at exit
  double time_scale = 1.0;
  uint64_t seed = 1;
  std::string perf_db;
  int64_t max_inflight = 4096;
  double heartbeat_timeout_s = 1.5;
  double drain_timeout_s = 30;
};

struct WorkerArgs {
  std::string plan;
  std::string engine = "mock";
  int pool = 0;
  int replica = -1;
  std::string name;
  std::string run_dir;
  std::string host = "127.0.0.1";
  int port = 0;
  double time_scale = 1.0;
  std::string perf_db;
};

int RunLocal(const RunArgs& args);
int RunFrontend(const RunArgs& args);
int RunWorker(const WorkerArgs& args);

}  // namespace dynamo::cli
