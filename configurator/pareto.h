#pragma once
// The Pareto front of a sweep (output tokens/s per GPU against tokens/s per user, both higher
// is better) and the choice of the plan to deploy.
#include <cstdint>
#include <optional>
#include <vector>

#include "configurator/sweep_types.h"

namespace dynamo::configurator {

// Sets `pareto` on the passing results no other passing result dominates (at least as good on
// both axes, better on one); clears it on the rest. Equal points: the lowest id is on the front.
void MarkParetoFront(std::vector<CandidateResult>& results);

// The chosen plan among passing results, by the objective:
//  kThroughputPerGpu: most tokens/s per GPU, then fewer GPUs, then lower id;
//  kMinGpus: fewest GPUs among those sustaining the demand (load >= 1), then most tokens/s per
//  GPU, then lower id.
// Sets `chosen` on it (clears it on the rest) and returns its index; nullopt when none passes.
std::optional<int64_t> SelectBest(std::vector<CandidateResult>& results, Objective objective);

// True when `a` ranks before `b` under the objective (both passing).
bool RanksBefore(const CandidateResult& a, const CandidateResult& b, Objective objective);

}  // namespace dynamo::configurator
