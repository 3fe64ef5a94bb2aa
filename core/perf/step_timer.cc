#include "core/perf/step_timer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace dynamo::perf {
namespace {

// KV lengths up to kExact are tabulated at every integer; above, at 16 points per octave:
// (16 + m) x 2^(e - 4) for m = 0..15 (spacing 3-6%), found from the bits of the double.
constexpr int64_t kExact = 64;
constexpr int kExactLog2 = 6;
constexpr int kPerOctave = 16;

int64_t GridPoint(int64_t i) {
  if (i <= kExact) return i;
  const int64_t k = i - kExact;
  const int e = kExactLog2 + static_cast<int>(k / kPerOctave);
  return (kPerOctave + k % kPerOctave) << (e - 4);
}

// The grid index i with GridPoint(i) <= x < GridPoint(i + 1). Precondition: x >= kExact.
int64_t GridIndex(double x) {
  int e = 0;
  const double f = std::frexp(x, &e);                             // x = f 2^e, f in [0.5, 1)
  const auto m = static_cast<int64_t>((2 * f - 1) * kPerOctave);  // top 4 mantissa bits
  return kExact + static_cast<int64_t>(e - 1 - kExactLog2) * kPerOctave + m;
}

}  // namespace

StepTimer::StepTimer(perf::StepLatencyModel model, int32_t max_num_seqs)
    : model_(std::move(model)), max_num_seqs_(max_num_seqs) {
  DYNAMO_CHECK(max_num_seqs > 0);
  table_.resize(static_cast<size_t>(max_num_seqs) + 1);
}

double StepTimer::DecodeUs(int64_t seqs, int64_t grid_index) {
  if (seqs > max_num_seqs_) {  // not expected from a scheduler honouring max_num_seqs
    table_.resize(static_cast<size_t>(seqs) + 1);
    max_num_seqs_ = static_cast<int32_t>(seqs);
  }
  std::vector<double>& row = table_[static_cast<size_t>(seqs)];
  if (row.size() <= static_cast<size_t>(grid_index)) {
    row.resize(static_cast<size_t>(grid_index) + 1, std::numeric_limits<double>::quiet_NaN());
  }
  double& us = row[static_cast<size_t>(grid_index)];
  if (std::isnan(us)) {
    perf::BatchComposition b;
    b.decode_seqs = seqs;
    b.decode_kv_tokens = seqs * GridPoint(grid_index);
    const perf::StepCost cost = model_.EvaluateUncached(b);
    us = static_cast<double>(cost.total.nanos()) * 1e-3;
    worst_ = std::max(worst_, cost.source);
  }
  return us;
}

Duration StepTimer::StepTime(const perf::BatchComposition& batch) {
  DYNAMO_CHECK(!batch.empty());
  if (!batch.prefill.empty()) {
    const perf::StepCost& cost = model_.Evaluate(batch);
    worst_ = std::max(worst_, cost.source);
    return cost.total;
  }
  const int64_t seqs = batch.decode_seqs;
  const double mean = static_cast<double>(batch.decode_kv_tokens) / static_cast<double>(seqs);
  if (mean <= static_cast<double>(kExact)) {
    const int64_t kv = std::max<int64_t>(1, (batch.decode_kv_tokens + seqs - 1) / seqs);
    return Duration::Nanos(std::llround(DecodeUs(seqs, kv) * 1e3));
  }
  const int64_t i = GridIndex(mean);
  const double x0 = static_cast<double>(GridPoint(i));
  const double x1 = static_cast<double>(GridPoint(i + 1));
  const double y0 = DecodeUs(seqs, i);
  const double y1 = DecodeUs(seqs, i + 1);
  const double us = x1 > x0 ? y0 + (y1 - y0) * (mean - x0) / (x1 - x0) : y0;
  return Duration::Nanos(std::llround(us * 1e3));
}

}  // namespace dynamo::perf
