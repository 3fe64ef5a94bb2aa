#pragma once
// FrontendService: dynamo-run's frontend process. An OpenAI-compatible HTTP server (http/), the
// router core (runtime/router, configured from the plan exactly as the simulator configures it),
// and the request plane to the workers (net/). It discovers workers through the run directory
// (run_dir.h), connects to each, routes every request, streams the workers' tokens back to the
// clients (SSE or one JSON body), feeds the router the workers' KV events and the requests'
// progress, and exports Prometheus metrics.
//
// Guarantees (docs/runtime.md): a request accepted is answered; when its worker dies (connection
// lost, or heartbeats stop) it moves to a healthy worker and continues from the tokens already
// sent, so the client sees one stream; a client that disconnects has its request cancelled on
// the worker (KV freed); overload (max_inflight) and the absence of workers answer 503.
//
// Disaggregated plans: a prompt goes to the prefill router's worker; its first token goes to the
// client, then the decode router picks a decode worker, which pulls the KV from the prefill
// worker over UCX and continues the stream (or prefills itself when the pull fails).
//
// Single-threaded: everything runs on the io_context the caller runs.
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "core/status.h"
#include "core/time.h"

namespace dynamo::planner {
class ScalingConnector;
}  // namespace dynamo::planner

namespace dynamo::service {

struct FrontendOptions {
  std::string host = "127.0.0.1";  // loopback unless told otherwise
  uint16_t port = 8000;            // 0: ephemeral (tests)
  std::string run_dir;             // discovery directory
  std::string model_name;          // the served model id; "" -> the plan's model name
  uint64_t seed = 1;               // the router's random streams (random policy, temperature)
  Duration scan_interval = Duration::Millis(100);
  Duration heartbeat_timeout = Duration::Millis(1500);  // a silent worker is removed after this
  int64_t max_inflight = 4096;                          // more concurrent requests -> 503
  size_t max_body_bytes = 1 << 20;
  Duration http_request_timeout = Duration::Seconds(10);  // slow clients (head + body)
  int migration_limit = 3;                                // moves per request after worker failures
  // A request that finds no worker waits this long for one (start-up, every worker dead).
  Duration no_worker_timeout = Duration::Seconds(30);
  // Routing starts once every worker of the plan registered (they join the router in plan
  // order, as in the simulator), or after this grace with at least one worker per role.
  Duration startup_grace = Duration::Seconds(60);
  // Drain on shutdown: requests still running after this are cancelled.
  Duration drain_timeout = Duration::Seconds(30);
  // The SLA planner (plan.planner.enabled): every plan.planner.interval_s it observes the
  // interval's TTFT/ITL and load, runs the planner core (built by planner/plan_planner, as the
  // simulator builds it) and asks `scaling` for the replicas it decided. Null: no planner.
  // Not owned; must outlive the frontend.
  planner::ScalingConnector* scaling = nullptr;
  std::shared_ptr<const perf::PerfModel> perf;  // the planner's capacity model prices steps
  // The workers' --time-scale: the planner's interval lasts interval_s x this, and observed
  // latencies are divided by it (the planner reasons in the plan's time).
  double time_scale = 1.0;
  int system_gpus = 0;  // the GPU budget when plan.planner.max_gpus is 0
};

struct FrontendStats {
  int64_t accepted = 0, completed = 0, failed = 0, cancelled = 0, rejected_503 = 0;
  int64_t migrations = 0, workers_lost = 0, tokens = 0;
  int64_t kv_fallbacks = 0;  // disaggregated: KV pulls that failed (the decode worker prefilled)
  int64_t planner_ticks = 0, scale_ups = 0, scale_downs = 0;  // workers asked for / drained
};

class FrontendService {
 public:
  // Error: a plan the runtime cannot serve yet, a router configuration the core refuses, a port
  // in use, a run directory that cannot be created.
  static StatusOr<std::unique_ptr<FrontendService>> Create(boost::asio::io_context& io,
                                                           const Plan& plan,
                                                           FrontendOptions options);
  ~FrontendService();
  FrontendService(const FrontendService&) = delete;
  FrontendService& operator=(const FrontendService&) = delete;

  uint16_t port() const;
  // Every worker of the plan is connected and in the router (or the grace ran out).
  bool ready() const;
  // Called once when ready() becomes true.
  void OnReady(std::function<void()> cb);
  // Stops accepting (new requests get 503), lets running requests finish (up to
  // drain_timeout), tells every worker to drain, writes routing.csv, then calls `done`.
  void Shutdown(std::function<void()> done);
  const FrontendStats& stats() const;
  // Tells the named worker to drain (the local planner connector's scale-down): it leaves the
  // router now, finishes what it holds, then exits. False when no such live worker.
  bool DrainWorker(const std::string& name);

 private:
  class Impl;
  explicit FrontendService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynamo::service
