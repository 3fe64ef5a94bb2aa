#include "core/stats/log_histogram.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace dynamo::stats {
namespace {

// The top kSubBits mantissa bits split each power of two into 128 slices. A slice spans a
// ratio of at most 1 + 1/128 < kRatio, so it meets at most two buckets: a table lookup by
// (exponent, slice) and at most one comparison with a bucket bound find a value's bucket
// without a logarithm.
constexpr int kSubBits = 7;
constexpr int kMantissaBits = 52;

struct BucketTable {
  // [bucket] lower bounds: lower[0] = 0, lower[i] = kMinValue * kRatio^(i-1); lower[overflow] is
  // the first bound >= kMaxValue, and everything from there on lands in the overflow bucket.
  std::vector<double> lower;
  int overflow = 0;  // index of the last bucket
  uint64_t first_exponent = 0;
  // [(exponent - first_exponent) << kSubBits | slice] the bucket of the slice's smallest value.
  std::vector<uint16_t> first_bucket;

  BucketTable() {
    const int regular =
        static_cast<int>(std::ceil(std::log(LogHistogram::kMaxValue / LogHistogram::kMinValue) /
                                   std::log(LogHistogram::kRatio)));
    overflow = regular + 1;
    lower.resize(overflow + 1);
    lower[0] = 0.0;
    for (int i = 1; i <= overflow; ++i) {
      lower[i] = LogHistogram::kMinValue * std::pow(LogHistogram::kRatio, i - 1);
    }
    DYNAMO_CHECK(lower[overflow] >= LogHistogram::kMaxValue);
    DYNAMO_CHECK(overflow < std::numeric_limits<uint16_t>::max());

    first_exponent = Exponent(LogHistogram::kMinValue);
    const uint64_t last_exponent = Exponent(lower[overflow]);
    const uint64_t slices = (last_exponent - first_exponent + 1) << kSubBits;
    first_bucket.resize(slices);
    for (uint64_t key = 0; key < slices; ++key) {
      const uint64_t bits = ((first_exponent + (key >> kSubBits)) << kMantissaBits) |
                            ((key & ((1u << kSubBits) - 1)) << (kMantissaBits - kSubBits));
      const double start = std::bit_cast<double>(bits);
      // Values looked up are >= kMinValue, so a slice starting below it begins at bucket 1.
      const auto it = std::upper_bound(lower.begin() + 1, lower.end(), start);
      const int bucket = std::max(1, static_cast<int>(it - lower.begin()) - 1);
      first_bucket[key] = static_cast<uint16_t>(std::min(bucket, overflow - 1));
    }
  }

  static uint64_t Exponent(double v) { return std::bit_cast<uint64_t>(v) >> kMantissaBits; }

  int Index(double v) const {
    if (v < LogHistogram::kMinValue) return 0;
    if (v >= lower[overflow]) return overflow;
    const uint64_t key =
        (std::bit_cast<uint64_t>(v) >> (kMantissaBits - kSubBits)) - (first_exponent << kSubBits);
    int i = first_bucket[key];
    while (v >= lower[i + 1]) ++i;
    return i;
  }
};

const BucketTable& Table() {
  static const BucketTable table;
  return table;
}

}  // namespace

LogHistogram::LogHistogram()
    : counts_(Table().lower.size(), 0), min_(std::numeric_limits<double>::infinity()) {}

int LogHistogram::num_buckets() { return static_cast<int>(Table().lower.size()); }

void LogHistogram::Add(double value) {
  DYNAMO_CHECK(value >= 0 && value <= std::numeric_limits<double>::max());  // also rejects NaN
  ++counts_[Table().Index(value)];
  ++count_;
  sum_ += value;
  min_ = std::min(min_, value);
  max_ = std::max(max_, value);
}

void LogHistogram::Merge(const LogHistogram& other) {
  DYNAMO_CHECK(counts_.size() == other.counts_.size());
  for (size_t i = 0; i < counts_.size(); ++i) counts_[i] += other.counts_[i];
  count_ += other.count_;
  sum_ += other.sum_;
  min_ = std::min(min_, other.min_);
  max_ = std::max(max_, other.max_);
}

double LogHistogram::mean() const { return count_ == 0 ? 0.0 : sum_ / static_cast<double>(count_); }
double LogHistogram::min() const { return count_ == 0 ? 0.0 : min_; }
double LogHistogram::max() const { return count_ == 0 ? 0.0 : max_; }

double LogHistogram::Percentile(double q) const {
  DYNAMO_CHECK(q >= 0 && q <= 100);
  if (count_ == 0) return 0.0;
  // q * n first, then / 100: exact for integer q, so ceil does not round 99 up to 100.
  const double x = std::ceil(q * static_cast<double>(count_) / 100.0);
  const uint64_t rank = std::clamp<uint64_t>(static_cast<uint64_t>(std::max(x, 1.0)), 1, count_);
  if (rank == 1) return min_;
  if (rank == count_) return max_;
  const BucketTable& t = Table();
  uint64_t seen = 0;
  int i = 0;
  for (; i < t.overflow; ++i) {
    seen += counts_[i];
    if (seen >= rank) break;
  }
  if (i == 0) return min_;           // below kMinValue: no better estimate than the minimum
  if (i == t.overflow) return max_;  // above kMaxValue: only the maximum is known
  const double midpoint = std::sqrt(t.lower[i] * t.lower[i + 1]);
  return std::clamp(midpoint, min_, max_);
}

}  // namespace dynamo::stats
