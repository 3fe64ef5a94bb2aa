#include "core/stats/log_histogram.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace dynamo::stats {
namespace {

constexpr double kPercentiles[] = {0,  0.1, 1,  5,    10,   25,    50, 75,
                                   90, 95,  99, 99.5, 99.9, 99.99, 100};

// Exact nearest-rank percentile: rank max(1, ceil(q / 100 * n)) in ascending order.
double NearestRank(std::vector<double> sorted, double q) {
  std::sort(sorted.begin(), sorted.end());
  const double n = static_cast<double>(sorted.size());
  const auto rank = static_cast<size_t>(std::max(1.0, std::ceil(q * n / 100.0)));
  return sorted[std::min(rank, sorted.size()) - 1];
}

void ExpectWithinOnePercent(const LogHistogram& h, const std::vector<double>& samples) {
  std::vector<double> sorted = samples;
  std::sort(sorted.begin(), sorted.end());
  for (double q : kPercentiles) {
    const double exact = NearestRank(sorted, q);
    EXPECT_NEAR(h.Percentile(q), exact, 0.01 * exact) << "q " << q;
  }
  EXPECT_EQ(h.Percentile(0), sorted.front());
  EXPECT_EQ(h.Percentile(100), sorted.back());
}

TEST(LogHistogramTest, EmptyReportsZero) {
  LogHistogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.sum(), 0.0);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 0.0);
  EXPECT_EQ(h.Percentile(50), 0.0);
  EXPECT_EQ(h.Percentile(100), 0.0);
}

TEST(LogHistogramTest, FixedMemory) {
  EXPECT_GT(LogHistogram::num_buckets(), 1390);
  EXPECT_LT(LogHistogram::num_buckets(), 1410);
}

TEST(LogHistogramTest, ExactCountSumMinMax) {
  LogHistogram h;
  for (double v : {3.0, 1.5, 7.25, 0.0, 2.0}) h.Add(v);
  EXPECT_EQ(h.count(), 5u);
  EXPECT_DOUBLE_EQ(h.sum(), 13.75);
  EXPECT_DOUBLE_EQ(h.mean(), 2.75);
  EXPECT_EQ(h.min(), 0.0);
  EXPECT_EQ(h.max(), 7.25);
}

TEST(LogHistogramTest, LognormalPercentilesWithinOnePercent) {
  for (uint64_t seed : {1u, 2u, 3u, 17u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    RngStream rng(seed, "log_histogram_lognormal");
    LogHistogram h;
    std::vector<double> samples;
    for (int i = 0; i < 100000; ++i) {
      const double v = rng.LogNormal(4.0, 1.5);  // a latency in ms: median ~55, tail ~10^4
      samples.push_back(v);
      h.Add(v);
    }
    ExpectWithinOnePercent(h, samples);
  }
}

TEST(LogHistogramTest, UniformPercentilesWithinOnePercent) {
  for (uint64_t seed : {5u, 6u, 7u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    RngStream rng(seed, "log_histogram_uniform");
    LogHistogram h;
    std::vector<double> samples;
    for (int i = 0; i < 100000; ++i) {
      const double v = rng.Uniform(0.5, 2000.0);
      samples.push_back(v);
      h.Add(v);
    }
    ExpectWithinOnePercent(h, samples);
  }
}

// One value between two far ones: its rank is reported as its bucket's midpoint, unclamped.
// Sweeps values across the whole range, on and beside bucket bounds.
TEST(LogHistogramTest, EveryBucketWithinOnePercent) {
  for (double v = LogHistogram::kMinValue; v < LogHistogram::kMaxValue; v *= 1.0073) {
    for (double x : {v, std::nextafter(v, 0.0), v * LogHistogram::kRatio,
                     std::nextafter(v * LogHistogram::kRatio, 0.0)}) {
      if (x < LogHistogram::kMinValue || x >= LogHistogram::kMaxValue) continue;
      LogHistogram h;
      h.Add(0.0);
      h.Add(x);
      h.Add(2e9);
      ASSERT_NEAR(h.Percentile(50), x, 0.01 * x) << "value " << x;
    }
  }
}

TEST(LogHistogramTest, SmallValues) {
  RngStream rng(11, "log_histogram_small");
  LogHistogram h;
  std::vector<double> samples;
  for (int i = 0; i < 100000; ++i) {
    const double v = rng.Uniform(LogHistogram::kMinValue, 0.01);
    samples.push_back(v);
    h.Add(v);
  }
  ExpectWithinOnePercent(h, samples);

  // Below kMinValue the values share one bucket: reported as the exact minimum, and the
  // extremes stay exact.
  LogHistogram tiny;
  for (double v : {0.0, 1e-6, 5e-4}) tiny.Add(v);
  EXPECT_EQ(tiny.Percentile(0), 0.0);
  EXPECT_EQ(tiny.Percentile(50), 0.0);
  EXPECT_EQ(tiny.Percentile(100), 5e-4);
  EXPECT_DOUBLE_EQ(tiny.sum(), 1e-6 + 5e-4);
}

TEST(LogHistogramTest, HugeValues) {
  RngStream rng(12, "log_histogram_huge");
  LogHistogram h;
  std::vector<double> samples;
  for (int i = 0; i < 100000; ++i) {
    const double v = rng.Uniform(1e6, LogHistogram::kMaxValue);
    samples.push_back(v);
    h.Add(v);
  }
  ExpectWithinOnePercent(h, samples);

  // Above kMaxValue: one top bucket, reported as the exact maximum; count and sum stay exact.
  LogHistogram top;
  for (double v : {1.0, 2.0, 3e12, 5e15}) top.Add(v);
  EXPECT_EQ(top.Percentile(100), 5e15);
  EXPECT_EQ(top.Percentile(75), 5e15);
  EXPECT_EQ(top.max(), 5e15);
  EXPECT_EQ(top.count(), 4u);
  EXPECT_DOUBLE_EQ(top.sum(), 3.0 + 3e12 + 5e15);
}

TEST(LogHistogramTest, MergeEqualsAddingEverything) {
  RngStream rng(21, "log_histogram_merge");
  LogHistogram a, b, all;
  std::vector<double> samples;
  for (int i = 0; i < 50000; ++i) {
    const double v = rng.LogNormal(1.0, 2.0);
    (i % 3 == 0 ? a : b).Add(v);
    all.Add(v);
    samples.push_back(v);
  }
  LogHistogram merged = a;
  merged.Merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_NEAR(merged.sum(), all.sum(), 1e-9 * all.sum());
  EXPECT_EQ(merged.min(), all.min());
  EXPECT_EQ(merged.max(), all.max());
  for (double q : kPercentiles) EXPECT_EQ(merged.Percentile(q), all.Percentile(q)) << "q " << q;

  // Merging into an empty histogram, and merging an empty one, change nothing else.
  LogHistogram empty;
  LogHistogram c;
  c.Merge(a);
  c.Merge(empty);
  EXPECT_EQ(c.count(), a.count());
  EXPECT_EQ(c.min(), a.min());
  EXPECT_EQ(c.max(), a.max());
  EXPECT_EQ(c.Percentile(90), a.Percentile(90));
}

TEST(LogHistogramTest, NearestRankOnSmallSets) {
  LogHistogram h;
  for (int v = 1; v <= 10; ++v) h.Add(v * 10.0);  // 10, 20, ..., 100
  // rank = ceil(q / 100 * 10): p50 -> 5th (50), p51 -> 6th (60), p10 -> 1st (10), p99 -> 10th.
  EXPECT_NEAR(h.Percentile(50), 50.0, 0.5);
  EXPECT_NEAR(h.Percentile(51), 60.0, 0.6);
  EXPECT_EQ(h.Percentile(10), 10.0);
  EXPECT_EQ(h.Percentile(99), 100.0);
  EXPECT_NEAR(h.Percentile(90), 90.0, 0.9);

  LogHistogram one;
  one.Add(42.0);
  for (double q : kPercentiles) EXPECT_EQ(one.Percentile(q), 42.0);
}

TEST(LogHistogramDeathTest, RejectsNegativeAndNonFinite) {
  LogHistogram h;
  EXPECT_DEATH(h.Add(-1.0), "CHECK failed");
  EXPECT_DEATH(h.Add(std::nan("")), "CHECK failed");
  EXPECT_DEATH(h.Add(HUGE_VAL), "CHECK failed");
}

}  // namespace
}  // namespace dynamo::stats
