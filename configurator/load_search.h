#pragma once
// The highest load at which one plan meets the SLA, found by bisection with simulations.
//
// Multi-fidelity: short simulations (few requests) bracket the load between a passing and a
// failing value in log space; full simulations then confirm the bracket's bottom (stepping
// down while it fails) and narrow it further. Every simulation stops as soon as its SLA verdict
// is certainly a miss (SimOptions::stop_on_slo_miss). Loads are multiples of the base rate
// (open loop) or of the base concurrency (closed loop, rounded to whole requests in flight).
// Deterministic: the same inputs give the same probes.
#include <atomic>
#include <functional>
#include <memory>
#include <optional>

#include "configurator/load_source.h"
#include "configurator/sweep_types.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "sim/metrics.h"

namespace dynamo::configurator {

struct LoadSearchConfig {
  sim::SloSpec slo;
  uint64_t seed = 0;
  int64_t full_requests = 1000;
  int64_t short_requests = 250;
  double top_load = 1;     // where the search starts from above (the analytic bound)
  double span = 32;        // the bottom probe is top_load / span
  int short_steps = 5;     // bisections with short simulations
  int full_steps = 2;      // bisections with full simulations
  int max_extensions = 4;  // doublings above top_load while it still passes
  // Called after the short phase with the bracket's top (the lowest failing short load, or the
  // highest passing one when nothing failed); returning a reason stops the search there (the
  // candidate cannot win: pruned by its short-simulation estimate).
  std::function<std::optional<std::string>(double short_top_load, const LoadPoint& short_best)>
      after_short;
  // A demand: when the search ends below this load without having simulated it at full length,
  // one full simulation there decides.
  std::optional<double> must_reach;
  const std::atomic<bool>* cancel = nullptr;  // passed to every simulation
};

struct LoadSearchResult {
  std::optional<LoadPoint> best;      // highest full-fidelity load within the SLA
  std::string stopped;                // after_short's reason, when it stopped the search
  std::optional<LoadPoint> lightest;  // figures of the lowest load simulated (any fidelity)
  int simulations = 0, full_simulations = 0;
  int64_t requests_simulated = 0;
};

// Errors: a plan the simulator refuses (router/topology configuration), a workload that cannot
// be generated.
StatusOr<LoadSearchResult> SearchMaxLoad(const Plan& plan, const LoadSource& source,
                                         std::shared_ptr<const perf::PerfModel> perf,
                                         const LoadSearchConfig& config);

// One simulation at `load`: its figures and whether the SLA held. Also used to confirm the
// chosen plan (stop_early false: the whole workload runs).
struct Probe {
  bool pass = false;
  LoadPoint point;
  int64_t requests = 0;
};
StatusOr<Probe> SimulateAt(const Plan& plan, const LoadSource& source,
                           std::shared_ptr<const perf::PerfModel> perf, const sim::SloSpec& slo,
                           uint64_t seed, double load, int64_t requests, bool stop_early,
                           const std::atomic<bool>* cancel = nullptr);

}  // namespace dynamo::configurator
