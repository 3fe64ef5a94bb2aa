// Routing decisions per second: 64 workers, 4,000-token prompts (250 blocks of 16), the kv
// policy with its indexer fed by KV events, against round robin. Each iteration routes one
// request, stores its prompt blocks on the chosen worker (as the worker's KV event would) and
// releases the request routed 256 decisions earlier, so the router carries ~256 requests in
// flight and a warm index.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <deque>
#include <vector>

#include "core/ids.h"
#include "core/rng.h"
#include "runtime/router/router.h"

namespace dynamo::router {
namespace {

constexpr int kWorkers = 64;
constexpr int32_t kPromptTokens = 4000;
constexpr int kPromptBlocks = kPromptTokens / 16;
constexpr size_t kInFlight = 256;
constexpr size_t kPrompts = 4096;

// Prompts from `families` system prompts of 1,024 tokens (64 blocks), then private blocks.
std::vector<std::vector<uint64_t>> Prompts(int families) {
  RngStream rng(5, "router_bench");
  std::vector<std::vector<uint64_t>> out;
  for (size_t i = 0; i < kPrompts; ++i) {
    const uint64_t family = rng.Below(static_cast<uint64_t>(families));
    const uint64_t own = rng.NextU64();
    std::vector<uint64_t> h;
    uint64_t prev = Mix64(family + 1);
    for (int b = 0; b < kPromptBlocks; ++b) {
      prev = Mix64(prev ^ (b < 64 ? 0x51ull : own));
      h.push_back(prev | 1);
    }
    out.push_back(std::move(h));
  }
  return out;
}

void Run(benchmark::State& state, Policy policy) {
  const auto prompts = Prompts(static_cast<int>(state.range(0)));
  Router::Config c;
  c.policy = policy;
  c.block_size = 16;
  auto made = Router::Create(c);
  if (!made.ok()) {
    state.SkipWithError("router");
    return;
  }
  Router r = std::move(*made);
  for (int w = 0; w < kWorkers; ++w) r.AddWorker(Time::Zero(), WorkerId(static_cast<uint32_t>(w)));
  std::deque<RequestId> in_flight;
  uint64_t next = 0;
  for (auto _ : state) {
    const std::vector<uint64_t>& h = prompts[next % kPrompts];
    const RequestId id(next++);
    const Decision d = r.Route(Time::Zero(), {id, kPromptTokens, h, 256});
    benchmark::DoNotOptimize(d);
    r.KvStored(Time::Zero(), d.worker, h);
    in_flight.push_back(id);
    if (in_flight.size() > kInFlight) {
      r.PrefillDone(Time::Zero(), in_flight.front());
      r.Release(Time::Zero(), in_flight.front());
      in_flight.pop_front();
    }
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["index_nodes"] = static_cast<double>(r.indexer().num_nodes());
}

void BM_RouteKv(benchmark::State& state) { Run(state, Policy::kKv); }
void BM_RouteRoundRobin(benchmark::State& state) { Run(state, Policy::kRoundRobin); }

// Argument: system-prompt families (how many distinct shared prefixes).
BENCHMARK(BM_RouteKv)->Arg(8)->Arg(64);
BENCHMARK(BM_RouteRoundRobin)->Arg(8);

}  // namespace
}  // namespace dynamo::router

BENCHMARK_MAIN();
