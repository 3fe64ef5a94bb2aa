#include "configurator/sweep_types.h"

#include <string>

namespace dynamo::configurator {

std::string_view SweepModeName(SweepMode m) {
  return m == SweepMode::kAggregated ? "agg" : "disagg";
}

std::string_view ObjectiveName(Objective o) {
  return o == Objective::kThroughputPerGpu ? "throughput_per_gpu" : "min_gpus";
}

std::string_view CandidateStatusName(CandidateStatus s) {
  switch (s) {
    case CandidateStatus::kPass:
      return "pass";
    case CandidateStatus::kSlaMissed:
      return "sla_missed";
    case CandidateStatus::kInfeasible:
      return "infeasible";
    case CandidateStatus::kPruned:
      return "pruned";
    case CandidateStatus::kBelowDemand:
      return "below_demand";
  }
  return "?";
}

int Candidate::gpus() const {
  int n = 0;
  for (const PoolChoice& p : pools) n += p.gpus();
  return n;
}

std::string Candidate::Label() const {
  std::string s(SweepModeName(mode));
  for (size_t i = 0; i < pools.size(); ++i) {
    const PoolChoice& p = pools[i];
    s += i == 0 ? " " : " + ";
    s += std::to_string(p.replicas) + "x tp" + std::to_string(p.tp);
    if (p.pp > 1) s += " pp" + std::to_string(p.pp);
    if (p.ep > 1) s += " ep" + std::to_string(p.ep);
    s += " seqs" + std::to_string(p.max_num_seqs) + " tok" +
         std::to_string(p.max_num_batched_tokens);
  }
  s += " " + router;
  return s;
}

}  // namespace dynamo::configurator
