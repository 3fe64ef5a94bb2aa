#pragma once
// Summary statistics of a workload, as `dynamo-sim describe workload` prints them.

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <vector>

#include "core/check.h"
#include "core/workload/request.h"

namespace dynamo {

struct LengthStats {
  double mean = 0;
  int64_t p50 = 0, p90 = 0, p99 = 0, min = 0, max = 0;  // nearest-rank percentiles
  int64_t total = 0;
};

struct WorkloadStats {
  int64_t requests = 0;
  int64_t sessions = 0;
  std::optional<double> duration_s;     // last - first arrival; nullopt for closed loops
  std::optional<double> mean_rate_rps;  // (n - 1) / duration; nullopt without a duration
  LengthStats isl, osl;
  // Fraction of prompt blocks that an infinite cache shared by all requests already holds when
  // each request arrives (requests in arrival order; a block counts only when its whole prefix
  // is cached, as in prefix caching). nullopt when the source has no prefix information.
  std::optional<double> prefix_reuse_ratio;
  int32_t block_tokens = 0;
  int32_t closed_loop_concurrency = 0;
};

WorkloadStats ComputeWorkloadStats(const Workload& w);

// Nearest-rank percentile of a sorted vector: the value at rank ceil(p * n). Precondition:
// !sorted.empty(), 0 < p <= 1.
template <typename T>
T NearestRank(const std::vector<T>& sorted, double p) {
  DYNAMO_CHECK(!sorted.empty() && p > 0 && p <= 1);
  const size_t rank = static_cast<size_t>(std::ceil(p * static_cast<double>(sorted.size())));
  return sorted[std::max<size_t>(rank, 1) - 1];
}
// Lengths and counts (also lets a braced list deduce).
inline int64_t NearestRank(const std::vector<int64_t>& sorted, double p) {
  return NearestRank<int64_t>(sorted, p);
}

}  // namespace dynamo
