#include "sim/event_queue.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "core/rng.h"

namespace dynamo::sim {
namespace {

Time At(int64_t ns) { return Time::FromNanos(ns); }

TEST(EventQueueTest, PopsInTimeOrder) {
  EventQueue<int> q;
  EXPECT_TRUE(q.empty());
  q.Push(At(30), 3);
  q.Push(At(10), 1);
  q.Push(At(20), 2);
  q.Push(At(5), 0);
  ASSERT_EQ(q.size(), 4u);
  EXPECT_EQ(q.Top().payload, 0);
  std::vector<int> order;
  while (!q.empty()) order.push_back(q.Pop().payload);
  EXPECT_EQ(order, (std::vector<int>{0, 1, 2, 3}));
}

TEST(EventQueueTest, EqualTimesRunInPushOrder) {
  EventQueue<int> q;
  for (int i = 0; i < 100; ++i) q.Push(At(7), i);
  q.Push(At(3), -1);
  EXPECT_EQ(q.Pop().payload, -1);
  for (int i = 0; i < 100; ++i) {
    const auto e = q.Pop();
    EXPECT_EQ(e.payload, i);
    EXPECT_EQ(e.sequence, static_cast<uint64_t>(i));
    EXPECT_EQ(e.time, At(7));
  }
  EXPECT_EQ(q.pushed(), 101u);
}

TEST(EventQueueTest, NowIsTheLastPoppedTime) {
  EventQueue<int> q;
  EXPECT_EQ(q.now(), Time::Zero());
  q.Push(At(100), 1);
  q.Push(At(50), 2);
  EXPECT_EQ(q.now(), Time::Zero());  // pushing does not move the clock
  q.Pop();
  EXPECT_EQ(q.now(), At(50));
  q.Push(At(50), 3);  // at now: allowed
  EXPECT_EQ(q.Pop().payload, 3);
  EXPECT_EQ(q.Pop().payload, 1);
  EXPECT_EQ(q.now(), At(100));
}

TEST(EventQueueDeathTest, PushInThePastAborts) {
  EventQueue<int> q;
  q.Push(At(10), 1);
  q.Pop();
  EXPECT_DEATH(q.Push(At(9), 2), "CHECK failed");
}

TEST(EventQueueDeathTest, PopEmptyAborts) {
  EventQueue<int> q;
  EXPECT_DEATH(q.Pop(), "CHECK failed");
}

// Interleaved pushes and pops against a std::multimap keyed by (time, sequence).
TEST(EventQueueTest, MatchesAReferenceUnderRandomOperations) {
  for (uint64_t seed : {1u, 2u, 3u, 42u, 2024u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    RngStream rng(seed, "event_queue_test");
    EventQueue<uint64_t> q;
    std::multimap<std::pair<int64_t, uint64_t>, uint64_t> ref;
    uint64_t seq = 0;
    int64_t now = 0;
    for (int op = 0; op < 20000; ++op) {
      // Bias towards pushes early so the queue grows, then drains.
      const bool push = ref.empty() || rng.NextDouble() < (op < 10000 ? 0.6 : 0.4);
      if (push) {
        // Small delays make equal times common, exercising the sequence tie-break.
        const int64_t t = now + rng.UniformInt(0, rng.NextDouble() < 0.5 ? 3 : 1000);
        const uint64_t payload = rng.NextU64();
        q.Push(Time::FromNanos(t), payload);
        ref.emplace(std::pair{t, seq++}, payload);
      } else {
        ASSERT_FALSE(q.empty());
        const auto it = ref.begin();
        EXPECT_EQ(q.Top().payload, it->second);
        const auto e = q.Pop();
        ASSERT_EQ(e.time.nanos(), it->first.first);
        ASSERT_EQ(e.sequence, it->first.second);
        ASSERT_EQ(e.payload, it->second);
        now = e.time.nanos();
        EXPECT_EQ(q.now().nanos(), now);
        ref.erase(it);
      }
      ASSERT_EQ(q.size(), ref.size());
    }
    EXPECT_EQ(q.pushed(), seq);
  }
}

// The same events pushed in any order come out sorted by (time, sequence).
TEST(EventQueueTest, BulkPushPopsSorted) {
  RngStream rng(7, "event_queue_bulk");
  EventQueue<int> q;
  q.Reserve(5000);
  std::vector<std::pair<int64_t, int>> ref;
  for (int i = 0; i < 5000; ++i) {
    const int64_t t = rng.UniformInt(0, 500);
    q.Push(Time::FromNanos(t), i);
    ref.emplace_back(t, i);
  }
  std::stable_sort(ref.begin(), ref.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  for (const auto& [t, i] : ref) {
    const auto e = q.Pop();
    ASSERT_EQ(e.time.nanos(), t);
    ASSERT_EQ(e.payload, i);
  }
  EXPECT_TRUE(q.empty());
}

}  // namespace
}  // namespace dynamo::sim
