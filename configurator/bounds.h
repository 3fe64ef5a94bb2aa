#pragma once
// Analytic bounds on a candidate, from the same step-latency model the simulator prices steps
// with. They never simulate; the sweep uses them to order candidates, to set the top of each
// load search, and to skip candidates that cannot win:
//  - an upper bound on the request rate a candidate can sustain: prefill tokens/s at full chunks
//    of its cheapest composition; decode tokens/s at the largest batch the KV cache and
//    max_num_seqs allow, and at the largest batch whose step meets the ITL target (at least
//    `percentile`% of gaps come from such steps, so the rate is at most that batch's rate /
//    percentile);
//  - a certain SLA miss: a decode step of one sequence with the shortest prompt already slower
//    than the ITL target, or (no prefix reuse possible) the percentile prompt alone taking
//    longer than the TTFT target.
#include <memory>
#include <string>

#include "core/perf/perf_model.h"
#include "core/plan/plan.h"

namespace dynamo::configurator {

// What the bounds need of the traffic.
struct TrafficShape {
  double isl_mean = 0, osl_mean = 0;
  double isl_at_percentile = 0;  // prompt length at the SLA percentile
  double isl_min = 0;            // the shortest prompt
  double max_prefix_hit = 0;     // fraction of prompt tokens an infinite cache could serve
};

struct CandidateBound {
  double rps = 0;            // upper bound on sustainable requests/s (before any slack)
  std::string certain_miss;  // non-empty: the SLA cannot hold at any load, and why
};

// Precondition: the plan's pools are feasible (BuildPlan).
CandidateBound BoundCandidate(const Plan& plan, const TrafficShape& traffic, double ttft_ms,
                              double itl_ms, double percentile,
                              std::shared_ptr<const perf::PerfModel> perf);

}  // namespace dynamo::configurator
