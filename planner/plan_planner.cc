#include "planner/plan_planner.h"

#include <cmath>
#include <cstdint>
#include <string>
#include <utility>

#include "core/check.h"

namespace dynamo::planner {
namespace {

std::string Context(const Plan& plan) { return plan.source + ": $.planner"; }

// The roles the planner scales, in its pool order.
std::vector<WorkerRole> PlannerRoles(const Plan& plan) {
  if (plan.disaggregated()) return {WorkerRole::kPrefill, WorkerRole::kDecode};
  return {WorkerRole::kAggregated};
}

}  // namespace

StatusOr<std::vector<int>> PlannerPoolsOf(const Plan& plan) {
  std::vector<int> out;
  for (WorkerRole role : PlannerRoles(plan)) {
    std::vector<int> found;
    for (size_t pi = 0; pi < plan.workers.size(); ++pi) {
      if (plan.workers[pi].role == role) found.push_back(static_cast<int>(pi));
    }
    const std::string name(WorkerRoleName(role));
    if (found.empty()) {
      return InvalidArgument(Context(plan) +
                             ": the planner scales an agg pool, or a prefill and "
                             "a decode pool, but $.workers has no " +
                             name + " pool; add one or disable the planner");
    }
    if (found.size() > 1) {
      std::string where;
      for (int pi : found) where += (where.empty() ? "" : ", ") + std::to_string(pi);
      return InvalidArgument(Context(plan) + ": the planner scales one pool per role but " +
                             "$.workers has " + std::to_string(found.size()) + " " + name +
                             " pools (indexes " + where + "); merge them or disable the planner");
    }
    out.push_back(found.front());
  }
  return out;
}

StatusOr<SlaPlannerConfig> PlannerConfigFor(const Plan& plan, int system_gpus) {
  const PlannerSpec& ps = plan.planner;
  SlaPlannerConfig pc;
  pc.mode = plan.disaggregated() ? PlannerMode::kDisaggregated : PlannerMode::kAggregated;
  pc.ttft_ms = ps.ttft_ms;
  pc.itl_ms = ps.itl_ms;
  pc.percentile = ps.percentile / 100.0;
  // Fractional seconds allowed; the simulator schedules its ticks at this interval.
  pc.interval = Duration::FromSecondsF(ps.interval_s);
  auto kind = ParsePredictorKind(ps.predictor);
  if (!kind.ok()) return kind.status().WithContext(Context(plan) + ".predictor");
  pc.predictor.kind = *kind;
  pc.predictor.q_level = ps.kalman_q_level;
  pc.predictor.q_trend = ps.kalman_q_trend;
  pc.predictor.r = ps.kalman_r;
  pc.predictor.p0 = ps.kalman_p0;
  pc.predictor.log1p = ps.log1p;
  pc.predictor.window = ps.moving_average_window;
  pc.max_gpus = ps.max_gpus > 0 ? ps.max_gpus : system_gpus;
  pc.scale_down_margin = ps.scale_down_margin;
  pc.correction = ps.correction;
  pc.headroom_sigma = ps.headroom_sigma;
  if (!(ps.interval_s > 0)) {
    return InvalidArgument(Context(plan) + ".interval_s: " + std::to_string(ps.interval_s) +
                           " is not positive; use a planner interval > 0 s, e.g. 60");
  }
  // Capacity decided now serves after the start-up delay: plan for that horizon.
  pc.lookahead_intervals = 1 + static_cast<int>(std::ceil(ps.startup_s / ps.interval_s));
  return pc;
}

StatusOr<PlanPlanner> MakePlannerFor(const Plan& plan,
                                     std::span<const perf::StepLatencyModel* const> step_models,
                                     int system_gpus) {
  DYNAMO_CHECK(step_models.size() == plan.workers.size());
  ASSIGN_OR_RETURN(std::vector<int> plan_pools, PlannerPoolsOf(plan));
  ASSIGN_OR_RETURN(SlaPlannerConfig config, PlannerConfigFor(plan, system_gpus));
  std::vector<PoolModel> pools;
  for (int pi : plan_pools) {
    const perf::StepLatencyModel* model = step_models[static_cast<size_t>(pi)];
    DYNAMO_CHECK(model != nullptr);
    const WorkerPoolSpec& spec = plan.workers[static_cast<size_t>(pi)];
    PoolModel m{*model};
    m.gpus_per_worker = spec.parallelism.gpus();
    m.max_num_seqs = spec.max_num_seqs;
    m.max_num_batched_tokens = spec.max_num_batched_tokens;
    m.kv_capacity_tokens = spec.memory.kv_blocks * spec.block_size;
    m.min_replicas = plan.planner.min_replicas;
    pools.push_back(std::move(m));
  }
  auto planner = SlaPlanner::Create(config, std::move(pools));
  if (!planner.ok()) return planner.status().WithContext(Context(plan));
  return PlanPlanner{std::move(*planner), std::move(plan_pools)};
}

}  // namespace dynamo::planner
