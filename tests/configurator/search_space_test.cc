// The sweep's search space: enumeration counts, ids, the GPU budget, and candidate plans equal
// to what LoadPlan makes of their plan.json.
#include "configurator/search_space.h"

#include <gtest/gtest.h>

#include <set>

#include "core/json.h"
#include "core/plan/plan.h"

namespace dynamo::configurator {
namespace {

SweepInputs Inputs(const std::string& model, int gpus) {
  SweepInputs in;
  in.model = model;
  in.gpus = gpus;
  return in;
}

TEST(SearchSpaceTest, CountsFollowTheAxesAndTheBudget) {
  const SweepInputs in = Inputs("llama-3.1-8b", 4);
  auto base = MakeBasePlan(in);
  ASSERT_TRUE(base.ok()) << base.status().message();
  SearchSpace s;
  s.tp = {1, 2};
  s.agg_pp = {1};
  s.agg_max_num_seqs = {64, 256};
  s.agg_max_num_batched_tokens = {8192};
  s.prefill_max_num_batched_tokens = {4096, 8192};
  s.decode_max_num_seqs = {128};
  const EnumeratedSpace e = Enumerate(*base, s, in);
  // agg: tp1 x {1..4 replicas} + tp2 x {1, 2}, each with 2 seqs choices = 12.
  // disagg: prefill shapes {tp1, tp2} x 2 token budgets, decode shapes {tp1, tp2}; counts with
  // np*tp_p + nd*tp_d <= 4: (1,1): 6, (1,2): 2, (2,1): 2, (2,2): 1 -> 11 per token budget = 22.
  EXPECT_EQ(e.feasible, 12 + 22);
  std::set<std::string> labels;
  for (size_t i = 0; i < e.rows.size(); ++i) {
    const CandidateResult& r = e.rows[i];
    EXPECT_EQ(r.candidate.id, static_cast<int64_t>(i));
    EXPECT_LE(r.candidate.gpus(), in.gpus) << r.candidate.Label();
    EXPECT_TRUE(labels.insert(r.candidate.Label()).second) << "duplicate " << r.candidate.Label();
  }
}

TEST(SearchSpaceTest, EveryRouterIsItsOwnCandidate) {
  SweepInputs in = Inputs("llama-3.1-8b", 2);
  in.routers = {"kv", "round_robin"};
  in.modes = {SweepMode::kAggregated};
  auto base = MakeBasePlan(in);
  ASSERT_TRUE(base.ok());
  SearchSpace s;
  s.tp = {1};
  s.agg_pp = {1};
  s.agg_max_num_seqs = {64};
  s.agg_max_num_batched_tokens = {8192};
  const EnumeratedSpace e = Enumerate(*base, s, in);
  ASSERT_EQ(e.feasible, 4);  // replicas 1, 2 x two routers
  EXPECT_EQ(e.rows[0].candidate.router, "kv");
  EXPECT_EQ(e.rows[1].candidate.router, "round_robin");
}

TEST(SearchSpaceTest, CandidatePlansEqualWhatLoadPlanMakesOfThem) {
  const SweepInputs in = Inputs("mixtral-8x7b", 8);
  auto base = MakeBasePlan(in);
  ASSERT_TRUE(base.ok()) << base.status().message();
  SearchSpace s = DefaultSearchSpace(*base);
  s.agg_max_num_seqs = {128};
  s.agg_max_num_batched_tokens = {8192};
  s.decode_max_num_seqs = {128};
  s.prefill_max_num_batched_tokens = {8192};
  const EnumeratedSpace e = Enumerate(*base, s, in);
  int checked = 0, moe_ep = 0;
  for (const CandidateResult& r : e.rows) {
    if (r.status == CandidateStatus::kInfeasible) continue;
    const Plan plan = BuildPlan(*base, r.candidate);
    const std::string json = PlanToJson(plan);
    auto root = JsonDocument::Parse(json, "candidate.json");
    ASSERT_TRUE(root.ok());
    auto loaded = ParsePlan(*root);
    ASSERT_TRUE(loaded.ok()) << r.candidate.Label() << ": " << loaded.status().message();
    EXPECT_EQ(PlanToJson(*loaded), json);
    ASSERT_EQ(loaded->workers.size(), plan.workers.size());
    for (size_t k = 0; k < plan.workers.size(); ++k) {
      EXPECT_EQ(loaded->workers[k].memory.kv_blocks, plan.workers[k].memory.kv_blocks);
      if (plan.workers[k].parallelism.ep > 1) ++moe_ep;
    }
    ++checked;
  }
  EXPECT_GT(checked, 50);
  EXPECT_GT(moe_ep, 0) << "a MoE model tries expert parallelism";
}

TEST(SearchSpaceTest, BasePlanErrorsNameTheInput) {
  auto gpu = MakeBasePlan([] {
    SweepInputs in;
    in.gpu = "z100";
    return in;
  }());
  ASSERT_FALSE(gpu.ok());
  EXPECT_NE(gpu.status().message().find("unknown GPU \"z100\""), std::string::npos)
      << gpu.status().message();
  auto model = MakeBasePlan(Inputs("llama-9", 8));
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("unknown model \"llama-9\""), std::string::npos)
      << model.status().message();
}

}  // namespace
}  // namespace dynamo::configurator
