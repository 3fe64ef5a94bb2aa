#include "planner/plan_planner.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "core/json.h"
#include "core/perf/perf_model.h"

namespace dynamo::planner {
namespace {

Plan MakePlan(const std::string& json) {
  auto root = JsonDocument::Parse(json, "test_plan.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto plan = ParsePlan(*root);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return std::move(plan).value();
}

// One step-latency model per plan pool, built the way the simulator builds its pools.
std::vector<perf::StepLatencyModel> Models(const Plan& plan) {
  auto perf = std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(plan.gpu));
  std::vector<perf::StepLatencyModel> out;
  for (const WorkerPoolSpec& spec : plan.workers) {
    perf::WorkerConfig wc{spec.parallelism, plan.weight_dtype, plan.kv_dtype};
    auto m = perf::StepLatencyModel::Create(plan.model, wc, perf);
    EXPECT_TRUE(m.ok()) << m.status().message();
    out.push_back(std::move(m).value());
  }
  return out;
}

std::vector<const perf::StepLatencyModel*> Pointers(const std::vector<perf::StepLatencyModel>& m) {
  std::vector<const perf::StepLatencyModel*> out;
  for (const perf::StepLatencyModel& x : m) out.push_back(&x);
  return out;
}

// Decode pool first in the plan: the planner's order is still {prefill, decode}.
constexpr char kDisagg[] =
    R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "gpus_per_node": 8},
  "workers": [{"role": "decode", "replicas": 1, "tp": 2, "max_num_seqs": 128},
              {"role": "prefill", "replicas": 2, "tp": 1, "max_num_batched_tokens": 4096}],
  "planner": {"enabled": true, "ttft_ms": 300, "itl_ms": 20, "percentile": 95, "interval_s": 20,
              "startup_s": 45, "predictor": "moving_average", "moving_average_window": 3,
              "min_replicas": 1, "scale_down_margin": 0.7, "headroom_sigma": 1.5,
              "correction": false}})";

constexpr char kAgg[] =
    R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "gpus_per_node": 8},
  "workers": [{"role": "agg", "replicas": 1, "tp": 1}],
  "planner": {"enabled": true, "max_gpus": 6, "log1p": true,
              "kalman": {"q_level": 2, "q_trend": 0.5, "r": 20, "p0": 500}}})";

TEST(PlanPlannerTest, DisaggregatedPlanMapsPrefillThenDecode) {
  const Plan plan = MakePlan(kDisagg);
  const auto models = Models(plan);
  auto made = MakePlannerFor(plan, Pointers(models), /*system_gpus=*/8);
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ(made->plan_pools, (std::vector<int>{1, 0}));

  const SlaPlannerConfig& c = made->planner.config();
  EXPECT_EQ(c.mode, PlannerMode::kDisaggregated);
  EXPECT_EQ(c.ttft_ms, 300);
  EXPECT_EQ(c.itl_ms, 20);
  EXPECT_DOUBLE_EQ(c.percentile, 0.95);
  EXPECT_EQ(c.interval, Duration::Seconds(20));
  EXPECT_EQ(c.predictor.kind, PredictorKind::kMovingAverage);
  EXPECT_EQ(c.predictor.window, 3);
  EXPECT_EQ(c.max_gpus, 8);  // max_gpus unset: the system's GPUs
  EXPECT_EQ(c.scale_down_margin, 0.7);
  EXPECT_EQ(c.headroom_sigma, 1.5);
  EXPECT_FALSE(c.correction);
  EXPECT_EQ(c.lookahead_intervals, 1 + 3);  // 1 + ceil(45 / 20)

  const std::vector<PoolModel>& pools = made->planner.pools();
  ASSERT_EQ(pools.size(), 2u);
  const WorkerPoolSpec& prefill = plan.workers[1];
  const WorkerPoolSpec& decode = plan.workers[0];
  EXPECT_EQ(pools[0].gpus_per_worker, 1);
  EXPECT_EQ(pools[0].max_num_batched_tokens, 4096);
  EXPECT_EQ(pools[0].kv_capacity_tokens, prefill.memory.kv_blocks * prefill.block_size);
  EXPECT_EQ(pools[1].gpus_per_worker, 2);
  EXPECT_EQ(pools[1].max_num_seqs, 128);
  EXPECT_EQ(pools[1].kv_capacity_tokens, decode.memory.kv_blocks * decode.block_size);
  EXPECT_GT(pools[1].kv_capacity_tokens, 0);
  EXPECT_EQ(pools[0].min_replicas, 1);
}

TEST(PlanPlannerTest, AggregatedPlanMapsItsOnePool) {
  const Plan plan = MakePlan(kAgg);
  const auto models = Models(plan);
  auto made = MakePlannerFor(plan, Pointers(models), /*system_gpus=*/8);
  ASSERT_TRUE(made.ok()) << made.status().message();
  EXPECT_EQ(made->plan_pools, (std::vector<int>{0}));
  const SlaPlannerConfig& c = made->planner.config();
  EXPECT_EQ(c.mode, PlannerMode::kAggregated);
  EXPECT_EQ(c.max_gpus, 6);
  EXPECT_DOUBLE_EQ(c.percentile, 0.9);
  EXPECT_EQ(c.predictor.kind, PredictorKind::kKalman);
  EXPECT_TRUE(c.predictor.log1p);
  EXPECT_EQ(c.predictor.q_level, 2);
  EXPECT_EQ(c.predictor.q_trend, 0.5);
  EXPECT_EQ(c.predictor.r, 20);
  EXPECT_EQ(c.predictor.p0, 500);
  EXPECT_EQ(c.lookahead_intervals, 2);  // defaults: 1 + ceil(60 / 60)
}

TEST(PlanPlannerTest, TheSameModelsGiveTheSameDecisions) {
  const Plan plan = MakePlan(kDisagg);
  const auto models = Models(plan);
  auto a = MakePlannerFor(plan, Pointers(models), 8);
  auto b = MakePlannerFor(plan, Pointers(models), 8);
  ASSERT_TRUE(a.ok() && b.ok());
  Observation o;
  o.requests = 200;
  o.mean_isl = 2000;
  o.mean_osl = 200;
  o.prefill_replicas = 2;
  o.decode_replicas = 1;
  const ScalingDecision da = a->planner.Tick(Time::Zero() + Duration::Seconds(20), o);
  const ScalingDecision db = b->planner.Tick(Time::Zero() + Duration::Seconds(20), o);
  EXPECT_EQ(da.prefill_replicas, db.prefill_replicas);
  EXPECT_EQ(da.decode_replicas, db.decode_replicas);
  EXPECT_EQ(da.expected_ttft_ms, db.expected_ttft_ms);
  EXPECT_GE(da.prefill_replicas, 1);
}

TEST(PlanPlannerTest, SeveralPoolsOfOneRoleAreRefusedWithThePlanPath) {
  // The plan check allows it with the planner off; the planner cannot scale it.
  const Plan plan = MakePlan(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg"}, {"role": "agg", "tp": 2}]})");
  auto pools = PlannerPoolsOf(plan);
  ASSERT_FALSE(pools.ok());
  EXPECT_EQ(pools.status().message(),
            "test_plan.json: $.planner: the planner scales one pool per role but $.workers has 2 "
            "agg pools (indexes 0, 1); merge them or disable the planner");
  const auto models = Models(plan);
  auto made = MakePlannerFor(plan, Pointers(models), 8);
  ASSERT_FALSE(made.ok());
  EXPECT_EQ(made.status().message(), pools.status().message());
}

TEST(PlanPlannerTest, PlannerErrorsCarryThePlanContext) {
  Plan plan = MakePlan(kAgg);
  const auto models = Models(plan);
  plan.planner.predictor = "arima";
  auto bad_predictor = MakePlannerFor(plan, Pointers(models), 8);
  ASSERT_FALSE(bad_predictor.ok());
  EXPECT_EQ(bad_predictor.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad_predictor.status().message().rfind("test_plan.json: $.planner.predictor: ", 0), 0u)
      << bad_predictor.status().message();

  plan = MakePlan(kAgg);
  plan.planner.ttft_ms = -5;  // past the plan check: SlaPlanner::Create refuses it
  auto bad_target = MakePlannerFor(plan, Pointers(models), 8);
  ASSERT_FALSE(bad_target.ok());
  EXPECT_EQ(bad_target.status().message().rfind("test_plan.json: $.planner: ", 0), 0u)
      << bad_target.status().message();
}

// A rehearsal at a small time scale uses sub-minute intervals: fractional seconds are kept (they
// were truncated once, and interval_s < 1 then failed to build a planner).
TEST(PlanPlannerTest, FractionalIntervalIsKept) {
  std::string json = kAgg;
  json.replace(json.find("\"max_gpus\": 6"), 13, "\"max_gpus\": 6, \"interval_s\": 0.5");
  const Plan plan = MakePlan(json);
  auto config = PlannerConfigFor(plan, /*system_gpus=*/8);
  ASSERT_TRUE(config.ok()) << config.status().message();
  EXPECT_EQ(config->interval, Duration::Millis(500));
  const auto models = Models(plan);
  EXPECT_TRUE(MakePlannerFor(plan, Pointers(models), 8).ok());
}

}  // namespace
}  // namespace dynamo::planner
