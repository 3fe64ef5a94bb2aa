#pragma once
// dynamo-run's commands: the local launcher (frontend + router in this process, one process per
// worker), and the `frontend` and `worker` processes it (or Kubernetes) starts. Each returns the
// process exit code.
#include <cstdint>
#include <string>

namespace dynamo::cli {

// KV transfer between prefill and decode workers (disaggregated plans): given to the launcher,
// passed on to every worker it starts.
struct KvArgs {
  double bytes_scale = 1.0;    // KV bytes moved = model bytes/token x tokens x this
  double timeout_s = 10;       // a decode worker's pull slower than this falls back
  double hold_timeout_s = 60;  // a prefill worker frees KV nobody pulled after this
  bool refuse = false;         // fault injection (tests): prefill workers refuse every pull
  double poll_us = 200;        // UcxKvOptions::poll_idle in microseconds (0: no polling)
};

// `dynamo-run frontend` on Kubernetes: the planner scales the pools by patching replicas
// (planner/connectors/kubernetes_connector.h).
struct KubernetesArgs {
  bool enabled = false;      // --planner-connector kubernetes
  std::string mode = "api";  // api (HTTP to the API server) | kubectl
  std::string kind = "dgd";  // dgd (a DynamoGraphDeployment's services) | deployment
  std::string api_url = "http://127.0.0.1:8001";
  std::string token_file;
  std::string k8s_namespace;  // "" -> $POD_NAMESPACE, else "default"
  std::string name;  // the DGD's name, or the NAME of dynamo-config's NAME-<role>-<I> Deployments
  std::string backend = "vllm";      // DGD service names: VllmWorker, VllmPrefillWorker, ...
  std::string agg, prefill, decode;  // override a role's DGD service / Deployment name
  std::string kubectl = "kubectl";
  double timeout_s = 10;
};

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
  KvArgs kv;
  KubernetesArgs k8s;   // frontend only
  bool planner = true;  // local: --planner-connector local (default) or none
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
  int kv_port = 0;
  KvArgs kv;
  std::string frontend;  // "host:port": register over HTTP (Kubernetes) instead of --run-dir
  double frontend_timeout_s = 60;
  bool host_given = false;  // --host on the command line (else $POD_IP with --frontend)
};

int RunLocal(const RunArgs& args);
int RunFrontend(const RunArgs& args);
int RunWorker(const WorkerArgs& args);

}  // namespace dynamo::cli
