#include "planner/sla_planner.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "core/hardware/gpu_spec.h"
#include "core/model/model_catalog.h"
#include "core/perf/perf_model.h"

namespace dynamo::planner {
namespace {

constexpr double kIsl = 2048;
constexpr double kOsl = 256;

perf::StepLatencyModel Step(int tp = 1) {
  auto gpu = LoadGpu("h200_sxm");
  EXPECT_TRUE(gpu.ok()) << gpu.status().message();
  auto perf = std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*gpu));
  auto model = LoadModel("llama-3.1-8b");
  EXPECT_TRUE(model.ok()) << model.status().message();
  perf::WorkerConfig wc;
  wc.parallelism.tp = tp;
  auto step = perf::StepLatencyModel::Create(*model, wc, perf);
  EXPECT_TRUE(step.ok()) << step.status().message();
  return std::move(step).value();
}

PoolModel Pool(int tp = 1) {
  PoolModel p{.step = Step(tp)};
  p.gpus_per_worker = tp;
  p.kv_capacity_tokens = 800'000;
  return p;
}

SlaPlannerConfig Config(PlannerMode mode) {
  SlaPlannerConfig c;
  c.mode = mode;
  c.interval = Duration::Seconds(60);
  c.predictor.kind = PredictorKind::kConstant;  // the forecast is the last observation
  c.correction = false;
  return c;
}

SlaPlanner Make(const SlaPlannerConfig& c, std::vector<PoolModel> pools) {
  auto p = SlaPlanner::Create(c, std::move(pools));
  EXPECT_TRUE(p.ok()) << p.status().message();
  return std::move(p).value();
}

SlaPlanner MakeAgg(SlaPlannerConfig c = Config(PlannerMode::kAggregated)) {
  std::vector<PoolModel> pools;
  pools.push_back(Pool());
  return Make(c, std::move(pools));
}

SlaPlanner MakeDisagg(SlaPlannerConfig c = Config(PlannerMode::kDisaggregated)) {
  std::vector<PoolModel> pools;
  pools.push_back(Pool());
  pools.push_back(Pool());
  return Make(c, std::move(pools));
}

// An interval with `rps` arrivals per second of the standard request shape.
Observation Load(double rps, int prefill = 0, int decode = 0) {
  Observation o;
  o.requests = rps * 60;
  o.mean_isl = kIsl;
  o.mean_osl = kOsl;
  o.prefill_replicas = prefill;
  o.decode_replicas = decode;
  return o;
}

Time At(int tick) { return Time::Zero() + Duration::Seconds(60) * tick; }

TEST(SlaPlannerCapacityTest, Llama8bOnOneH200) {
  SlaPlanner p = MakeDisagg();
  const double prefill = p.PrefillWorkerRps(0, kIsl, 500);
  const int batch = p.DecodeBatchFor(1, kIsl + kOsl / 2, 30);
  const double decode = p.DecodeWorkerRps(1, kIsl, kOsl, 30);
  const double agg = p.AggWorkerRps(kIsl, kIsl, kOsl, 500, 30);
  std::printf(
      "llama-3.1-8b, h200_sxm tp1, ISL 2048 / OSL 256, TTFT 500 ms / ITL 30 ms (p90):\n"
      "  prefill: %.0f tokens/s, one prompt %.1f ms, %.2f req/s per worker\n"
      "  decode: batch %d, step %.2f ms at batch 1, %.2f req/s per worker\n"
      "  aggregated: %.2f req/s per worker\n",
      p.PrefillTokensPerSecond(0), p.PrefillServiceMs(0, kIsl), prefill, batch,
      Step().Evaluate({{}, 1, static_cast<int64_t>(kIsl + kOsl / 2)}).total.millis(), decode, agg);
  EXPECT_GT(prefill, 1);
  EXPECT_GE(batch, 1);
  EXPECT_LE(batch, 256);
  EXPECT_GT(decode, 0.1);
  EXPECT_GT(agg, 0);
  // One worker doing both phases carries less than either phase alone.
  EXPECT_LT(agg, prefill);
  EXPECT_LT(agg, decode);
}

TEST(SlaPlannerCapacityTest, PrefillRateSolvesTheMd1QuantileEquation) {
  SlaPlanner p = MakeDisagg();
  for (double target : {300.0, 500.0, 2000.0}) {
    const double rps = p.PrefillWorkerRps(0, kIsl, target);
    const double mu = p.PrefillTokensPerSecond(0);
    const double rho = rps * kIsl / mu;
    const double s_ms = kIsl / mu * 1e3;
    // P(W > t) = rho exp(-2 (1 - rho) t / S) = 0.1 at t = target - service.
    const double wait_ms = target - p.PrefillServiceMs(0, kIsl);
    ASSERT_GT(wait_ms, 0);
    EXPECT_NEAR(rho * std::exp(-2 * (1 - rho) * wait_ms / s_ms), 0.1, 1e-6) << target;
    EXPECT_LT(rho, 1);
  }
  // The queue never runs the worker at rho -> 1, and prompts cached by the prefix index count
  // only their new tokens.
  EXPECT_LT(p.PrefillWorkerRps(0, kIsl, 500) * kIsl, p.PrefillTokensPerSecond(0));
  EXPECT_GT(p.PrefillWorkerRps(0, kIsl / 2, 500), p.PrefillWorkerRps(0, kIsl, 500));
}

TEST(SlaPlannerCapacityTest, PrefillServiceChunksLongPrompts) {
  std::vector<PoolModel> pools;
  pools.push_back(Pool());
  pools[0].max_num_batched_tokens = 2048;
  SlaPlanner p = Make(Config(PlannerMode::kAggregated), std::move(pools));
  perf::StepLatencyModel ref = Step();
  const double two_chunks = ref.Evaluate({{{2048, 2048, false}}, 0, 0}).total.millis() +
                            ref.Evaluate({{{1000, 3048, true}}, 0, 0}).total.millis();
  EXPECT_NEAR(p.PrefillServiceMs(0, 3048), two_chunks, 1e-9);
  EXPECT_NEAR(p.PrefillTokensPerSecond(0),
              2048 / (ref.Evaluate({{{2048, 2048, true}}, 0, 0}).total.seconds()), 1e-6);
}

TEST(SlaPlannerCapacityTest, DecodeBatchIsTheLargestWithinTheItl) {
  SlaPlanner p = MakeDisagg();
  perf::StepLatencyModel ref = Step();
  const double ctx = 4096;
  auto step_ms = [&](int64_t b) {
    return ref.Evaluate({{}, b, b * static_cast<int64_t>(ctx)}).total.millis();
  };
  int last = 0;
  for (double itl : {6.0, 8.0, 10.0, 15.0, 20.0}) {
    const int b = p.DecodeBatchFor(1, ctx, itl);
    ASSERT_GE(b, 1) << itl;
    EXPECT_LE(step_ms(b), itl);
    if (b < 256) {  // else bounded by max_num_seqs
      EXPECT_GT(step_ms(b + 1), itl);
    }
    EXPECT_GE(b, last) << "a looser ITL never allows a smaller batch";
    last = b;
  }
  EXPECT_LT(p.DecodeBatchFor(1, ctx, 8), p.DecodeBatchFor(1, ctx, 20));
  EXPECT_EQ(p.DecodeBatchFor(1, ctx, 0.1), 0);    // not even one sequence
  EXPECT_EQ(p.DecodeBatchFor(1, ctx, 1e6), 195);  // KV: 800000 / 4096
  EXPECT_EQ(p.DecodeBatchFor(1, 100, 1e6), 256);  // max_num_seqs
  // Little's law: B sequences, each holding its slot for osl steps.
  const int b = p.DecodeBatchFor(1, kIsl + kOsl / 2, 30);
  EXPECT_NEAR(p.DecodeWorkerRps(1, kIsl, kOsl, 30),
              b / (kOsl * ref.Evaluate({{}, b, b * int64_t{2176}}).total.seconds()), 1e-9);
}

TEST(SlaPlannerTest, MoreLoadNeverMeansFewerReplicas) {
  for (PlannerMode mode : {PlannerMode::kAggregated, PlannerMode::kDisaggregated}) {
    int last_prefill = 0;
    int last_decode = 0;
    for (double rps : {0.0, 0.5, 2.0, 5.0, 10.0, 20.0, 50.0}) {
      SlaPlanner p =
          mode == PlannerMode::kAggregated ? MakeAgg(Config(mode)) : MakeDisagg(Config(mode));
      const ScalingDecision d = p.Tick(At(1), Load(rps));
      EXPECT_TRUE(d.sla_feasible);
      EXPECT_FALSE(d.budget_limited);
      EXPECT_GE(d.prefill_replicas, last_prefill) << rps;
      EXPECT_GE(d.decode_replicas, last_decode) << rps;
      EXPECT_NEAR(d.predicted_rps, rps, 1e-9);
      EXPECT_LE(d.expected_ttft_ms, 500) << rps;
      EXPECT_LE(d.expected_itl_ms, 30) << rps;
      last_prefill = d.prefill_replicas;
      last_decode = d.decode_replicas;
    }
    EXPECT_GT(last_decode, 1);
  }
}

TEST(SlaPlannerTest, ReplicasCoverDemandOverWorkerRate) {
  SlaPlanner p = MakeDisagg();
  const double prefill = p.PrefillWorkerRps(0, kIsl, 500);
  const double decode = p.DecodeWorkerRps(1, kIsl, kOsl, 30);
  const ScalingDecision d = p.Tick(At(1), Load(20));
  EXPECT_EQ(d.prefill_replicas, static_cast<int>(std::ceil(20 / prefill)));
  EXPECT_EQ(d.decode_replicas, static_cast<int>(std::ceil(20 / decode)));
}

TEST(SlaPlannerTest, MinAndMaxReplicas) {
  SlaPlannerConfig c = Config(PlannerMode::kDisaggregated);
  std::vector<PoolModel> pools;
  pools.push_back(Pool());
  pools.push_back(Pool());
  pools[0].min_replicas = 2;
  pools[1].min_replicas = 3;
  pools[1].max_replicas = 4;
  SlaPlanner p = Make(c, std::move(pools));
  ScalingDecision idle = p.Tick(At(1), Load(0));
  EXPECT_EQ(idle.prefill_replicas, 2);
  EXPECT_EQ(idle.decode_replicas, 3);
  ScalingDecision busy = p.Tick(At(2), Load(200, 2, 3));
  EXPECT_GT(busy.prefill_replicas, 2);
  EXPECT_EQ(busy.decode_replicas, 4);
  EXPECT_GT(busy.expected_itl_ms, 30);  // four decode workers cannot carry it
}

TEST(SlaPlannerTest, BudgetScalesBothPoolsDownLikeDynamo) {
  SlaPlanner free = MakeDisagg();
  const ScalingDecision want = free.Tick(At(1), Load(80));
  ASSERT_GE(want.prefill_replicas + want.decode_replicas, 8);
  const int budget = 5;
  SlaPlannerConfig c = Config(PlannerMode::kDisaggregated);
  c.max_gpus = budget;
  SlaPlanner p = MakeDisagg(c);
  const ScalingDecision d = p.Tick(At(1), Load(80));
  EXPECT_TRUE(d.budget_limited);
  // Dynamo's rule: both scaled by budget / required (floor); prefill within [1, budget - 1];
  // decode gets the rest, capped at what it asked for.
  const double scale = static_cast<double>(budget) / (want.prefill_replicas + want.decode_replicas);
  const int prefill =
      std::clamp(static_cast<int>(std::floor(want.prefill_replicas * scale)), 1, budget - 1);
  EXPECT_EQ(d.prefill_replicas, prefill);
  EXPECT_EQ(d.decode_replicas, std::min(want.decode_replicas, budget - prefill));
  EXPECT_LE(d.prefill_replicas + d.decode_replicas, budget);

  SlaPlannerConfig ac = Config(PlannerMode::kAggregated);
  ac.max_gpus = 3;
  SlaPlanner agg = MakeAgg(ac);
  const ScalingDecision a = agg.Tick(At(1), Load(40));
  EXPECT_TRUE(a.budget_limited);
  EXPECT_EQ(a.decode_replicas, 3);
  EXPECT_EQ(a.prefill_replicas, 0);
  EXPECT_FALSE(agg.Tick(At(2), Load(0.1, 0, 3)).budget_limited);
}

TEST(SlaPlannerTest, ScaleDownOnlyInsideTheMarginAndLimitedPerTick) {
  SlaPlanner p = MakeAgg();
  auto tick = [&, n = 0](int current, std::optional<double> ttft, std::optional<double> itl,
                         std::vector<double> worker_itl = {}) mutable {
    Observation o = Load(0.1, 0, current);
    o.ttft_ms = ttft;
    o.itl_ms = itl;
    o.worker_itl_ms = std::move(worker_itl);
    return p.Tick(At(++n), o).decode_replicas;
  };
  // 0.8 x 30 ms = 24 ms; 0.8 x 500 ms = 400 ms.
  EXPECT_EQ(tick(20, 100, 29), 20);                   // the pool's ITL is outside the margin
  EXPECT_EQ(tick(20, 450, 10), 20);                   // so is its TTFT
  EXPECT_EQ(tick(20, 100, 20, {10, 25, 5}), 20);      // one worker is outside
  EXPECT_EQ(tick(20, 100, 20, {10, 24, 5}), 15);      // inside: at most 25% of 20 per tick
  EXPECT_EQ(tick(15, 100, 20), 12);                   // floor(0.25 x 15) = 3
  EXPECT_EQ(tick(3, 100, 20), 2);                     // at least one
  EXPECT_EQ(tick(2, std::nullopt, std::nullopt), 1);  // no samples: idle
  // Scale-up is immediate.
  Observation busy = Load(50, 0, 1);
  busy.itl_ms = 29;
  const int up = p.Tick(At(100), busy).decode_replicas;
  EXPECT_GT(up, 2);
}

TEST(SlaPlannerTest, InfeasibleSlaFallsBackToMinReplicas) {
  SlaPlannerConfig c = Config(PlannerMode::kDisaggregated);
  c.ttft_ms = 1;  // below one prompt's prefill
  SlaPlanner p = MakeDisagg(c);
  EXPECT_EQ(p.PrefillWorkerRps(0, kIsl, 1), 0);
  const ScalingDecision d = p.Tick(At(1), Load(50));
  EXPECT_FALSE(d.sla_feasible);
  EXPECT_EQ(d.prefill_replicas, 1);
  EXPECT_GT(d.decode_replicas, 1);  // the decode pool is still sized

  SlaPlannerConfig ac = Config(PlannerMode::kAggregated);
  ac.itl_ms = 0.5;
  SlaPlanner agg = MakeAgg(ac);
  const ScalingDecision a = agg.Tick(At(1), Load(20));
  EXPECT_FALSE(a.sla_feasible);
  EXPECT_EQ(a.decode_replicas, 1);
}

TEST(SlaPlannerTest, CorrectionTightensTheTargetWhenObservedIsSlower) {
  SlaPlannerConfig c = Config(PlannerMode::kDisaggregated);
  c.correction = true;
  SlaPlanner corrected = MakeDisagg(c);
  SlaPlanner plain = MakeDisagg();
  Observation o = Load(45, 3, 2);
  o.ttft_ms = 1e6;  // far slower than the model: the factor clamps at 3
  o.itl_ms = 1e6;
  const ScalingDecision a = corrected.Tick(At(1), o);
  EXPECT_DOUBLE_EQ(a.ttft_correction, 2.0);  // EMA 0.5 from 1 toward 3
  EXPECT_DOUBLE_EQ(a.itl_correction, 2.0);
  const ScalingDecision b = corrected.Tick(At(2), o);
  EXPECT_DOUBLE_EQ(b.ttft_correction, 2.5);
  // Planned against 500 / 2.5 ms and 30 / 2.5 ms.
  EXPECT_EQ(b.prefill_replicas,
            static_cast<int>(std::ceil(45 / plain.PrefillWorkerRps(0, kIsl, 200))));
  EXPECT_EQ(b.decode_replicas,
            static_cast<int>(std::ceil(45 / plain.DecodeWorkerRps(1, kIsl, kOsl, 12))));
  const ScalingDecision ref = plain.Tick(At(1), o);
  EXPECT_GT(b.prefill_replicas, ref.prefill_replicas);
  EXPECT_GT(b.decode_replicas, ref.decode_replicas);
  EXPECT_EQ(ref.ttft_correction, 1.0);
  EXPECT_GT(b.expected_itl_ms, 0);

  // Faster than the model: the factor falls toward 0.5 and the plan loosens.
  SlaPlanner fast = MakeDisagg(c);
  Observation f = Load(10, 2, 2);
  f.ttft_ms = 1e-3;
  f.itl_ms = 1e-3;
  EXPECT_DOUBLE_EQ(fast.Tick(At(1), f).itl_correction, 0.75);
}

TEST(SlaPlannerTest, LookaheadAndHeadroomProvisionAhead) {
  SlaPlannerConfig c = Config(PlannerMode::kAggregated);
  c.predictor.kind = PredictorKind::kKalman;
  SlaPlannerConfig ahead = c;
  ahead.lookahead_intervals = 4;
  SlaPlannerConfig sigma = c;
  sigma.headroom_sigma = 2;
  SlaPlanner now = MakeAgg(c);
  SlaPlanner later = MakeAgg(ahead);
  SlaPlanner wide = MakeAgg(sigma);
  ScalingDecision a, b, w;
  for (int t = 1; t <= 10; ++t) {  // a ramp, 2 -> 20 req/s
    a = now.Tick(At(t), Load(2.0 * t));
    b = later.Tick(At(t), Load(2.0 * t));
    w = wide.Tick(At(t), Load(2.0 * t));
  }
  EXPECT_NEAR(a.predicted_rps, 22, 0.5);
  EXPECT_NEAR(b.predicted_rps, 28, 0.5);
  EXPECT_GE(b.decode_replicas, a.decode_replicas);
  EXPECT_GT(w.predicted_rps, a.predicted_rps);
}

TEST(SlaPlannerTest, WarmUpSeedsTheForecast) {
  SlaPlanner p = MakeAgg();
  const std::vector<IntervalLoad> history = {
      {0, 0, 0}, {600, 1000, 100}, {0, 0, 0}, {300, 2048, 256}};
  p.WarmUp(history);
  // Live traffic starts idle: its leading zeros are skipped, so the warm-up forecast stands.
  const ScalingDecision d = p.Tick(At(1), Observation{});
  EXPECT_DOUBLE_EQ(d.predicted_rps, 5);
  EXPECT_DOUBLE_EQ(d.predicted_isl, 2048);
  EXPECT_DOUBLE_EQ(d.predicted_osl, 256);
}

TEST(SlaPlannerCreateTest, RejectsABudgetBelowOneWorkerPerPool) {
  SlaPlannerConfig c = Config(PlannerMode::kDisaggregated);
  c.max_gpus = 4;
  std::vector<PoolModel> pools;
  pools.push_back(Pool(4));
  pools.push_back(Pool(4));
  auto p = SlaPlanner::Create(c, std::move(pools));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(p.status().message(),
            "planner.max_gpus: 4 cannot hold one prefill worker (4 GPUs) and one decode worker "
            "(4 GPUs); use >= 8");

  SlaPlannerConfig a = Config(PlannerMode::kAggregated);
  a.max_gpus = 1;
  std::vector<PoolModel> agg;
  agg.push_back(Pool());
  agg[0].min_replicas = 2;
  auto q = SlaPlanner::Create(a, std::move(agg));
  ASSERT_FALSE(q.ok());
  EXPECT_EQ(q.status().message(),
            "planner.max_gpus: 1 cannot hold 2 aggregated workers (2 GPUs); use >= 2");
}

TEST(SlaPlannerCreateTest, RejectsBadTargetsAndShapes) {
  auto error = [](SlaPlannerConfig c, int pools = 1) {
    std::vector<PoolModel> v;
    for (int i = 0; i < pools; ++i) v.push_back(Pool());
    auto p = SlaPlanner::Create(c, std::move(v));
    return p.ok() ? std::string("ok") : p.status().message();
  };
  SlaPlannerConfig c = Config(PlannerMode::kAggregated);
  EXPECT_EQ(error(c), "ok");
  EXPECT_EQ(error(c, 2),
            "planner.pools: 2 given for aggregated mode; pass exactly one (the aggregated pool)");
  SlaPlannerConfig d = Config(PlannerMode::kDisaggregated);
  EXPECT_EQ(error(d, 1),
            "planner.pools: 1 given for disaggregated mode; pass two: {prefill, decode}");
  SlaPlannerConfig bad = c;
  bad.percentile = 1;
  EXPECT_EQ(error(bad), "planner.percentile: 1 must be in (0, 1); use e.g. 0.9 for p90");
  bad = c;
  bad.ttft_ms = 0;
  EXPECT_EQ(error(bad),
            "planner.ttft_ms: 0 must be a positive number of milliseconds; use e.g. 500");
  bad = c;
  bad.itl_ms = std::nan("");
  EXPECT_NE(error(bad).find("planner.itl_ms: nan"), std::string::npos);
  bad = c;
  bad.interval = Duration::Zero();
  EXPECT_EQ(error(bad), "planner.interval: 0 s must be > 0; use e.g. 60 s");
  bad = c;
  bad.scale_down_margin = 1.5;
  EXPECT_NE(error(bad).find("planner.scale_down_margin: 1.5"), std::string::npos);
  bad = c;
  bad.lookahead_intervals = 0;
  EXPECT_EQ(error(bad), "planner.lookahead_intervals: 0 must be >= 1");

  std::vector<PoolModel> v;
  v.push_back(Pool());
  v[0].min_replicas = 3;
  v[0].max_replicas = 2;
  auto p = SlaPlanner::Create(c, std::move(v));
  ASSERT_FALSE(p.ok());
  EXPECT_EQ(p.status().message(),
            "planner.pools[0] (aggregated).max_replicas: 2 is below min_replicas 3; use 0 "
            "(budget only) or >= 3");
}

}  // namespace
}  // namespace dynamo::planner
