#pragma once
// LogHistogram: percentiles of a stream of non-negative values in fixed memory. Buckets grow
// geometrically (ratio 1.02), so a reported percentile is within 1% of the exact nearest-rank
// value (the bucket's geometric midpoint is reported, clamped to the observed min and max).
// Values below `kMinValue` share one bucket (reported exactly as the minimum when alone).
// Count, sum, min and max are exact. Merge adds histograms (sweeps combine shards).
//
// Buckets: [0] holds [0, kMinValue); [i] for i >= 1 holds [kMinValue * r^(i-1), kMinValue * r^i)
// up to the first bound above kMaxValue; the last bucket holds everything larger (a percentile
// that lands there reports the exact max). The 1st and n-th ranks report the exact min and max.
//
// Memory: ~1,400 buckets of uint64 counts, whatever the number of samples. Copyable; not
// thread-safe (one histogram per shard, merged afterwards).
#include <cstdint>
#include <vector>

namespace dynamo::stats {

class LogHistogram {
 public:
  LogHistogram();
  void Add(double value);  // precondition: finite, >= 0
  void Merge(const LogHistogram& other);
  uint64_t count() const { return count_; }
  double sum() const { return sum_; }
  double mean() const;  // 0 when empty
  double min() const;   // 0 when empty
  double max() const;   // 0 when empty
  // Nearest-rank percentile, q in [0, 100]: the value of rank max(1, ceil(q / 100 * count)) in
  // ascending order; 0 when empty. Within 1% relative error of that exact value.
  double Percentile(double q) const;

  static constexpr double kRatio = 1.02;
  static constexpr double kMinValue = 1e-3;  // in the caller's unit (ms: 1 us)
  static constexpr double kMaxValue = 1e9;   // larger values go to the top bucket (still exact max)

  // Number of buckets, including the underflow and overflow buckets.
  static int num_buckets();

 private:
  std::vector<uint64_t> counts_;  // [bucket]
  uint64_t count_ = 0;
  double sum_ = 0.0;
  double min_ = 0.0;  // meaningful when count_ > 0
  double max_ = 0.0;
};

}  // namespace dynamo::stats
