// The sweep engine: its pick against brute force, independence from the thread count and from
// sharding, determinism, demand mode, analytic bounds against simulation, and the messages of
// impossible inputs.
#include "configurator/sweep.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "configurator/bounds.h"
#include "configurator/load_search.h"
#include "configurator/load_source.h"
#include "configurator/pareto.h"
#include "configurator/results_store.h"
#include "configurator/search_space.h"
#include "core/file_io.h"
#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "core/workload/workload.h"
#include "sim/simulation.h"

namespace dynamo::configurator {
namespace {

std::shared_ptr<const perf::PerfModel> Analytic(const std::string& gpu = "h200_sxm") {
  auto spec = LoadGpu(gpu);
  EXPECT_TRUE(spec.ok());
  return std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*spec));
}

// Llama-3.1-8B on 4 H200, short prompts: small enough for brute force in a unit test.
SweepInputs SmallInputs() {
  SweepInputs in;
  in.model = "llama-3.1-8b";
  in.gpu = "h200_sxm";
  in.gpus = 4;
  in.isl = 512;
  in.osl = 64;
  in.requests = 200;
  in.ttft_ms = 300;
  in.itl_ms = 20;
  in.seed = 11;
  in.threads = 1;
  return in;
}

SweepOptions SmallSpace() {
  SweepOptions o;
  o.space.tp = {1, 2};
  o.space.agg_pp = {1};
  o.space.agg_max_num_seqs = {32, 256};
  o.space.agg_max_num_batched_tokens = {1024, 8192};
  o.space.prefill_max_num_batched_tokens = {4096};
  o.space.decode_max_num_seqs = {32, 256};
  return o;
}

const CandidateResult& Chosen(const SweepRun& run) {
  EXPECT_TRUE(run.outcome.chosen.has_value());
  return run.outcome.results[static_cast<size_t>(*run.outcome.chosen)];
}

TEST(SweepTest, PrunedPickEqualsBruteForce) {
  const SweepInputs in = SmallInputs();
  SweepOptions pruned = SmallSpace();
  SweepOptions brute = SmallSpace();
  brute.prune = false;
  auto a = RunSweep(in, Analytic(), pruned);
  auto b = RunSweep(in, Analytic(), brute);
  ASSERT_TRUE(a.ok()) << a.status().message();
  ASSERT_TRUE(b.ok()) << b.status().message();
  EXPECT_EQ(b->outcome.counts.pruned, 0);
  EXPECT_GT(a->outcome.counts.pruned, 0) << "pruning should skip something on this space";
  EXPECT_LT(a->outcome.counts.simulations, b->outcome.counts.simulations);
  const CandidateResult& ca = Chosen(*a);
  const CandidateResult& cb = Chosen(*b);
  EXPECT_EQ(ca.candidate.id, cb.candidate.id)
      << ca.candidate.Label() << " vs " << cb.candidate.Label();
  EXPECT_EQ(ca.best->fingerprint, cb.best->fingerprint);
  EXPECT_DOUBLE_EQ(ca.best->tokens_per_s_per_gpu, cb.best->tokens_per_s_per_gpu);
  // Brute force: the choice really is the best passing result.
  for (const CandidateResult& r : b->outcome.results) {
    if (r.status != CandidateStatus::kPass) continue;
    EXPECT_LE(r.best->tokens_per_s_per_gpu, cb.best->tokens_per_s_per_gpu) << r.candidate.Label();
  }
  // Both modes took part and the space had both feasible and passing candidates of each.
  bool agg = false, disagg = false;
  for (const CandidateResult& r : b->outcome.results) {
    if (r.status != CandidateStatus::kPass) continue;
    (r.candidate.mode == SweepMode::kAggregated ? agg : disagg) = true;
  }
  EXPECT_TRUE(agg);
  EXPECT_TRUE(disagg);
}

TEST(SweepTest, ResultsDoNotDependOnTheThreadCount) {
  SweepInputs one = SmallInputs();
  SweepInputs three = SmallInputs();
  three.threads = 3;
  auto a = RunSweep(one, Analytic(), SmallSpace());
  auto b = RunSweep(three, Analytic(), SmallSpace());
  ASSERT_TRUE(a.ok() && b.ok());
  ASSERT_EQ(a->outcome.results.size(), b->outcome.results.size());
  for (size_t i = 0; i < a->outcome.results.size(); ++i) {
    const CandidateResult& x = a->outcome.results[i];
    const CandidateResult& y = b->outcome.results[i];
    EXPECT_EQ(x.status, y.status) << x.candidate.Label();
    EXPECT_EQ(x.reason, y.reason);
    EXPECT_EQ(x.simulations, y.simulations);
    EXPECT_EQ(x.best.has_value(), y.best.has_value());
    if (x.best && y.best) {
      EXPECT_EQ(x.best->fingerprint, y.best->fingerprint);
    }
  }
  EXPECT_EQ(a->outcome.best_plan_json, b->outcome.best_plan_json);
  EXPECT_EQ(a->best_workload_json, b->best_workload_json);
}

TEST(SweepTest, ShardsMergeToTheSameChoice) {
  const SweepInputs in = SmallInputs();
  SweepOptions brute = SmallSpace();
  brute.prune = false;  // shards prune against their own best only; compare like with like
  auto whole = RunSweep(in, Analytic(), brute);
  ASSERT_TRUE(whole.ok());
  std::vector<SweepOutcome> shards;
  for (int i = 0; i < 3; ++i) {
    SweepInputs s = in;
    s.shard_index = i;
    s.shard_count = 3;
    auto part = RunSweep(s, Analytic(), brute);
    ASSERT_TRUE(part.ok()) << part.status().message();
    shards.push_back(part->outcome);
  }
  auto merged = MergeSweepResults(shards);
  ASSERT_TRUE(merged.ok()) << merged.status().message();
  auto run = ConcludeMerged(*merged, Analytic());
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->outcome.results.size(), whole->outcome.results.size());
  EXPECT_EQ(Chosen(*run).candidate.id, Chosen(*whole).candidate.id);
  EXPECT_EQ(run->outcome.best_plan_json, whole->outcome.best_plan_json);
  EXPECT_EQ(run->outcome.confirmation->fingerprint, whole->outcome.confirmation->fingerprint);
}

TEST(SweepTest, ChosenPlanReproducesThroughItsFiles) {
  auto run = RunSweep(SmallInputs(), Analytic(), SmallSpace());
  ASSERT_TRUE(run.ok());
  // best_plan.json and best_workload.json, read back the way `dynamo-sim run` reads them.
  auto root = JsonDocument::Parse(run->outcome.best_plan_json, "best_plan.json");
  ASSERT_TRUE(root.ok());
  auto plan = ParsePlan(*root);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(PlanToJson(*plan), run->outcome.best_plan_json);
  const std::string path = ::testing::TempDir() + "/best_workload.json";
  ASSERT_TRUE(WriteFileAtomic(path, run->best_workload_json).ok());
  auto wl = LoadWorkload(path);
  ASSERT_TRUE(wl.ok()) << wl.status().message();
  sim::SimOptions opt;
  opt.seed = SmallInputs().seed;
  opt.slo.ttft_ms = SmallInputs().ttft_ms;
  opt.slo.itl_ms = SmallInputs().itl_ms;
  auto sim = sim::Simulate(*plan, *wl, Analytic(), opt);
  ASSERT_TRUE(sim.ok());
  EXPECT_EQ(sim->summary.fingerprint, run->outcome.confirmation->fingerprint);
  EXPECT_TRUE(sim->summary.ttft_ok && sim->summary.itl_ok);
  EXPECT_DOUBLE_EQ(sim->summary.output_tokens_per_s_per_gpu,
                   run->outcome.confirmation->tokens_per_s_per_gpu);
}

TEST(SweepTest, DemandPicksTheFewestGpus) {
  SweepInputs in = SmallInputs();
  in.rate_rps = 20;  // needs more than one small worker
  auto run = RunSweep(in, Analytic(), SmallSpace());
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->outcome.inputs.objective, Objective::kMinGpus);
  const CandidateResult& c = Chosen(*run);
  EXPECT_GE(c.best->load, 1.0);
  SweepOptions brute = SmallSpace();
  brute.prune = false;
  auto all = RunSweep(in, Analytic(), brute);
  ASSERT_TRUE(all.ok());
  int fewest = 1 << 30;
  for (const CandidateResult& r : all->outcome.results) {
    if (r.status == CandidateStatus::kPass) fewest = std::min(fewest, r.candidate.gpus());
  }
  EXPECT_EQ(c.candidate.gpus(), fewest);
  EXPECT_EQ(Chosen(*all).candidate.id, c.candidate.id);
}

TEST(SweepTest, AnalyticBoundIsAboveWhatSimulationSustains) {
  auto run = RunSweep(SmallInputs(), Analytic(), [] {
    SweepOptions o = SmallSpace();
    o.prune = false;
    return o;
  }());
  ASSERT_TRUE(run.ok());
  int checked = 0;
  for (const CandidateResult& r : run->outcome.results) {
    if (r.status != CandidateStatus::kPass) continue;
    // The bound is on sustained throughput; a finite run may be offered more for a while.
    EXPECT_GE(r.bound_rps * 1.25, r.best->throughput_rps) << r.candidate.Label();
    ++checked;
  }
  EXPECT_GT(checked, 5);
}

TEST(SweepTest, InfeasibleShapesCarryTheirReason) {
  SweepInputs in;
  in.model = "llama-3.1-70b";
  in.gpus = 8;
  in.requests = 100;
  in.threads = 1;
  SweepOptions o;
  o.space.tp = {1, 2, 3, 8};
  o.space.agg_pp = {1};
  o.space.agg_max_num_seqs = {64};
  o.space.agg_max_num_batched_tokens = {8192};
  o.space.prefill_max_num_batched_tokens = {8192};
  o.space.decode_max_num_seqs = {64};
  const auto base = MakeBasePlan(in);
  ASSERT_TRUE(base.ok()) << base.status().message();
  const EnumeratedSpace space = Enumerate(*base, o.space, in);
  int memory = 0, divisibility = 0;
  for (const CandidateResult& r : space.rows) {
    if (r.status != CandidateStatus::kInfeasible) continue;
    if (r.reason.rfind("memory: ", 0) == 0) ++memory;
    if (r.reason.rfind("divisibility: ", 0) == 0) ++divisibility;
  }
  EXPECT_EQ(memory, 3) << "tp 1 agg, prefill and decode shapes cannot hold 70B in bf16";
  EXPECT_EQ(divisibility, 3) << "tp 3 does not divide 64 heads";
  EXPECT_GT(space.feasible, 0);
}

TEST(SweepTest, BudgetTooSmallNamesTheSmallestWorker) {
  SweepInputs in;
  in.model = "llama-3.1-70b";
  in.gpus = 1;
  auto base = MakeBasePlan(in);
  ASSERT_FALSE(base.ok());
  EXPECT_EQ(base.status().message(),
            "--gpus: a budget of 1 GPU(s) is too small for llama-3.1-70b in bf16 on h200_sxm: "
            "the smallest worker that fits is tp 2 x pp 1 (2 GPUs); use --gpus >= 2 or "
            "--dtype fp8");
}

TEST(SweepTest, ImpossibleSlaExplainsTheClosestOption) {
  SweepInputs in = SmallInputs();
  in.itl_ms = 1;  // below any decode step of an 8B model
  auto run = RunSweep(in, Analytic(), SmallSpace());
  ASSERT_TRUE(run.ok());
  EXPECT_FALSE(run->outcome.chosen.has_value());
  EXPECT_EQ(run->outcome.counts.passed, 0);
  EXPECT_NE(run->no_plan_reason.find("no topology can meet"), std::string::npos)
      << run->no_plan_reason;
  EXPECT_NE(run->no_plan_reason.find("decode step takes"), std::string::npos)
      << run->no_plan_reason;

  // Prompts sharing prefixes: no analytic certainty about TTFT (a cached prefix is faster), so
  // every candidate is simulated, misses at every load, and the message names the closest.
  const std::string spec = ::testing::TempDir() + "/shared_prefixes.json";
  ASSERT_TRUE(WriteFileAtomic(spec, R"({"requests": 200, "seed": 2,
    "arrival": {"process": "poisson", "rate_rps": 2},
    "isl": {"dist": "fixed", "value": 1024}, "osl": {"dist": "fixed", "value": 32},
    "prefix": {"groups": 2, "shared_tokens": 512}})")
                  .ok());
  in = SmallInputs();
  in.workload = spec;
  in.ttft_ms = 1;      // below any prefill step
  in.routers.clear();  // the default: kv, since these prompts share prefixes
  run = RunSweep(in, Analytic(), SmallSpace());
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->outcome.inputs.routers, std::vector<std::string>{"kv"});
  EXPECT_FALSE(run->outcome.chosen.has_value());
  EXPECT_NE(run->no_plan_reason.find("even at light load; the closest"), std::string::npos)
      << run->no_plan_reason;
}

TEST(SweepTest, SameSeedSameOutcome) {
  auto a = RunSweep(SmallInputs(), Analytic(), SmallSpace());
  auto b = RunSweep(SmallInputs(), Analytic(), SmallSpace());
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->outcome.best_plan_json, b->outcome.best_plan_json);
  EXPECT_EQ(a->outcome.confirmation->fingerprint, b->outcome.confirmation->fingerprint);
  SweepInputs other = SmallInputs();
  other.seed = 12;
  auto c = RunSweep(other, Analytic(), SmallSpace());
  ASSERT_TRUE(c.ok());
  EXPECT_NE(a->outcome.confirmation->fingerprint, c->outcome.confirmation->fingerprint);
}

TEST(SweepTest, CancelStopsWithoutAResult) {
  std::atomic<bool> cancel{true};
  SweepOptions o = SmallSpace();
  o.cancel = &cancel;
  auto run = RunSweep(SmallInputs(), Analytic(), o);
  ASSERT_FALSE(run.ok());
  EXPECT_EQ(run.status().code(), StatusCode::kCancelled);
}

TEST(ParetoTest, FrontAndSelection) {
  auto point = [](int64_t id, int gpus, double per_gpu, double per_user) {
    CandidateResult r;
    r.candidate.id = id;
    r.candidate.pools = {PoolChoice{WorkerRole::kAggregated, gpus, 1, 1, 1, 64, 8192}};
    r.best = LoadPoint{};
    r.best->tokens_per_s_per_gpu = per_gpu;
    r.best->tokens_per_s_per_user = per_user;
    r.best->load = 1;
    return r;
  };
  std::vector<CandidateResult> v = {point(0, 2, 100, 50), point(1, 1, 200, 30),
                                    point(2, 4, 150, 40), point(3, 1, 90, 45),
                                    point(4, 2, 100, 50)};
  v.push_back(point(5, 1, 300, 10));
  v[5].status = CandidateStatus::kSlaMissed;  // not a candidate
  MarkParetoFront(v);
  EXPECT_TRUE(v[0].pareto);
  EXPECT_TRUE(v[1].pareto);
  EXPECT_TRUE(v[2].pareto);
  EXPECT_FALSE(v[3].pareto);  // dominated by 0
  EXPECT_FALSE(v[4].pareto);  // equal to 0, higher id
  EXPECT_FALSE(v[5].pareto);
  EXPECT_EQ(SelectBest(v, Objective::kThroughputPerGpu), 1);
  EXPECT_TRUE(v[1].chosen);
  v[3].best->load = 0.5;  // 1 GPU but below the demand
  EXPECT_EQ(SelectBest(v, Objective::kMinGpus), 1);
  EXPECT_FALSE(v[3].chosen);
}

}  // namespace
}  // namespace dynamo::configurator

namespace dynamo::configurator {
namespace {

// A closed-loop workload: the load is a multiple of its concurrency, rounded to whole requests
// in flight; the demand is the workload's own concurrency.
TEST(SweepTest, ClosedLoopLoadsAreWholeConcurrencies) {
  const std::string spec = ::testing::TempDir() + "/closed_loop.json";
  ASSERT_TRUE(WriteFileAtomic(spec, R"({"requests": 200, "seed": 4,
    "arrival": {"process": "concurrency", "concurrency": 6},
    "isl": {"dist": "uniform", "min": 256, "max": 1024},
    "osl": {"dist": "uniform", "min": 16, "max": 96}})")
                  .ok());
  SweepInputs in = SmallInputs();
  in.workload = spec;
  auto run = RunSweep(in, Analytic(), SmallSpace());
  ASSERT_TRUE(run.ok()) << run.status().message();
  EXPECT_EQ(run->outcome.inputs.objective, Objective::kMinGpus);
  const CandidateResult& c = Chosen(*run);
  EXPECT_GE(c.best->load, 1.0);
  for (const CandidateResult& r : run->outcome.results) {
    if (!r.best) continue;
    const double in_flight = r.best->load * 6;
    EXPECT_NEAR(in_flight, std::round(in_flight), 1e-9) << r.candidate.Label();
  }
  auto root = JsonDocument::Parse(run->best_workload_json, "best_workload.json");
  ASSERT_TRUE(root.ok());
  auto arrival = root->Get("arrival");
  ASSERT_TRUE(arrival.ok());
  EXPECT_EQ(*arrival->GetInt("concurrency"), std::llround(c.best->load * 6));
}

}  // namespace
}  // namespace dynamo::configurator
