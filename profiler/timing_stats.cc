#include "profiler/timing_stats.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace dynamo::profiler {
namespace {

double NearestRank(const std::vector<double>& sorted, double q) {
  const double rank = std::ceil(q * static_cast<double>(sorted.size()));
  const size_t index = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(index, sorted.size() - 1)];
}

}  // namespace

perf::Timing SummarizeSamples(std::vector<double> samples_us) {
  DYNAMO_CHECK(!samples_us.empty());
  std::sort(samples_us.begin(), samples_us.end());
  perf::Timing t;
  const size_t n = samples_us.size();
  t.median_us = n % 2 == 1 ? samples_us[n / 2] : 0.5 * (samples_us[n / 2 - 1] + samples_us[n / 2]);
  t.p10_us = NearestRank(samples_us, 0.10);
  t.p90_us = NearestRank(samples_us, 0.90);
  t.samples = static_cast<int64_t>(n);
  return t;
}

}  // namespace dynamo::profiler
