#include "core/workload/workload_stats.h"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

Request Req(int64_t arrival_ms, int32_t isl, int32_t osl, std::vector<uint64_t> blocks = {}) {
  Request r;
  r.arrival = Time::Zero() + Duration::Millis(arrival_ms);
  r.isl = isl;
  r.osl = osl;
  r.block_hashes = std::move(blocks);
  return r;
}

TEST(WorkloadStatsTest, NearestRankPercentiles) {
  std::vector<int64_t> v{1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  EXPECT_EQ(NearestRank(v, 0.5), 5);
  EXPECT_EQ(NearestRank(v, 0.9), 9);
  EXPECT_EQ(NearestRank(v, 0.99), 10);
  EXPECT_EQ(NearestRank(v, 0.01), 1);
  EXPECT_EQ(NearestRank({7}, 0.5), 7);
}

TEST(WorkloadStatsTest, RatesLengthsAndReuse) {
  Workload w;
  w.block_tokens = 4;
  w.requests = {Req(0, 8, 1, {1, 2}), Req(500, 12, 3, {1, 2, 3}), Req(1000, 8, 5, {9, 2}),
                Req(2000, 4, 7, {1})};
  const WorkloadStats s = ComputeWorkloadStats(w);
  EXPECT_EQ(s.requests, 4);
  EXPECT_DOUBLE_EQ(*s.duration_s, 2.0);
  EXPECT_DOUBLE_EQ(*s.mean_rate_rps, 1.5);
  EXPECT_DOUBLE_EQ(s.isl.mean, 8.0);
  EXPECT_EQ(s.isl.p50, 8);
  EXPECT_EQ(s.isl.max, 12);
  EXPECT_EQ(s.osl.total, 16);
  // Hits: r1 {1,2} of 3; r2: block 9 misses, so its cached "2" does not count; r3 {1}.
  EXPECT_DOUBLE_EQ(*s.prefix_reuse_ratio, 3.0 / 8.0);
}

TEST(WorkloadStatsTest, NoPrefixInformationMeansNoRatio) {
  Workload w;
  w.requests = {Req(0, 8, 1), Req(10, 8, 1)};
  EXPECT_FALSE(ComputeWorkloadStats(w).prefix_reuse_ratio.has_value());
}

}  // namespace
}  // namespace dynamo
