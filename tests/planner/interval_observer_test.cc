#include "planner/interval_observer.h"

#include <gtest/gtest.h>

#include <vector>

#include "core/stats/log_histogram.h"

namespace dynamo::planner {
namespace {

WorkerId W(uint32_t id) { return WorkerId(id); }

TEST(IntervalObserverTest, AnEmptyIntervalHasNoLatencies) {
  IntervalObserver obs(90);
  const Observation o = obs.Close(/*prefill_replicas=*/0, /*decode_replicas=*/3);
  EXPECT_EQ(o.requests, 0);
  EXPECT_EQ(o.mean_isl, 0);
  EXPECT_EQ(o.mean_osl, 0);
  EXPECT_EQ(o.kv_hit_rate, 0);
  EXPECT_FALSE(o.ttft_ms.has_value());
  EXPECT_FALSE(o.itl_ms.has_value());
  EXPECT_TRUE(o.worker_ttft_ms.empty());
  EXPECT_TRUE(o.worker_itl_ms.empty());
  EXPECT_EQ(o.prefill_replicas, 0);
  EXPECT_EQ(o.decode_replicas, 3);
}

TEST(IntervalObserverTest, LoadAndHitRateAreExactMeans) {
  IntervalObserver obs(90);
  obs.Arrival(100, 10);
  obs.Arrival(300, 30);
  obs.Arrival(200, 50);
  obs.Admitted(/*cached_tokens=*/50, /*prompt_tokens=*/100);
  obs.Admitted(0, 300);
  EXPECT_EQ(obs.arrivals(), 3);
  const Observation o = obs.Close(2, 1);
  EXPECT_EQ(o.requests, 3);
  EXPECT_EQ(o.mean_isl, 200);
  EXPECT_EQ(o.mean_osl, 30);
  EXPECT_EQ(o.kv_hit_rate, 0.125);  // 50 of 400 prompt tokens
  EXPECT_EQ(o.prefill_replicas, 2);
  EXPECT_EQ(o.decode_replicas, 1);
}

TEST(IntervalObserverTest, QuantilesOverallAndPerWorkerInWorkerOrder) {
  IntervalObserver obs(90);
  // Worker 2 first: the per-worker lists still come in worker id order.
  obs.Ttft(W(2), 5);
  obs.Ttft(W(2), 7);
  obs.Ttft(W(0), 100);
  for (int i = 1; i <= 10; ++i) obs.Itl(W(1), i);  // worker 1 has gaps but no first token
  EXPECT_EQ(obs.ttft_samples(), 3u);
  EXPECT_EQ(obs.itl_samples(), 10u);
  const Observation o = obs.Close(0, 3);
  // Nearest rank: p90 of {5, 7, 100} is rank 3 = the max, reported exactly.
  ASSERT_TRUE(o.ttft_ms.has_value());
  EXPECT_EQ(*o.ttft_ms, 100);
  // p90 of 1..10 is rank 9: 9 within the histogram's 1%, and exactly what a LogHistogram says.
  stats::LogHistogram ref;
  for (int i = 1; i <= 10; ++i) ref.Add(i);
  ASSERT_TRUE(o.itl_ms.has_value());
  EXPECT_EQ(*o.itl_ms, ref.Percentile(90));
  EXPECT_NEAR(*o.itl_ms, 9, 0.09);
  // Per worker: 0 -> {100}, 2 -> {5, 7} (rank 2 = the max); ITL only worker 1.
  EXPECT_EQ(o.worker_ttft_ms, (std::vector<double>{100, 7}));
  ASSERT_EQ(o.worker_itl_ms.size(), 1u);
  EXPECT_EQ(o.worker_itl_ms[0], ref.Percentile(90));
}

TEST(IntervalObserverTest, ThePercentileIsThePlanners) {
  IntervalObserver p50(50), p99(99);
  for (int i = 1; i <= 100; ++i) {
    p50.Ttft(W(0), i);
    p99.Ttft(W(0), i);
  }
  EXPECT_NEAR(*p50.Close(0, 1).ttft_ms, 50, 0.5);
  EXPECT_NEAR(*p99.Close(0, 1).ttft_ms, 99, 0.99);
}

TEST(IntervalObserverTest, CloseStartsANewInterval) {
  IntervalObserver obs(90);
  obs.Arrival(10, 10);
  obs.Admitted(5, 10);
  obs.Ttft(W(0), 40);
  obs.Itl(W(0), 4);
  (void)obs.Close(0, 1);
  EXPECT_EQ(obs.arrivals(), 0);
  EXPECT_EQ(obs.ttft_samples(), 0u);
  obs.Ttft(W(1), 8);
  const Observation o = obs.Close(0, 2);
  EXPECT_EQ(o.requests, 0);
  EXPECT_EQ(o.kv_hit_rate, 0);
  EXPECT_EQ(*o.ttft_ms, 8);
  EXPECT_FALSE(o.itl_ms.has_value());
  EXPECT_EQ(o.worker_ttft_ms, (std::vector<double>{8}));  // worker 0 had nothing this time
  EXPECT_TRUE(o.worker_itl_ms.empty());
}

TEST(IntervalObserverTest, AWorkerThatLeftCountsOverallOnly) {
  IntervalObserver obs(90);
  obs.Ttft(W(0), 10);
  obs.Ttft(W(1), 30);
  obs.WorkerLeft(W(1));  // draining: this interval's samples of it go from the per-worker list
  obs.Ttft(W(1), 50);    // still finishing requests
  obs.Itl(W(1), 2);
  obs.WorkerLeft(W(7));  // never seen: fine
  Observation o = obs.Close(0, 1);
  EXPECT_EQ(*o.ttft_ms, 50);  // overall: 10, 30, 50
  EXPECT_EQ(*o.itl_ms, 2);
  EXPECT_EQ(o.worker_ttft_ms, (std::vector<double>{10}));
  EXPECT_TRUE(o.worker_itl_ms.empty());

  obs.Ttft(W(1), 20);  // still left in the next interval
  o = obs.Close(0, 1);
  EXPECT_TRUE(o.worker_ttft_ms.empty());

  obs.WorkerJoined(W(1));  // the id serves again
  obs.Ttft(W(1), 20);
  o = obs.Close(0, 1);
  EXPECT_EQ(o.worker_ttft_ms, (std::vector<double>{20}));
}

TEST(IntervalObserverTest, MatchesALogHistogramFedTheSameSamples) {
  // What the simulator computed before it used the observer: one histogram overall, one per
  // worker, Percentile at the plan's percent.
  IntervalObserver obs(95);
  stats::LogHistogram all, w0, w1;
  for (int i = 0; i < 1000; ++i) {
    const double v = 0.5 + 0.37 * i + (i % 7) * 3.1;
    const WorkerId w = W(static_cast<uint32_t>(i % 2));
    obs.Itl(w, v);
    all.Add(v);
    (i % 2 == 0 ? w0 : w1).Add(v);
  }
  const Observation o = obs.Close(1, 1);
  EXPECT_EQ(*o.itl_ms, all.Percentile(95));
  EXPECT_EQ(o.worker_itl_ms, (std::vector<double>{w0.Percentile(95), w1.Percentile(95)}));
}

}  // namespace
}  // namespace dynamo::planner
