#pragma once
// MakePlannerFor: the one mapping from a plan (its "planner" section and its worker pools) to an
// SlaPlanner. The simulator and dynamo-run both build their planner here, so that the runtime
// sizes pools with exactly the configuration the simulator predicted with.
//
// The caller supplies the step-latency model of each plan pool (the simulator takes it from the
// pool's StepTimer; dynamo-run builds it from core/perf the same way); the mapping copies the
// models of the pools the planner scales. Deterministic; no I/O.

#include <span>
#include <vector>

#include "core/perf/step_latency.h"
#include "core/plan/plan.h"
#include "core/status.h"
#include "planner/sla_planner.h"

namespace dynamo::planner {

// A planner for a plan, and where its pools are in the plan.
struct PlanPlanner {
  SlaPlanner planner;
  // [planner pool] index into plan.workers: {agg pool} or {prefill pool, decode pool}. The
  // planner's ScalingDecision maps prefill_replicas to plan_pools[0] and decode_replicas to
  // plan_pools[1] (disaggregated), or decode_replicas to plan_pools[0] (aggregated).
  std::vector<int> plan_pools;
};

// The plan pools the planner scales, in the planner's order (see PlanPlanner::plan_pools).
// InvalidArgument ("<source>: $.planner: ...") when a role has several pools (the plan check
// refuses that with the planner on) or the plan has no pool the planner could scale.
StatusOr<std::vector<int>> PlannerPoolsOf(const Plan& plan);

// plan.planner -> the SlaPlanner's configuration: targets, percentile (percent -> fraction),
// interval, predictor, budget (plan.planner.max_gpus, or `system_gpus` when it is 0), scale-down
// margin, correction, headroom, and the look-ahead 1 + ceil(startup_s / interval_s) intervals
// (capacity decided now serves after the start-up delay). Errors carry "<source>: $.planner".
StatusOr<SlaPlannerConfig> PlannerConfigFor(const Plan& plan, int system_gpus);

// Builds the planner for `plan`. `step_models`: [plan pool] the step-latency model of one worker
// of that pool; precondition (CHECK): one non-null pointer per entry of plan.workers. The
// pointees are copied (only for the pools the planner scales) and need not outlive the call.
// `system_gpus`: the GPU budget when plan.planner.max_gpus is 0 (the system's GPUs). Errors
// (InvalidArgument from SlaPlanner::Create, PlannerPoolsOf, PlannerConfigFor) carry the context
// "<plan source>: $.planner".
StatusOr<PlanPlanner> MakePlannerFor(const Plan& plan,
                                     std::span<const perf::StepLatencyModel* const> step_models,
                                     int system_gpus);

}  // namespace dynamo::planner
