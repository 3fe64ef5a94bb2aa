#pragma once
// The sweep's search space: which worker shapes (tp, pp, ep, batch limits) and pool sizes are
// tried, which of them cannot run (divisibility, memory, node size) and why, and the Plan each
// candidate stands for.
//
// Enumeration order, hence candidate ids, is fixed by the inputs alone: aggregated candidates
// first (shape by shape, then replicas, then router), then disaggregated ones (prefill shape,
// decode shape, prefill count, decode count, router). An infeasible worker shape is one row
// (status infeasible) instead of every candidate it would have been part of.
#include <string>
#include <vector>

#include "configurator/sweep_types.h"
#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::configurator {

// The axes. Empty vectors take the defaults of DefaultSearchSpace.
struct SearchSpace {
  std::vector<int> tp;  // default: powers of two up to the node size
  std::vector<int> agg_pp{1, 2};
  std::vector<int> agg_max_num_seqs{64, 128, 256, 512};
  std::vector<int> agg_max_num_batched_tokens{2048, 4096, 8192, 16384};
  std::vector<int> prefill_max_num_batched_tokens{4096, 8192, 16384};
  int prefill_max_num_seqs = 32;
  std::vector<int> decode_max_num_seqs{64, 128, 256, 512};
  int decode_max_num_batched_tokens = 8192;
};

SearchSpace DefaultSearchSpace(const Plan& base);

// The plan every candidate starts from: model, system (nodes enough for the budget), dtypes; one
// placeholder worker. Errors: unknown model or GPU (LoadPlan's messages), and a budget too small
// for any worker of the model, naming the smallest worker that fits and what it needs.
StatusOr<Plan> MakeBasePlan(const SweepInputs& in);

struct EnumeratedSpace {
  std::vector<CandidateResult> rows;  // by id: feasible (status kPass, not yet evaluated) and
                                      // infeasible worker shapes (status kInfeasible, reason)
  int64_t feasible = 0;
};
EnumeratedSpace Enumerate(const Plan& base, const SearchSpace& space, const SweepInputs& in);

// Why one worker of this shape cannot run: "divisibility: ...", "memory: ...", "node: ...";
// empty when it can.
std::string WorkerInfeasibility(const Plan& base, const PoolChoice& pool);

// The candidate as a complete plan (worker memory filled as LoadPlan would).
// Precondition: every pool is feasible (WorkerInfeasibility empty).
Plan BuildPlan(const Plan& base, const Candidate& c);

}  // namespace dynamo::configurator
