#pragma once
// StepTimer: step durations for the simulator and the mock engine, from the step-latency model,
// fast enough for millions of steps per second. A decode-only step depends on (sequences, mean KV
// length); the timer tabulates it lazily on a grid of 16 points per octave of KV length and
// interpolates linearly between grid points (decode time is close to linear in KV length between
// points 3-6% apart, so the interpolation error is far below the model's own). Steps with prefill
// chunks go to the model's exact memo.
//
// One timer per worker pool (replicas share it). Not thread-safe.
#include <cstdint>
#include <vector>

#include "core/perf/step_latency.h"
#include "core/time.h"

namespace dynamo::perf {

class StepTimer {
 public:
  StepTimer(perf::StepLatencyModel model, int32_t max_num_seqs);
  // Precondition: !batch.empty().
  Duration StepTime(const perf::BatchComposition& batch);
  // Least reliable lookup source seen so far (measured < interpolated < extrapolated < analytic).
  perf::LatencySource worst_source() const { return worst_; }
  const perf::StepLatencyModel& model() const { return model_; }

 private:
  double DecodeUs(int64_t seqs, int64_t kv_len);  // exact model value, tabulated
  perf::StepLatencyModel model_;
  int32_t max_num_seqs_;
  // [seqs][grid index] microseconds, NaN until computed. Grid: kv_len 1..64 exact, then
  // (16 + m) x 2^(e - 4) above.
  std::vector<std::vector<double>> table_;
  perf::LatencySource worst_ = perf::LatencySource::kMeasured;
};

}  // namespace dynamo::perf
