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
// Disaggregated plans: a prefill worker computes the prompt, sends the first token, and holds the
// KV until the decode worker pulls it (kvtransfer/ucx_kv_transport.h); a decode worker reserves
// blocks for a request (the engine scheduler's kv_reserved), pulls the KV from the prefill worker
// named in the request, then decodes; a failed or timed-out pull makes it prefill the prompt
// itself (the first token is already out: it continues from the second).
// Discovery: with a run directory the worker writes its registration there and rewrites it every
// heartbeat (run_dir.h); with a frontend address it posts the same registration to the frontend
// (POST /internal/workers) every heartbeat and deregisters when drained.
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
  // "host:port" of a frontend to register with over HTTP (Kubernetes: no shared directory); the
  // registration is posted every heartbeat. "" -> none.
  std::string frontend;
  // The frontend unreachable this long (from start, or since the last registration it took):
  // on_failed runs (the process exits non-zero).
  Duration frontend_timeout = Duration::Seconds(60);
  std::function<void(const Status&)> on_failed;
  Duration heartbeat_interval = Duration::Millis(250);
  Duration load_interval = Duration::Millis(100);  // Load messages to the frontend
  // Disaggregated plans (prefill and decode workers): KV transfer over UCX.
  uint16_t kv_port = 0;  // the UCX listener's port (0: ephemeral), on `host`
  // Bytes moved per prompt token = the model's KV bytes per token (all layers, K and V) x this
  // factor: 1 moves what the real engine would; a smaller factor keeps a local rehearsal of a big
  // plan within one machine's memory bandwidth.
  double kv_bytes_scale = 1.0;
  Duration kv_timeout = Duration::Seconds(10);  // decode: a pull slower than this falls back
  // Prefill: KV that no decode worker pulled within this is freed (the decode worker died or
  // fell back to prefilling itself).
  Duration kv_hold_timeout = Duration::Seconds(60);
  bool kv_refuse = false;  // fault injection for tests: refuse every pull (decode falls back)
  Duration kv_poll_idle = Duration::Micros(200);  // kvtransfer::UcxKvOptions::poll_idle
  // Runs (posted) when the worker finished draining, whoever asked (a Drain message from the
  // frontend, Drain()); the process exits then.
  std::function<void()> on_drained;
};

struct WorkerStats {
  int64_t requests = 0, rejected = 0, cancelled = 0, finished = 0;
  int64_t steps = 0, tokens = 0, preemptions = 0;
  int64_t kv_pulls_ok = 0, kv_fallbacks = 0, kv_sent = 0, kv_expired = 0;
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
