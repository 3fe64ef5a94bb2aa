#pragma once
// WorkerService: one dynamo-run worker process's event loop. It drives the engine scheduler core
// (runtime/worker/engine_scheduler.h, the very core the simulator drives) on the real clock:
// requests arrive over the request plane (net/wire.h) from the frontend, each engine step lasts
// what the mock engine says (the step-latency model's time for that batch, times --time-scale),
// then its tokens go back, one StepReport per step, and the prefix cache's KV events follow.
//
// Lifecycle: listening -> serving (any number of frontend connections; requests belong to the
// connection that sent them and are cancelled when it closes) -> draining (rejects new requests,
// finishes what it holds) -> done (registration removed, connections closed).
// Discovery: with a run directory the worker writes its registration there and rewrites it every
// heartbeat (run_dir.h).
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

namespace dynamo::service {

struct WorkerOptions {
  std::string name;                // registration name; "" -> "<role>-<pool>-<replica or pid>"
  int32_t pool = 0;                // index in plan.workers
  int32_t replica = -1;            // the launcher's replica number (-1: started by hand)
  std::string host = "127.0.0.1";  // address to listen on and to advertise
  uint16_t port = 0;               // 0: ephemeral
  double time_scale = 1.0;         // every mock step lasts time_scale x the model's step time
  std::string run_dir;             // "" -> no file registration (the caller registers another way)
  Duration heartbeat_interval = Duration::Millis(250);
  Duration load_interval = Duration::Millis(100);  // Load messages to the frontend
  // Runs (posted) when the worker finished draining, whoever asked (a Drain message from the
  // frontend, Drain()); the process exits then.
  std::function<void()> on_drained;
};

struct WorkerStats {
  int64_t requests = 0, rejected = 0, cancelled = 0, finished = 0;
  int64_t steps = 0, tokens = 0, preemptions = 0;
};

class WorkerService {
 public:
  // Error: a bad pool index, a pool the performance model cannot price, a port in use.
  static StatusOr<std::unique_ptr<WorkerService>> Create(
      boost::asio::io_context& io, const Plan& plan, std::shared_ptr<const perf::PerfModel> perf,
      WorkerOptions options);
  ~WorkerService();
  WorkerService(const WorkerService&) = delete;
  WorkerService& operator=(const WorkerService&) = delete;

  uint16_t port() const;
  const std::string& name() const;
  // Stops accepting requests, finishes those it holds, removes its registration, closes its
  // connections, then calls `done` (on the io thread). Idempotent (the first `done` wins).
  void Drain(std::function<void()> done);
  const WorkerStats& stats() const;

 private:
  class Impl;
  explicit WorkerService(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynamo::service
