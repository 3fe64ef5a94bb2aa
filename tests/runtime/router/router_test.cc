#include "runtime/router/router.h"

#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <vector>

namespace dynamo::router {
namespace {

Router Make(Policy p, int workers, uint64_t seed = 1) {
  auto r = Router::Create({p, seed});
  EXPECT_TRUE(r.ok());
  for (int w = 0; w < workers; ++w) r->AddWorker(Time::Zero(), WorkerId(static_cast<uint32_t>(w)));
  return std::move(*r);
}

uint32_t Pick(Router& r, uint64_t id) {
  return r.Route(Time::Zero(), {RequestId(id), 100, {}}).worker.value();
}

TEST(RouterTest, PolicyNamesRoundTrip) {
  for (Policy p : {Policy::kRoundRobin, Policy::kLeastLoaded, Policy::kRandom, Policy::kKv}) {
    auto parsed = ParsePolicy(PolicyName(p));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, p);
  }
  auto bad = ParsePolicy("fastest");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().message(),
            "router policy 'fastest' is unknown; use round_robin, least_loaded, random or kv");
}

TEST(RouterTest, CreateRejectsBadKnobs) {
  Router::Config c;
  c.policy = Policy::kKv;
  c.overlap_weight = -1;
  auto r = Router::Create(c);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "router overlap_weight -1.000000 must be a finite number >= 0 (0 = balance decode load "
            "only)");
  c.overlap_weight = 1;
  c.temperature = -0.5;
  EXPECT_FALSE(Router::Create(c).ok());
  c.temperature = 0;
  c.block_size = 0;
  EXPECT_FALSE(Router::Create(c).ok());
  c.block_size = 16;
  c.queue_threshold = -1;
  EXPECT_FALSE(Router::Create(c).ok());
  c.queue_threshold = 0;
  EXPECT_TRUE(Router::Create(c).ok());
}

TEST(RouterTest, RoundRobinCyclesInAddOrder) {
  Router r = Make(Policy::kRoundRobin, 3);
  std::vector<uint32_t> got;
  for (uint64_t i = 0; i < 7; ++i) got.push_back(Pick(r, i));
  EXPECT_EQ(got, (std::vector<uint32_t>{0, 1, 2, 0, 1, 2, 0}));
}

TEST(RouterTest, RoundRobinSurvivesWorkerRemoval) {
  Router r = Make(Policy::kRoundRobin, 3);
  EXPECT_EQ(Pick(r, 0), 0u);
  EXPECT_EQ(Pick(r, 1), 1u);
  r.RemoveWorker(Time::Zero(), WorkerId(2));
  EXPECT_EQ(Pick(r, 2), 0u);  // the cursor wrapped: worker 2 is gone
  EXPECT_EQ(Pick(r, 3), 1u);
  r.AddWorker(Time::Zero(), WorkerId(7));
  std::map<uint32_t, int> next3;
  for (uint64_t i = 4; i < 7; ++i) ++next3[Pick(r, i)];
  EXPECT_EQ(next3, (std::map<uint32_t, int>{{0, 1}, {1, 1}, {7, 1}}));
}

TEST(RouterTest, LeastLoadedCountsInFlightAndReleases) {
  Router r = Make(Policy::kLeastLoaded, 3);
  EXPECT_EQ(Pick(r, 0), 0u);  // ties: the worker added first
  EXPECT_EQ(Pick(r, 1), 1u);
  EXPECT_EQ(Pick(r, 2), 2u);
  EXPECT_EQ(Pick(r, 3), 0u);
  r.Release(Time::Zero(), RequestId(1));  // worker 1 now has the fewest
  EXPECT_EQ(r.in_flight(WorkerId(1)), 0);
  EXPECT_EQ(Pick(r, 4), 1u);
  r.Release(Time::Zero(), RequestId(99));  // unknown: ignored
  EXPECT_EQ(r.in_flight(WorkerId(0)), 2);
  r.RemoveWorker(Time::Zero(), WorkerId(0));
  r.Release(Time::Zero(), RequestId(0));  // its worker is gone: ignored
  EXPECT_EQ(r.in_flight(WorkerId(1)), 1);
}

TEST(RouterTest, RandomIsUniformAndSeeded) {
  Router a = Make(Policy::kRandom, 4, 42);
  Router b = Make(Policy::kRandom, 4, 42);
  Router c = Make(Policy::kRandom, 4, 43);
  std::map<uint32_t, int> counts;
  int same_as_c = 0;
  constexpr int kN = 40000;
  for (uint64_t i = 0; i < kN; ++i) {
    const uint32_t x = Pick(a, i);
    EXPECT_EQ(x, Pick(b, i));
    same_as_c += x == Pick(c, i) ? 1 : 0;
    ++counts[x];
    a.Release(Time::Zero(), RequestId(i));
  }
  ASSERT_EQ(counts.size(), 4u);
  for (const auto& [w, n] : counts) EXPECT_NEAR(n, kN / 4, 500) << "worker " << w;
  EXPECT_LT(same_as_c, kN / 2);  // another seed, another sequence (~1/4 agree by chance)
}

// --- kv policy -----------------------------------------------------------------------------

constexpr int32_t kBs = 16;

Router MakeKv(int workers, Router::Config c = {}) {
  c.policy = Policy::kKv;
  c.block_size = kBs;
  auto r = Router::Create(c);
  EXPECT_TRUE(r.ok());
  for (int w = 0; w < workers; ++w) r->AddWorker(Time::Zero(), WorkerId(static_cast<uint32_t>(w)));
  return std::move(*r);
}

std::vector<uint64_t> Chain(uint64_t base, int n) {
  std::vector<uint64_t> h;
  for (int i = 0; i < n; ++i) h.push_back(base * 1000 + static_cast<uint64_t>(i) + 1);
  return h;
}

TEST(RouterKvTest, CostIsOverlapWeightTimesPrefillBlocksPlusDecodeBlocks) {
  Router r = MakeKv(3);
  const std::vector<uint64_t> h = Chain(7, 6);
  // Worker 1 holds the first 4 blocks of the prompt cached.
  r.KvStored(Time::Zero(), WorkerId(1), std::span(h).first(4));
  // 160 tokens = 10 blocks, the first 6 with shareable hashes.
  const RouteRequest req{RequestId(1), 160, h};
  std::vector<int32_t> overlap;
  // Idle: cost = 1 x uncached blocks + the request's own 10 blocks.
  EXPECT_EQ(r.Costs(req, &overlap), (std::vector<double>{20, 16, 20}));
  EXPECT_EQ(overlap, (std::vector<int32_t>{0, 4, 0}));
  const Decision d = r.Route(Time::Zero(), req);
  EXPECT_EQ(d.worker, WorkerId(1));
  EXPECT_EQ(d.overlap_blocks, 4);
  EXPECT_EQ(r.active_prefill_tokens(WorkerId(1)), 96);
  EXPECT_EQ(r.active_blocks(WorkerId(1)), 10);
  // The same prompt again: worker 1 carries 96 active prefill tokens (6 blocks) and 10 active
  // blocks of which the 6 hashed ones are shared with this request.
  const RouteRequest again{RequestId(2), 160, h};
  // w1: (96 + 96) / 16 = 12 prefill blocks + 10 active + 4 new = 26.
  EXPECT_EQ(r.Costs(again), (std::vector<double>{20, 26, 20}));
  // A tie between workers 0 and 2 (same cached size): the lower id.
  EXPECT_EQ(r.Route(Time::Zero(), again).worker, WorkerId(0));
}

TEST(RouterKvTest, OverlapWeightScalesOnlyThePrefillTerm) {
  Router::Config c;
  c.overlap_weight = 2.5;
  Router r = MakeKv(2, c);
  const std::vector<uint64_t> h = Chain(3, 4);
  r.KvStored(Time::Zero(), WorkerId(0), h);
  // 80 tokens = 5 blocks; worker 0 holds 4: 2.5 x 1 + 5; worker 1: 2.5 x 5 + 5.
  EXPECT_EQ(r.Costs({RequestId(1), 80, h}), (std::vector<double>{7.5, 17.5}));
  c.overlap_weight = 0;  // pure decode-load balance: no KV events needed
  Router flat = MakeKv(2, c);
  EXPECT_FALSE(flat.wants_kv_events());
  flat.KvStored(Time::Zero(), WorkerId(0), h);
  EXPECT_EQ(flat.indexer().num_nodes(), 0);
  EXPECT_EQ(flat.Costs({RequestId(1), 80, h}), (std::vector<double>{5, 5}));
}

TEST(RouterKvTest, TiesGoToTheWorkerWithFewerCachedBlocks) {
  Router r = MakeKv(3);
  // Workers 0 and 1 cache unrelated chains; worker 0 caches more.
  r.KvStored(Time::Zero(), WorkerId(0), Chain(1, 5));
  r.KvStored(Time::Zero(), WorkerId(1), Chain(2, 2));
  r.KvStored(Time::Zero(), WorkerId(2), Chain(3, 3));
  EXPECT_EQ(r.Route(Time::Zero(), {RequestId(1), 64, Chain(9, 4)}).worker, WorkerId(1));
}

TEST(RouterKvTest, PrefillDoneAndReleaseUnbookLoad) {
  Router r = MakeKv(1);
  const std::vector<uint64_t> h = Chain(5, 3);
  r.Route(Time::Zero(), {RequestId(1), 64, h});  // 4 blocks, 3 shared
  r.Route(Time::Zero(), {RequestId(2), 64, h});
  EXPECT_EQ(r.active_prefill_tokens(WorkerId(0)), 128);
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 3 + 1 + 1);  // shared once, one private each
  EXPECT_EQ(r.in_flight(WorkerId(0)), 2);
  r.PrefillDone(Time::Zero(), RequestId(1));
  r.PrefillDone(Time::Zero(), RequestId(1));  // twice: no effect
  EXPECT_EQ(r.active_prefill_tokens(WorkerId(0)), 64);
  r.Release(Time::Zero(), RequestId(2));
  EXPECT_EQ(r.active_prefill_tokens(WorkerId(0)), 0);
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 4);
  r.Release(Time::Zero(), RequestId(1));
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 0);
  EXPECT_EQ(r.in_flight(WorkerId(0)), 0);
}

TEST(RouterKvTest, WithoutKvReuseSharedBlocksCountPerRequest) {
  Router::Config c;
  c.assume_kv_reuse = false;
  Router r = MakeKv(1, c);
  const std::vector<uint64_t> h = Chain(5, 3);
  r.Route(Time::Zero(), {RequestId(1), 64, h});
  r.Route(Time::Zero(), {RequestId(2), 64, h});
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 8);
}

TEST(RouterKvTest, DecayByProgressFadesPrivateBlocks) {
  Router::Config c;
  c.decay_by_progress = true;
  Router r = MakeKv(1, c);
  ASSERT_TRUE(r.wants_progress());
  // 64 tokens, no shareable hashes: 4 private blocks; 100 output tokens expected.
  r.Route(Time::Zero(), {RequestId(1), 64, {}, 100});
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 4);
  r.Progress(Time::Zero(), RequestId(1), 25);
  EXPECT_DOUBLE_EQ(r.active_blocks(WorkerId(0)), 3);
  r.Progress(Time::Zero(), RequestId(1), 150);  // past the expectation: weight 0
  EXPECT_DOUBLE_EQ(r.active_blocks(WorkerId(0)), 0);
  r.Release(Time::Zero(), RequestId(1));
  EXPECT_EQ(r.active_blocks(WorkerId(0)), 0);
}

TEST(RouterKvTest, TemperatureSamplesBySoftmaxOfNormalizedCosts) {
  Router::Config c;
  c.temperature = 1.0;
  c.seed = 11;
  Router r = MakeKv(2, c);
  const std::vector<uint64_t> h = Chain(4, 4);
  r.KvStored(Time::Zero(), WorkerId(0), h);
  // Costs 6 (worker 0: 1 uncached + 5 blocks) and 10 (worker 1); normalized by the range 4:
  // p1 / p0 = exp(-1).
  ASSERT_EQ(r.Costs({RequestId(0), 80, h}), (std::vector<double>{6, 10}));
  const double p0 = 1 / (1 + std::exp(-1.0));
  int zero = 0;
  const int n = 20000;
  for (int i = 0; i < n; ++i) {
    const RequestId id(static_cast<uint64_t>(i + 1));
    zero += r.Route(Time::Zero(), {id, 80, h}).worker == WorkerId(0);
    r.Release(Time::Zero(), id);  // keep the costs unchanged
  }
  EXPECT_NEAR(static_cast<double>(zero) / n, p0, 0.015);
}

TEST(RouterKvTest, QueueingHoldsRequestsWhileEveryWorkerIsBusy) {
  Router::Config c;
  c.queue_threshold = 1.0;
  c.policy = Policy::kKv;
  c.block_size = kBs;
  auto made = Router::Create(c);
  ASSERT_TRUE(made.ok());
  Router r = std::move(*made);
  r.AddWorker(Time::Zero(), WorkerId(0), WorkerInfo{100});
  r.AddWorker(Time::Zero(), WorkerId(1), WorkerInfo{100});
  // 160 prompt tokens each: a worker with one is over 1.0 x 100 tokens, so busy.
  EXPECT_FALSE(r.Route(Time::Zero(), {RequestId(1), 160, {}}).queued);
  EXPECT_FALSE(r.Route(Time::Zero(), {RequestId(2), 160, {}}).queued);
  EXPECT_TRUE(r.Route(Time::Zero(), {RequestId(3), 160, {}}).queued);
  EXPECT_TRUE(r.Route(Time::Zero(), {RequestId(4), 16, {}}).queued);  // FCFS behind 3
  EXPECT_TRUE(r.Route(Time::Zero(), {RequestId(5), 16, {}}).queued);
  EXPECT_EQ(r.waiting(), 3u);
  EXPECT_FALSE(r.Dequeue(Time::Zero()).has_value());
  r.Release(Time::Zero(), RequestId(5));  // gave up while waiting
  EXPECT_EQ(r.waiting(), 2u);
  r.PrefillDone(Time::Zero(), RequestId(2));  // worker 1 no longer busy
  auto first = r.Dequeue(Time::Zero());
  ASSERT_TRUE(first.has_value());
  EXPECT_EQ(first->id, RequestId(3));
  EXPECT_EQ(first->decision.worker, WorkerId(1));
  EXPECT_FALSE(r.Dequeue(Time::Zero()).has_value());  // worker 1 busy again
  r.PrefillDone(Time::Zero(), RequestId(1));
  auto second = r.Dequeue(Time::Zero());
  ASSERT_TRUE(second.has_value());
  EXPECT_EQ(second->id, RequestId(4));
  EXPECT_EQ(second->decision.worker, WorkerId(0));
  EXPECT_EQ(r.waiting(), 0u);
}

TEST(RouterKvTest, RemovedWorkerLeavesTheIndexAndTheChoice) {
  Router r = MakeKv(2);
  const std::vector<uint64_t> h = Chain(6, 4);
  r.KvStored(Time::Zero(), WorkerId(1), h);
  r.Route(Time::Zero(), {RequestId(1), 64, h});
  r.RemoveWorker(Time::Zero(), WorkerId(1));
  EXPECT_EQ(r.indexer().tree_size(WorkerId(1)), 0);
  EXPECT_EQ(r.Route(Time::Zero(), {RequestId(2), 64, h}).worker, WorkerId(0));
  r.Release(Time::Zero(), RequestId(1));  // forgotten with the worker: ignored
  r.AddWorker(Time::Zero(), WorkerId(9));
  EXPECT_EQ(r.num_workers(), 2u);
  EXPECT_EQ(r.Route(Time::Zero(), {RequestId(3), 64, h}).worker, WorkerId(9));
}

TEST(RouterKvTest, SameSeedSameDecisions) {
  auto run = [](uint64_t seed) {
    Router::Config c;
    c.temperature = 0.5;
    c.seed = seed;
    Router r = MakeKv(8, c);
    std::vector<uint32_t> picks;
    for (uint64_t i = 0; i < 200; ++i) {
      const std::vector<uint64_t> h = Chain(i % 5, static_cast<int>(i % 7));
      picks.push_back(r.Route(Time::Zero(), {RequestId(i), 128, h}).worker.value());
      r.KvStored(Time::Zero(), WorkerId(picks.back()), h);
      if (i % 3 == 0) r.Release(Time::Zero(), RequestId(i / 2));
    }
    return picks;
  };
  EXPECT_EQ(run(3), run(3));
  EXPECT_NE(run(3), run(4));
}

}  // namespace
}  // namespace dynamo::router
