// The SLA planner in the loop: the simulator drives planner::SlaPlanner with virtual time,
// starts workers after their start-up delay and drains the ones it removes.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <string>

#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/workload/synthetic_workload.h"
#include "sim/simulation.h"
#include "tests/sim/sim_test_util.h"

namespace dynamo::sim {
namespace {

using testing_util::MakePlan;
using testing_util::MakeWorkload;

SimResult RunSim(const Plan& plan, const Workload& wl, uint64_t seed = 1) {
  auto gpu = LoadGpu("h200_sxm");
  EXPECT_TRUE(gpu.ok());
  SimOptions opt;
  opt.seed = seed;
  auto r = Simulate(plan, wl,
                    std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*gpu)), opt);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(*r);
}

void ExpectAllServed(const SimResult& r) {
  EXPECT_EQ(r.summary.completed, r.summary.requests);
  EXPECT_EQ(r.summary.stalled, 0);
  EXPECT_EQ(r.summary.kv_blocks_in_use_at_end, 0);
  for (const RequestRecord& rec : r.requests) {
    ASSERT_TRUE(rec.done()) << "request " << rec.id.value();
    EXPECT_EQ(rec.output, std::max(1, rec.osl));
  }
}

// 30 minutes of load swinging 5x: 4 req/s at the start and end, 20 req/s at 15 minutes.
constexpr char kSinusoidWorkload[] = R"({
  "duration_s": 1800, "seed": 11,
  "arrival": {"process": "poisson",
              "shape": {"kind": "sinusoid", "period_s": 1800, "min_rps": 4, "max_rps": 20}},
  "isl": {"dist": "uniform", "min": 1024, "max": 3072},
  "osl": {"dist": "uniform", "min": 128, "max": 384}})";

std::string AggPlan(int replicas, bool planner) {
  return R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "gpus_per_node": 8},
    "workers": [{"role": "agg", "replicas": )" +
         std::to_string(replicas) + R"(, "tp": 1}],
    "router": {"policy": "kv"},
    "planner": {"enabled": )" +
         std::string(planner ? "true" : "false") +
         R"(, "ttft_ms": 500, "itl_ms": 30, "interval_s": 30,
                "startup_s": 30, "max_gpus": 8}})";
}

// The issue's acceptance test: a load swinging 5x over 30 simulated minutes. The planner meets
// the TTFT and ITL p90 targets in at least 95% of its intervals while holding fewer GPU-seconds
// than the static plan sized for the peak.
TEST(SimulationPlannerTest, SinusoidalLoadMeetsTheSlaWithFewerGpuSeconds) {
  const Workload wl = MakeWorkload(kSinusoidWorkload);
  const SimResult planned = RunSim(MakePlan(AggPlan(1, true)), wl);
  ExpectAllServed(planned);
  // The static plan sized for the peak: the most GPUs the planner ever held.
  int64_t peak = 0;
  for (const TimeseriesRow& row : planned.timeseries) peak = std::max(peak, row.gpus);
  const SimResult fixed = RunSim(MakePlan(AggPlan(static_cast<int>(peak), false)), wl);
  ExpectAllServed(fixed);
  const RunSummary& p = planned.summary;
  std::printf(
      "planner: %lld intervals, %.1f%% within SLA, %.0f GPU-s (%.2f GPUs on average, peak %lld), "
      "%lld scale-ups, %lld scale-downs; TTFT p90 %.1f ms, ITL p90 %.2f ms\n"
      "static %lld GPUs: %.0f GPU-s; TTFT p90 %.1f ms, ITL p90 %.2f ms\n",
      static_cast<long long>(p.planner_intervals), 100 * p.planner_intervals_within_sla,
      p.gpu_seconds, p.gpus_avg, static_cast<long long>(peak), static_cast<long long>(p.scale_ups),
      static_cast<long long>(p.scale_downs), p.ttft_ms.p90, p.itl_ms.p90,
      static_cast<long long>(peak), fixed.summary.gpu_seconds, fixed.summary.ttft_ms.p90,
      fixed.summary.itl_ms.p90);
  EXPECT_GE(p.planner_intervals, 55);
  EXPECT_GE(p.planner_intervals_within_sla, 0.95);
  EXPECT_GT(p.scale_ups, 0);
  EXPECT_GT(p.scale_downs, 0);
  EXPECT_GT(peak, 1);
  EXPECT_LT(p.gpu_seconds, 0.85 * fixed.summary.gpu_seconds);
}

// A step up in load: new workers take requests only after their start-up delay.
TEST(SimulationPlannerTest, NewWorkersServeOnlyAfterStartup) {
  const Workload wl = MakeWorkload(R"({
    "duration_s": 600, "seed": 5,
    "arrival": {"process": "poisson", "shape": {"kind": "steps", "steps": [[0, 2], [200, 16]]}},
    "isl": {"dist": "fixed", "value": 2048}, "osl": {"dist": "fixed", "value": 256}})");
  const Plan plan = MakePlan(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 1, "tp": 1}],
    "planner": {"enabled": true, "interval_s": 20, "startup_s": 45, "max_gpus": 8}})");
  const SimResult r = RunSim(plan, wl);
  ExpectAllServed(r);
  ASSERT_GT(r.summary.scale_ups, 0);
  // The first second in which the time series shows more than one GPU held is when the first
  // new worker started loading; no request reaches a new worker (id >= 1) before it is ready.
  double first_grow_s = -1;
  for (const TimeseriesRow& row : r.timeseries) {
    if (row.gpus > 1) {
      first_grow_s = row.t_s;
      break;
    }
  }
  ASSERT_GE(first_grow_s, 200 - 21.0);  // the step comes at 200 s; a decision every 20 s
  double first_served_s = 1e18;
  for (const RequestRecord& rec : r.requests) {
    if (rec.prefill_worker >= 1) first_served_s = std::min(first_served_s, rec.admitted.seconds());
  }
  EXPECT_GE(first_served_s, first_grow_s + 45 - 1.0);
}

// A step down: the planner drains workers; every request already on them finishes.
TEST(SimulationPlannerTest, ScaleDownDrainsWithoutLosingRequests) {
  const Workload wl = MakeWorkload(R"({
    "duration_s": 600, "seed": 6,
    "arrival": {"process": "poisson", "shape": {"kind": "steps", "steps": [[0, 16], [250, 1]]}},
    "isl": {"dist": "fixed", "value": 2048}, "osl": {"dist": "fixed", "value": 256}})");
  const Plan plan = MakePlan(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 4, "tp": 1}],
    "planner": {"enabled": true, "interval_s": 20, "startup_s": 30, "max_gpus": 8}})");
  const SimResult r = RunSim(plan, wl);
  ExpectAllServed(r);
  EXPECT_GT(r.summary.scale_downs, 0);
  EXPECT_LT(r.timeseries.back().gpus, 4);
  EXPECT_LT(r.summary.gpu_seconds, 4 * r.timeseries.back().t_s);
}

// Both pools of a disaggregated plan scale, and the run stays deterministic.
TEST(SimulationPlannerTest, DisaggregatedPoolsScaleDeterministically) {
  const Workload wl = MakeWorkload(R"({
    "duration_s": 400, "seed": 8,
    "arrival": {"process": "poisson", "shape": {"kind": "steps", "steps": [[0, 1], [100, 12]]}},
    "isl": {"dist": "fixed", "value": 4096}, "osl": {"dist": "fixed", "value": 256}})");
  const Plan plan = MakePlan(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "prefill", "replicas": 1, "tp": 1},
                {"role": "decode", "replicas": 1, "tp": 1}],
    "router": {"policy": "kv"},
    "planner": {"enabled": true, "interval_s": 20, "startup_s": 20, "max_gpus": 8}})");
  const SimResult a = RunSim(plan, wl, 3);
  ExpectAllServed(a);
  EXPECT_GT(a.summary.scale_ups, 0);
  int max_prefill = 0, max_decode = 0;
  for (const RequestRecord& rec : a.requests) {
    max_prefill = std::max(max_prefill, rec.prefill_worker);
    max_decode = std::max(max_decode, rec.decode_worker);
  }
  EXPECT_GT(std::max(max_prefill, max_decode), 1);  // a new worker (id >= 2) served someone
  const SimResult b = RunSim(plan, wl, 3);
  EXPECT_EQ(a.summary.fingerprint, b.summary.fingerprint);
  EXPECT_EQ(a.summary.gpu_seconds, b.summary.gpu_seconds);
}

}  // namespace
}  // namespace dynamo::sim
