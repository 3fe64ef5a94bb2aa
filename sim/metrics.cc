#include "sim/metrics.h"

namespace dynamo::sim {

Percentiles Summarize(const stats::LogHistogram& h) {
  Percentiles p;
  p.count = h.count();
  if (p.count == 0) return p;
  p.mean = h.mean();
  p.p50 = h.Percentile(50);
  p.p90 = h.Percentile(90);
  p.p99 = h.Percentile(99);
  p.max = h.max();
  return p;
}

}  // namespace dynamo::sim
