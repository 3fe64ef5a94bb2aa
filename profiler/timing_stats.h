#pragma once
// Summary statistics of repeated kernel timings.

#include <vector>

#include "core/perf/op_shape.h"

namespace dynamo::profiler {

// Median, p10 and p90 (nearest rank) of per-call latencies in microseconds. Precondition:
// samples_us is not empty.
perf::Timing SummarizeSamples(std::vector<double> samples_us);

}  // namespace dynamo::profiler
