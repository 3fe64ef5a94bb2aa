#include "profiler/timing_stats.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/workload/workload_stats.h"

namespace dynamo::profiler {
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
