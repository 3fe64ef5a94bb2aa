// CUPTI activity aggregation: per-repetition GPU busy time from kernel/memcpy records.
#include "profiler/cuda/kernel_timeline.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "core/rng.h"

namespace dynamo::profiler::gpu {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

ActivityInterval Iv(uint64_t start, uint64_t end, uint32_t corr) { return {start, end, corr}; }

TEST(UnionLengthNs, DisjointOverlappingNestedAndTouching) {
  EXPECT_EQ(UnionLengthNs({}), 0);
  EXPECT_EQ(UnionLengthNs({Iv(10, 20, 0), Iv(30, 35, 0)}), 15);
  EXPECT_EQ(UnionLengthNs({Iv(10, 20, 0), Iv(15, 30, 0)}), 20);
  EXPECT_EQ(UnionLengthNs({Iv(10, 100, 0), Iv(20, 30, 0), Iv(40, 50, 0)}), 90);
  EXPECT_EQ(UnionLengthNs({Iv(10, 20, 0), Iv(20, 30, 0)}), 20);
  EXPECT_EQ(UnionLengthNs({Iv(30, 40, 0), Iv(10, 20, 0), Iv(15, 32, 0)}), 30);  // unsorted
  EXPECT_EQ(UnionLengthNs({Iv(5, 5, 0)}), 0);
}

// Property test against a brute-force count over unit time steps.
TEST(UnionLengthNs, MatchesBruteForce) {
  const uint64_t seed = 20251121;
  RngStream rng(seed, "union_length");
  for (int trial = 0; trial < 200; ++trial) {
    const int n = static_cast<int>(rng.UniformInt(0, 12));
    std::vector<ActivityInterval> ivs;
    std::vector<bool> covered(300, false);
    for (int i = 0; i < n; ++i) {
      const auto start = static_cast<uint64_t>(rng.UniformInt(0, 250));
      const auto end = start + static_cast<uint64_t>(rng.UniformInt(0, 49));
      ivs.push_back(Iv(start, end, 0));
      for (uint64_t t = start; t < end; ++t) covered[t] = true;
    }
    const auto expected = static_cast<int64_t>(std::count(covered.begin(), covered.end(), true));
    ASSERT_EQ(UnionLengthNs(ivs), expected) << "seed " << seed << " trial " << trial;
  }
}

// Two repetitions, each one launch (correlation ids 11 and 21) of two overlapping kernels on
// two GPUs, plus API calls without kernels (12, 22) and untagged warm-up work (5).
ActivityBatch TwoRepetitions() {
  ActivityBatch b;
  b.tags = {{11, RepetitionExternalId(0)},
            {12, RepetitionExternalId(0)},
            {21, RepetitionExternalId(1)},
            {22, RepetitionExternalId(1)}};
  b.intervals = {
      Iv(100, 200, 5),                         // warm-up: ignored
      Iv(1000, 1100, 11), Iv(1050, 1150, 11),  // rep 0: union 150
      Iv(2000, 2080, 21), Iv(2100, 2120, 21),  // rep 1: two kernels with a gap: 100
  };
  return b;
}

TEST(RepetitionDurations, UnionPerRepetitionIgnoringUntaggedWork) {
  StatusOr<std::vector<int64_t>> d = RepetitionDurations(TwoRepetitions(), 2);
  ASSERT_TRUE(d.ok()) << d.status().message();
  EXPECT_THAT(*d, ElementsAre(150, 100));
}

TEST(RepetitionDurations, TagsOfOtherExternalIdsAreIgnored) {
  ActivityBatch b = TwoRepetitions();
  b.tags.push_back({5, 99});  // someone else's external id
  b.tags.push_back({5, 0});
  EXPECT_THAT(*RepetitionDurations(b, 2), ElementsAre(150, 100));
}

TEST(RepetitionDurations, DroppedRecordsAreAnError) {
  ActivityBatch b = TwoRepetitions();
  b.dropped_records = 3;
  const Status s = RepetitionDurations(b, 2).status();
  EXPECT_EQ(s.code(), StatusCode::kInternal);
  EXPECT_THAT(s.message(), HasSubstr("dropped 3"));
}

TEST(RepetitionDurations, ARepetitionWithoutRecordsIsAnError) {
  const Status s = RepetitionDurations(TwoRepetitions(), 3).status();
  EXPECT_THAT(s.message(), HasSubstr("repetition 2 of 3"));
}

TEST(RepetitionDurations, UnequalRecordCountsRevealLostRecords) {
  ActivityBatch b = TwoRepetitions();
  b.intervals.pop_back();  // rep 1 lost its second kernel
  const Status s = RepetitionDurations(b, 2).status();
  EXPECT_THAT(s.message(), HasSubstr("repetition 1 has 1 CUPTI records but repetition 0 has 2"));
}

TEST(RepetitionDurations, CorruptIntervalIsAnError) {
  ActivityBatch b = TwoRepetitions();
  b.intervals.push_back(Iv(3000, 2999, 21));
  EXPECT_THAT(RepetitionDurations(b, 2).status().message(), HasSubstr("ends before it starts"));
}

TEST(RepetitionDurations, NoRecordsAtAll) {
  ActivityBatch b;
  b.tags = {{1, 1}};
  EXPECT_FALSE(RepetitionDurations(b, 1).ok());
}

}  // namespace
}  // namespace dynamo::profiler::gpu
