#include "cli/run_commands.h"

#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <memory>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>

#include "cli/exit_codes.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
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

void PrintStats(const service::FrontendStats& s) {
  std::printf(
      "dynamo-run: %lld requests accepted, %lld completed, %lld failed, %lld cancelled by "
      "clients, %lld refused (503), %lld migrated after %lld worker failure(s), %lld tokens\n",
      static_cast<long long>(s.accepted), static_cast<long long>(s.completed),
      static_cast<long long>(s.failed), static_cast<long long>(s.cancelled),
      static_cast<long long>(s.rejected_503), static_cast<long long>(s.migrations),
      static_cast<long long>(s.workers_lost), static_cast<long long>(s.tokens));
}

}  // namespace

int RunLocal(const RunArgs& a) {
  Status st = CheckEngine(a.engine);
  if (st.ok()) st = CheckCommon(a.host, a.time_scale);
  if (!st.ok()) return ReportStatus(st);
  StatusOr<Plan> plan = LoadPlan(a.plan);
  if (!plan.ok()) return ReportStatus(plan.status());
  // Workers open the performance model themselves; check it here so a bad --perf-db fails once.
  if (auto perf = perf::OpenPerfModel(a.perf_db, plan->gpu, "the plan's system.gpu"); !perf.ok()) {
    return ReportStatus(perf.status());
  }
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
  StatusOr<std::unique_ptr<service::FrontendService>> frontend =
      service::FrontendService::Create(io, *plan, FrontendOptionsFor(a, run_dir));
  if (!frontend.ok()) return ReportStatus(frontend.status());
  service::FrontendService& fe = **frontend;

  Stopper* stopper_ptr = nullptr;
  bool stopping = false;
  service::ProcessGroup procs(io, [&](pid_t pid, const std::string& how) {
    if (!stopping) std::fprintf(stderr, "dynamo-run: worker process %d %s\n", pid, how.c_str());
    if (stopper_ptr) stopper_ptr->ChildExited();
  });
  Stopper stopper(io, &procs);
  stopper_ptr = &stopper;

  int workers = 0;
  for (size_t pool = 0; pool < plan->workers.size(); ++pool) {
    for (int r = 0; r < plan->workers[pool].replicas; ++r) {
      std::vector<std::string> argv = {*self,       "worker",          "--plan",
                                       a.plan,      "--pool",          std::to_string(pool),
                                       "--replica", std::to_string(r), "--run-dir",
                                       run_dir,     "--time-scale",    std::to_string(a.time_scale),
                                       "--engine",  a.engine};
      if (!a.perf_db.empty()) {
        argv.push_back("--perf-db");
        argv.push_back(a.perf_db);
      }
      StatusOr<pid_t> pid = procs.Spawn(argv);
      if (!pid.ok()) return ReportStatus(pid.status());
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
  if (a.run_dir.empty()) {
    return ReportStatus(InvalidArgument(
        "--run-dir: required; workers register there (dynamo-run worker --run-dir DIR)"));
  }
  StatusOr<Plan> plan = LoadPlan(a.plan);
  if (!plan.ok()) return ReportStatus(plan.status());
  std::printf("seed: %llu\n", static_cast<unsigned long long>(a.seed));
  asio::io_context io;
  auto frontend = service::FrontendService::Create(io, *plan, FrontendOptionsFor(a, a.run_dir));
  if (!frontend.ok()) return ReportStatus(frontend.status());
  service::FrontendService& fe = **frontend;
  std::printf("dynamo-run frontend: listening on http://%s:%u (run directory %s)\n", a.host.c_str(),
              fe.port(), a.run_dir.c_str());
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

int RunWorker(const WorkerArgs& a) {
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
  return kExitOk;
}

}  // namespace dynamo::cli
