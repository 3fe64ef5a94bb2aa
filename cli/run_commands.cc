#include "cli/run_commands.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cli/exit_codes.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "planner/connectors/kubernetes_connector.h"
#include "planner/connectors/local_connector.h"
#include "runtime/service/frontend_service.h"
#include "runtime/service/process_group.h"
#include "runtime/service/worker_service.h"

namespace dynamo::cli {
namespace {

namespace asio = boost::asio;

Status CheckEngine(const std::string& engine) {
  if (engine == "mock") return Status::Ok();
  return InvalidArgument("--engine " + engine +
                         ": this build runs the mock engine only (the step-latency model's "
                         "timing, deterministic tokens); use --engine mock");
}

Status CheckCommon(const std::string& host, double time_scale) {
  if (!(time_scale > 0) || time_scale > 1e6) {
    return InvalidArgument("--time-scale " + std::to_string(time_scale) +
                           ": must be in (0, 1e6]; 1 runs at the model's speed, 10 ten times "
                           "slower");
  }
  if (host.empty()) return InvalidArgument("--host: empty; use 127.0.0.1 or 0.0.0.0");
  return Status::Ok();
}

service::FrontendOptions FrontendOptionsFor(const RunArgs& a, const std::string& run_dir) {
  service::FrontendOptions fo;
  fo.host = a.host;
  fo.port = static_cast<uint16_t>(a.port);
  fo.run_dir = run_dir;
  fo.seed = a.seed;
  fo.max_inflight = a.max_inflight;
  fo.heartbeat_timeout = Duration::FromSecondsF(a.heartbeat_timeout_s);
  fo.drain_timeout = Duration::FromSecondsF(a.drain_timeout_s);
  return fo;
}

// Stops the loop after `frontend` shut down and every child exited (SIGTERM after a grace,
// SIGKILL after another).
class Stopper {
 public:
  Stopper(asio::io_context& io, service::ProcessGroup* procs)
      : io_(io), procs_(procs), timer_(io) {}
  void FrontendDone() {
    frontend_done_ = true;
    if (procs_ == nullptr || procs_->running() == 0) return io_.stop();
    timer_.expires_after(std::chrono::seconds(10));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec) return;
      std::fprintf(stderr, "dynamo-run: %zu worker(s) still running after 10 s; terminating\n",
                   procs_->running());
      procs_->Signal(SIGTERM);
      timer_.expires_after(std::chrono::seconds(5));
      timer_.async_wait([this](boost::system::error_code ec2) {
        if (ec2) return;
        procs_->Signal(SIGKILL);
      });
    });
  }
  void ChildExited() {
    if (frontend_done_ && procs_->running() == 0) {
      timer_.cancel();
      io_.stop();
    }
  }

 private:
  asio::io_context& io_;
  service::ProcessGroup* procs_;
  asio::steady_timer timer_;
  bool frontend_done_ = false;
};

// A double as text that parses back to the same value (std::to_string keeps 6 decimals: 1e-7
// would become 0).
std::string ExactNumber(double v) {
  char b[32];
  std::snprintf(b, sizeof(b), "%.17g", v);
  return b;
}

void PrintStats(const service::FrontendStats& s) {
  std::printf(
      "dynamo-run: %lld requests accepted, %lld completed, %lld failed, %lld cancelled by "
      "clients, %lld refused (503), %lld migrated after %lld worker failure(s), %lld tokens, "
      "%lld KV transfer fallback(s), %lld planner decision(s) (%lld worker(s) added, %lld "
      "drained)\n",
      static_cast<long long>(s.accepted), static_cast<long long>(s.completed),
      static_cast<long long>(s.failed), static_cast<long long>(s.cancelled),
      static_cast<long long>(s.rejected_503), static_cast<long long>(s.migrations),
      static_cast<long long>(s.workers_lost), static_cast<long long>(s.tokens),
      static_cast<long long>(s.kv_fallbacks), static_cast<long long>(s.planner_ticks),
      static_cast<long long>(s.scale_ups), static_cast<long long>(s.scale_downs));
}

}  // namespace

int RunLocal(const RunArgs& a) {
  Status st = CheckEngine(a.engine);
  if (st.ok()) st = CheckCommon(a.host, a.time_scale);
  if (!st.ok()) return ReportStatus(st);
  StatusOr<Plan> plan = LoadPlan(a.plan);
  if (!plan.ok()) return ReportStatus(plan.status());
  // Workers open the performance model themselves; check it here so a bad --perf-db fails once
  // (the planner prices steps with it too).
  auto perf = perf::OpenPerfModel(a.perf_db, plan->gpu, "the plan's system.gpu");
  if (!perf.ok()) return ReportStatus(perf.status());
  StatusOr<std::string> self = service::SelfExecutable();
  if (!self.ok()) return ReportStatus(self.status());

  std::string run_dir = a.run_dir;
  bool temporary = false;
  if (run_dir.empty()) {
    const char* tmp = std::getenv("TMPDIR");
    std::string templ = std::string(tmp && *tmp ? tmp : "/tmp") + "/dynamo-run.XXXXXX";
    if (::mkdtemp(templ.data()) == nullptr) {
      return ReportStatus(IoError("cannot create a run directory under " + templ));
    }
    run_dir = templ;
    temporary = true;
  }
  std::printf("seed: %llu\n", static_cast<unsigned long long>(a.seed));
  std::fflush(stdout);

  asio::io_context io;
  Stopper* stopper_ptr = nullptr;
  bool stopping = false;
  std::map<pid_t, std::string> worker_names;  // live worker processes
  std::unique_ptr<planner::LocalProcessConnector> scaling;
  service::ProcessGroup procs(io, [&](pid_t pid, const std::string& how) {
    if (!stopping) std::fprintf(stderr, "dynamo-run: worker process %d %s\n", pid, how.c_str());
    if (const auto it = worker_names.find(pid); it != worker_names.end()) {
      if (scaling) scaling->WorkerExited(it->second);
      worker_names.erase(it);
    }
    if (stopper_ptr) stopper_ptr->ChildExited();
  });
  Stopper stopper(io, &procs);
  stopper_ptr = &stopper;

  // One worker process of `pool` with replica number `replica`; its registration name.
  std::vector<int> next_replica(plan->workers.size(), 0);
  auto spawn = [&](int pool) -> StatusOr<std::string> {
    const WorkerPoolSpec& spec = plan->workers[static_cast<size_t>(pool)];
    const int r = next_replica[static_cast<size_t>(pool)]++;
    const std::string name = std::string(WorkerRoleName(spec.role)) + "-" + std::to_string(pool) +
                             "-" + std::to_string(r);
    std::vector<std::string> argv = {*self,          "worker",
                                     "--plan",       a.plan,
                                     "--pool",       std::to_string(pool),
                                     "--replica",    std::to_string(r),
                                     "--name",       name,
                                     "--run-dir",    run_dir,
                                     "--time-scale", ExactNumber(a.time_scale),
                                     "--engine",     a.engine};
    if (!a.perf_db.empty()) {
      argv.push_back("--perf-db");
      argv.push_back(a.perf_db);
    }
    if (spec.role != WorkerRole::kAggregated) {
      for (const auto& [flag, value] : {std::pair{"--kv-bytes-scale", a.kv.bytes_scale},
                                        std::pair{"--kv-timeout-s", a.kv.timeout_s},
                                        std::pair{"--kv-hold-timeout-s", a.kv.hold_timeout_s},
                                        std::pair{"--kv-poll-us", a.kv.poll_us}}) {
        argv.push_back(flag);
        argv.push_back(ExactNumber(value));
      }
      if (a.kv.refuse) argv.push_back("--kv-refuse");
    }
    ASSIGN_OR_RETURN(pid_t pid, procs.Spawn(argv));
    worker_names[pid] = name;
    return name;
  };

  // The planner's local connector starts and drains worker processes within the GPU budget.
  service::FrontendService* fe_ptr = nullptr;
  const int system_gpus = plan->system.gpus_per_node * plan->system.nodes;
  if (plan->planner.enabled && a.planner) {
    planner::LocalConnectorCallbacks cb;
    cb.spawn = spawn;
    cb.drain = [&fe_ptr](const std::string& name) {
      if (fe_ptr != nullptr) fe_ptr->DrainWorker(name);
    };
    auto c = planner::LocalProcessConnector::Create(
        io, *plan, plan->planner.max_gpus > 0 ? plan->planner.max_gpus : system_gpus,
        std::move(cb));
    if (!c.ok()) return ReportStatus(c.status());
    scaling = std::move(*c);
  }

  service::FrontendOptions fo = FrontendOptionsFor(a, run_dir);
  fo.scaling = scaling.get();
  fo.perf = *perf;
  fo.time_scale = a.time_scale;
  fo.system_gpus = system_gpus;
  StatusOr<std::unique_ptr<service::FrontendService>> frontend =
      service::FrontendService::Create(io, *plan, std::move(fo));
  if (!frontend.ok()) return ReportStatus(frontend.status());
  service::FrontendService& fe = **frontend;
  fe_ptr = &fe;

  int workers = 0;
  for (size_t pool = 0; pool < plan->workers.size(); ++pool) {
    for (int r = 0; r < plan->workers[pool].replicas; ++r) {
      StatusOr<std::string> name = spawn(static_cast<int>(pool));
      if (!name.ok()) return ReportStatus(name.status());
      if (scaling) scaling->Adopt(static_cast<int>(pool), *name);
      ++workers;
    }
  }
  fe.OnReady([&] {
    std::printf(
        "dynamo-run: serving %s at http://%s:%u/v1 with %d worker(s) (%s engine, "
        "time scale %g); run directory %s; Ctrl-C to stop\n",
        plan->model.name().c_str(), a.host.c_str(), fe.port(), workers, a.engine.c_str(),
        a.time_scale, run_dir.c_str());
    std::fflush(stdout);
  });

  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec,
                                                                      int sig) {
    if (ec) return;
    if (stopping) {
      std::fprintf(stderr, "dynamo-run: second signal: killing the workers\n");
      procs.Signal(SIGKILL);
      io.stop();
      return;
    }
    stopping = true;
    std::fprintf(stderr, "dynamo-run: %s: draining (again to kill)\n",
                 sig == SIGINT ? "interrupted" : "terminated");
    fe.Shutdown([&] { stopper.FrontendDone(); });
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  io.run();
  PrintStats(fe.stats());
  if (temporary) {
    std::error_code ec;
    std::filesystem::remove_all(run_dir, ec);
  }
  return kExitOk;
}

int RunFrontend(const RunArgs& a) {
  Status st = CheckCommon(a.host, a.time_scale);
  if (!st.ok()) return ReportStatus(st);
  StatusOr<Plan> plan = LoadPlan(a.plan);
  if (!plan.ok()) return ReportStatus(plan.status());
  auto perf = perf::OpenPerfModel(a.perf_db, plan->gpu, "the plan's system.gpu");
  if (!perf.ok()) return ReportStatus(perf.status());
  std::printf("seed: %llu\n", static_cast<unsigned long long>(a.seed));
  asio::io_context io;
  std::unique_ptr<planner::KubernetesConnector> scaling;
  if (a.k8s.enabled) {
    planner::KubernetesConnectorOptions ko;
    StatusOr<planner::KubernetesMode> mode = planner::ParseKubernetesMode(a.k8s.mode);
    StatusOr<planner::KubernetesKind> kind = planner::ParseKubernetesKind(a.k8s.kind);
    if (!mode.ok()) return ReportStatus(mode.status().WithContext("--k8s-mode"));
    if (!kind.ok()) return ReportStatus(kind.status().WithContext("--k8s-kind"));
    if (a.k8s.name.empty()) {
      return ReportStatus(InvalidArgument(
          "--k8s-name: required with --planner-connector kubernetes (the DynamoGraphDeployment's "
          "name, or the NAME of dynamo-config's NAME-<role>-<pool> Deployments)"));
    }
    ko.mode = *mode;
    ko.kind = *kind;
    ko.api_url = a.k8s.api_url;
    ko.token_file = a.k8s.token_file;
    ko.k8s_namespace = a.k8s.k8s_namespace;
    ko.name = a.k8s.name;
    ko.kubectl = a.k8s.kubectl;
    ko.timeout = Duration::FromSecondsF(a.k8s.timeout_s);
    if (ko.k8s_namespace.empty()) {
      const char* ns = std::getenv("POD_NAMESPACE");
      ko.k8s_namespace = ns != nullptr && *ns != '\0' ? ns : "default";
    }
    if (Status fill = planner::FillTargetsForPlan(*plan, a.k8s.backend, ko); !fill.ok()) {
      return ReportStatus(fill);
    }
    for (auto [target, given] :
         {std::pair{&ko.agg, &a.k8s.agg}, std::pair{&ko.prefill, &a.k8s.prefill},
          std::pair{&ko.decode, &a.k8s.decode}}) {
      if (!given->empty()) *target = *given;
    }
    auto c = planner::KubernetesConnector::Create(io, std::move(ko));
    if (!c.ok()) return ReportStatus(c.status());
    scaling = std::move(*c);
  }
  service::FrontendOptions fo = FrontendOptionsFor(a, a.run_dir);
  fo.scaling = scaling.get();
  fo.perf = *perf;
  fo.time_scale = a.time_scale;
  fo.system_gpus = plan->system.gpus_per_node * plan->system.nodes;
  auto frontend = service::FrontendService::Create(io, *plan, std::move(fo));
  if (!frontend.ok()) return ReportStatus(frontend.status());
  service::FrontendService& fe = **frontend;
  std::printf(
      "dynamo-run frontend: listening on http://%s:%u (%s)\n", a.host.c_str(), fe.port(),
      a.run_dir.empty() ? "workers register over HTTP" : ("run directory " + a.run_dir).c_str());
  std::fflush(stdout);
  asio::signal_set signals(io, SIGINT, SIGTERM);
  signals.async_wait([&](boost::system::error_code ec, int) {
    if (ec) return;
    fe.Shutdown([&] { io.stop(); });
  });
  io.run();
  PrintStats(fe.stats());
  return kExitOk;
}

int RunWorker(const WorkerArgs& args) {
  WorkerArgs a = args;
  if (a.run_dir.empty() == a.frontend.empty()) {
    return ReportStatus(InvalidArgument(
        "dynamo-run worker: give --run-dir DIR (local: register through files) or --frontend "
        "HOST:PORT (Kubernetes: register with the frontend over HTTP), not both"));
  }
  // On Kubernetes the pod's address comes from the downward API.
  if (!a.frontend.empty() && !a.host_given) {
    if (const char* ip = std::getenv("POD_IP"); ip != nullptr && *ip != '\0') a.host = ip;
  }
  Status st = CheckEngine(a.engine);
  if (st.ok()) st = CheckCommon(a.host, a.time_scale);
  if (!st.ok()) return ReportStatus(st);
  StatusOr<Plan> plan = LoadPlan(a.plan);
  if (!plan.ok()) return ReportStatus(plan.status());
  auto perf = perf::OpenPerfModel(a.perf_db, plan->gpu, "the plan's system.gpu");
  if (!perf.ok()) return ReportStatus(perf.status());
  asio::io_context io;
  service::WorkerOptions wo;
  wo.name = a.name;
  wo.pool = a.pool;
  wo.replica = a.replica;
  wo.host = a.host;
  wo.port = static_cast<uint16_t>(a.port);
  wo.time_scale = a.time_scale;
  wo.run_dir = a.run_dir;
  wo.kv_port = static_cast<uint16_t>(a.kv_port);
  wo.kv_bytes_scale = a.kv.bytes_scale;
  wo.kv_timeout = Duration::Seconds(a.kv.timeout_s);
  wo.kv_hold_timeout = Duration::Seconds(a.kv.hold_timeout_s);
  wo.kv_refuse = a.kv.refuse;
  wo.kv_poll_idle = Duration::FromSecondsF(a.kv.poll_us * 1e-6);
  wo.frontend = a.frontend;
  wo.frontend_timeout = Duration::Seconds(a.frontend_timeout_s);
  int exit_code = kExitOk;
  wo.on_failed = [&io, &exit_code](const Status& why) {
    std::fprintf(stderr, "error: %s\n", why.message().c_str());
    exit_code = kExitBadInput;
    io.stop();
  };
  wo.on_drained = [&io] { io.stop(); };
  bool draining = false;
  auto worker = service::WorkerService::Create(io, *plan, *perf, wo);
  if (!worker.ok()) return ReportStatus(worker.status());
  asio::signal_set signals(io, SIGINT, SIGTERM);
  std::function<void(boost::system::error_code, int)> on_signal = [&](boost::system::error_code ec,
                                                                      int) {
    if (ec) return;
    if (draining) {
      std::fprintf(stderr, "dynamo-run worker: second signal: exiting without draining\n");
      std::_Exit(kExitInterrupted);
    }
    draining = true;
    (*worker)->Drain(nullptr);
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);
  io.run();
  return exit_code;
}

}  // namespace dynamo::cli
