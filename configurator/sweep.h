#pragma once
// The sweep engine behind `dynamo-sim sweep`: enumerate the search space (search_space.h), bound
// every candidate analytically (bounds.h), search each survivor's highest load within the SLA
// with simulations (load_search.h), mark the Pareto front and choose the plan (pareto.h), then
// confirm the choice with a full simulation. docs/sweep.md describes the method.
//
// Candidates are evaluated in waves of a fixed size, in an order fixed by the inputs (the most
// promising first). Pruning inside a wave only uses the best result of earlier waves, so the
// outcome does not depend on the number of threads or on which thread finishes first.
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "configurator/search_space.h"
#include "configurator/sweep_types.h"
#include "core/perf/perf_model.h"
#include "core/status.h"

namespace dynamo::configurator {

struct SweepProgress {
  int64_t done = 0, total = 0;  // candidates decided / in this shard
  int64_t simulations = 0;
};

struct SweepOptions {
  SearchSpace space;  // empty tp: DefaultSearchSpace's axes (the other axes as given)
  // Skip candidates whose analytic bound or short simulations cannot beat the best so far.
  // Off: every feasible candidate is searched with full simulations (brute force).
  bool prune = true;
  int64_t short_requests = 0;  // 0: a quarter of the full count, at least 100
  int wave = 16;               // candidates per wave (independent of the thread count)
  // Called from the sweep's threads, serialized, after each candidate. May be empty.
  std::function<void(const SweepProgress&)> progress;
  // Set by a signal handler: the sweep stops and returns kCancelled. May be null.
  const std::atomic<bool>* cancel = nullptr;
};

struct SweepRun {
  SweepOutcome outcome;
  // A workload file for `dynamo-sim run` that reproduces the chosen plan's figures (empty when
  // nothing passed).
  std::string best_workload_json;
  std::string workload_description;
  // Nothing passed: why, and what the closest candidate achieves (empty otherwise).
  std::string no_plan_reason;
};

// Errors: bad inputs (unknown model or GPU, a budget too small for the model, a workload the
// sweep cannot scale), with what to change; kCancelled when `cancel` was set.
StatusOr<SweepRun> RunSweep(const SweepInputs& in, std::shared_ptr<const perf::PerfModel> perf,
                            const SweepOptions& options);

// The end of a sweep, shared with `dynamo-sim merge`: counts, Pareto front, the choice, its
// confirmation simulation, best_plan.json and the workload reproducing it. `run.outcome` holds
// the inputs and results (merged shards: every shard's rows).
class LoadSource;
Status ConcludeSweep(SweepRun& run, const Plan& base, const LoadSource& source,
                     std::shared_ptr<const perf::PerfModel> perf);
// ConcludeSweep for merged shards: rebuilds the base plan and the load source from the inputs.
StatusOr<SweepRun> ConcludeMerged(SweepOutcome merged, std::shared_ptr<const perf::PerfModel> perf);

}  // namespace dynamo::configurator
