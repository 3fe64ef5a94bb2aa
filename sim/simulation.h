#pragma once
// One simulated run of a plan on a workload (`dynamo-sim run`): the driver that moves requests
// through the very cores dynamo-run uses (router, engine scheduler + KV block manager) on a
// virtual clock. Step durations come from the step-latency model; KV transfers from the network
// model. docs/simulator.md describes the event flow.
//
// Deterministic: the same plan, workload, performance model and seed give the same result bit
// for bit (RunSummary::fingerprint hashes every routing, scheduling and transfer decision).
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "core/status.h"
#include "core/workload/request.h"
#include "sim/metrics.h"

namespace dynamo::sim {

struct SimOptions {
  uint64_t seed = 0;
  SloSpec slo;
  Duration timeseries_interval = Duration::Seconds(1);
  bool keep_requests = true;  // RequestRecord per request in the result
  // Progress callback (fraction done in [0, 1]), called at most every ~1% of requests; may be
  // empty.
  std::function<void(double)> progress;
  // Planner warm-up: this workload's load, bucketed by the planner interval, is fed to the
  // predictors before the run (Dynamo's Mooncake-style warm-up). May be null; must outlive
  // Simulate.
  const Workload* planner_warmup = nullptr;
  // Stop as soon as the SLO verdict is certain to be a miss: more TTFTs (or ITL gaps) above the
  // target than the percentile allows of every request (every gap) the workload can produce.
  // The summary then has stopped_early set, the missed verdicts false, and covers only what ran.
  // For searches that only need the verdict (dynamo-sim sweep).
  bool stop_on_slo_miss = false;
  // Set from another thread (a signal handler's flag): the run stops at its next check (every
  // few thousand events) with RunSummary::cancelled. May be null.
  const std::atomic<bool>* cancel = nullptr;
  // Index every full block of every prompt in the prefix caches and the router, as dynamo-run
  // does, instead of only the blocks another request shares (the default: unique blocks are
  // never hit, and indexing them dominates the cost of long prompts). The fast path changes
  // nothing a request could hit, but the router's tie-break on cached-block counts and LRU
  // eviction see fewer blocks, so decisions may differ from dynamo-run's; this makes them equal.
  bool hash_every_block = false;
};

struct SimResult {
  RunSummary summary;
  std::vector<RequestRecord> requests;  // by request id (when keep_requests)
  std::vector<TimeseriesRow> timeseries;
  std::vector<PlannerRow> planner;  // one row per planner interval (planner enabled)
};

// Errors: a plan the simulator cannot run (a topology that cannot place the workers, a router
// or planner configuration its core refuses). Requests that can never be scheduled are counted as
// rejected, not errors.
StatusOr<SimResult> Simulate(const Plan& plan, const Workload& workload,
                             std::shared_ptr<const perf::PerfModel> perf,
                             const SimOptions& options);

}  // namespace dynamo::sim
