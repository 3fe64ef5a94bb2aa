// KV indexer and block hashing throughput: indexer events per second (blocks stored + removed),
// FindMatches calls per second on 250-block prompts (4,000 tokens, block 16) with 64 workers,
// and block hashes per second from trace block ids and from tokens. The router runs FindMatches
// once per request and the indexer applies every KV event of every worker, so these bound the
// router's share of a simulation.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/rng.h"
#include "runtime/router/block_hash.h"
#include "runtime/router/kv_indexer.h"

namespace dynamo::router {
namespace {

constexpr int kWorkers = 64;
constexpr int kPromptBlocks = 250;  // 4,000 tokens / block 16

// A prompt: the first `shared` blocks of family `family`'s chain, then private blocks.
std::vector<uint64_t> Prompt(RngStream& rng, int families, int shared, int total) {
  const uint64_t family = rng.Below(static_cast<uint64_t>(families));
  const uint64_t own = rng.NextU64();
  std::vector<uint64_t> h;
  h.reserve(static_cast<size_t>(total));
  uint64_t prev = Mix64(family + 1);
  for (int i = 0; i < total; ++i) {
    prev = Mix64(prev ^ (i < shared ? 0x9E37ull : own));
    h.push_back(prev);
  }
  return h;
}

// Stored + Removed: a window of live chains (16..256 blocks, 8 families of shared prefixes)
// over 64 workers; each iteration stores one chain and removes the oldest.
void BM_IndexerEvents(benchmark::State& state) {
  RngStream rng(7, "kv_indexer_bench.events");
  constexpr size_t kChains = 4096;
  constexpr size_t kLive = 1024;
  std::vector<std::vector<uint64_t>> chains;
  for (size_t i = 0; i < kChains; ++i) {
    const int len = static_cast<int>(rng.UniformInt(16, 256));
    chains.push_back(Prompt(rng, 8, static_cast<int>(rng.UniformInt(0, len)), len));
  }
  KvIndexer ix;
  auto worker = [](size_t i) {
    return WorkerId(static_cast<uint32_t>(1000 + (i * 37) % kWorkers));
  };
  for (size_t i = 0; i < kLive; ++i) ix.Stored(worker(i), chains[i]);
  size_t next = kLive;
  int64_t blocks = 0;
  for (auto _ : state) {
    const size_t add = next % kChains;
    const size_t drop = (next - kLive) % kChains;
    ix.Stored(worker(next), chains[add]);
    ix.Removed(worker(next - kLive), chains[drop]);
    blocks += static_cast<int64_t>(chains[add].size() + chains[drop].size());
    ++next;
  }
  state.SetItemsProcessed(blocks);
  state.counters["nodes"] = static_cast<double>(ix.num_nodes());
}
BENCHMARK(BM_IndexerEvents);

// FindMatches: each of 64 workers caches 32 prompts of 250 blocks; queries are fresh prompts
// from the same distribution (a shared prefix of 0..250 blocks of one of `families` families).
// Few families: the shared prefixes are held by most workers (bitset path); many families: by
// one to three workers (inline path).
void BM_FindMatches(benchmark::State& state) {
  const int families = static_cast<int>(state.range(0));
  RngStream rng(11, "kv_indexer_bench.find");
  KvIndexer ix;
  for (int w = 0; w < kWorkers; ++w) {
    for (int p = 0; p < 32; ++p) {
      const auto h =
          Prompt(rng, families, static_cast<int>(rng.UniformInt(0, kPromptBlocks)), kPromptBlocks);
      ix.Stored(WorkerId(static_cast<uint32_t>(w * 3 + 5)), h);
    }
  }
  std::vector<std::vector<uint64_t>> queries;
  for (int q = 0; q < 256; ++q) {
    queries.push_back(
        Prompt(rng, families, static_cast<int>(rng.UniformInt(0, kPromptBlocks)), kPromptBlocks));
  }
  std::vector<std::pair<WorkerId, int32_t>> out;
  size_t q = 0;
  int64_t matched = 0, holders = 0;
  for (auto _ : state) {
    ix.FindMatches(queries[q], out);
    holders += static_cast<int64_t>(out.size());
    for (const auto& [w, m] : out) matched += m;
    q = (q + 1) % queries.size();
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["workers_matched"] =
      static_cast<double>(holders) / static_cast<double>(state.iterations());
  state.counters["mean_overlap"] =
      holders > 0 ? static_cast<double>(matched) / static_cast<double>(holders) : 0.0;
  state.counters["nodes"] = static_cast<double>(ix.num_nodes());
}
BENCHMARK(BM_FindMatches)->Arg(4)->Arg(64)->Arg(1024);

// Mooncake-style traces: 512-token block ids -> 250 engine blocks of 16 tokens.
void BM_HashesFromBlockIds(benchmark::State& state) {
  std::vector<uint64_t> ids;
  for (uint64_t k = 0; k < 8; ++k) ids.push_back(Mix64(k));
  std::vector<uint64_t> out;
  for (auto _ : state) {
    HashesFromBlockIds(ids, 512, 16, kPromptBlocks, kBlockHashSeed, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetItemsProcessed(state.iterations() * kPromptBlocks);
}
BENCHMARK(BM_HashesFromBlockIds);

// Tokens -> chained hashes (4,000 tokens, block 16).
void BM_TokenBlockHashes(benchmark::State& state) {
  std::vector<uint32_t> tokens;
  for (uint32_t t = 0; t < 16 * kPromptBlocks; ++t) tokens.push_back(t * 2654435761u);
  std::vector<uint64_t> local, seq;
  for (auto _ : state) {
    LocalBlockHashes(tokens, 16, kBlockHashSeed, local);
    SequenceHashes(local, seq);
    benchmark::DoNotOptimize(seq.data());
  }
  state.SetItemsProcessed(state.iterations() * kPromptBlocks);
}
BENCHMARK(BM_TokenBlockHashes);

}  // namespace
}  // namespace dynamo::router

BENCHMARK_MAIN();
