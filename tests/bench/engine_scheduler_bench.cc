// Engine-scheduler steps per second (Schedule + StepDone) in a decode-heavy steady state and a
// prefill-heavy mix with prefix sharing, and KV block operations per second. The simulator runs
// one Schedule/StepDone pair per simulated engine iteration, so these bound its speed.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/rng.h"
#include "runtime/worker/engine_scheduler.h"
#include "runtime/worker/kv_block_manager.h"

namespace dynamo::worker {
namespace {

struct Workload {
  int32_t min_prompt, max_prompt;
  int32_t min_output, max_output;
  int shared_families;  // 0: no prefix sharing
};

EngineRequest MakeRequest(RngStream& rng, uint64_t id, const Workload& w, int32_t block_size) {
  EngineRequest r;
  r.id = RequestId(id);
  r.prompt_tokens = static_cast<int32_t>(rng.UniformInt(w.min_prompt, w.max_prompt));
  r.max_output_tokens = static_cast<int32_t>(rng.UniformInt(w.min_output, w.max_output));
  const int64_t full = r.prompt_tokens / block_size;
  // Half the prompt comes from one of a few shared system prompts, the rest is unique.
  const uint64_t family = w.shared_families > 0 ? rng.Below(w.shared_families) : id;
  const uint64_t own = rng.NextU64();
  uint64_t h = Mix64(family + 1);
  r.block_hashes.reserve(static_cast<size_t>(full));
  for (int64_t i = 0; i < full; ++i) {
    h = Mix64(h ^ (i < full / 2 && w.shared_families > 0 ? 0x9E37ull : own));
    r.block_hashes.push_back(h == 0 ? 1 : h);
  }
  return r;
}

// Keeps `in_flight` requests in the scheduler (a new one for each finished one) and runs steps.
void RunSteps(benchmark::State& state, const EngineConfig& config, const Workload& w,
              int in_flight) {
  EngineScheduler s(config);
  RngStream rng(42, "engine_scheduler_bench");
  uint64_t next_id = 1;
  for (int i = 0; i < in_flight; ++i) {
    (void)s.Add(Time::Zero(), MakeRequest(rng, next_id++, w, config.block_size));
  }
  int64_t clock = 0;
  // Warm up into the steady state.
  for (int i = 0; i < 2000; ++i) {
    if (s.Schedule(Time::FromNanos(clock++)).empty()) break;
    const size_t finished = s.StepDone(Time::FromNanos(clock++)).finished.size();
    for (size_t k = 0; k < finished; ++k) {
      (void)s.Add(Time::FromNanos(clock), MakeRequest(rng, next_id++, w, config.block_size));
    }
  }
  int64_t tokens = 0, decode_seqs = 0, admitted = 0, preempted = 0;
  for (auto _ : state) {
    const StepPlan& plan = s.Schedule(Time::FromNanos(clock++));
    tokens += plan.num_tokens;
    decode_seqs += plan.batch.decode_seqs;
    admitted += static_cast<int64_t>(plan.admitted.size());
    preempted += static_cast<int64_t>(plan.preempted.size());
    const StepOutcome& out = s.StepDone(Time::FromNanos(clock++));
    for (size_t i = 0; i < out.finished.size(); ++i) {
      (void)s.Add(Time::FromNanos(clock), MakeRequest(rng, next_id++, w, config.block_size));
    }
  }
  state.SetItemsProcessed(state.iterations());
  const auto per_step = [&](int64_t v) {
    return benchmark::Counter(static_cast<double>(v) / static_cast<double>(state.iterations()));
  };
  state.counters["tokens/step"] = per_step(tokens);
  state.counters["decode/step"] = per_step(decode_seqs);
  state.counters["admit/step"] = per_step(admitted);
  state.counters["preempt/step"] = per_step(preempted);
}

// 64 long generations: almost every step is 64 decode tokens.
void BM_StepsDecodeHeavy(benchmark::State& state) {
  EngineConfig c;
  c.max_num_seqs = 64;
  c.max_num_batched_tokens = 8192;
  c.block_size = 16;
  c.num_blocks = 16384;
  RunSteps(state, c, {256, 1024, 1000, 3000, 4}, 64);
}
BENCHMARK(BM_StepsDecodeHeavy);

// Long prompts, short outputs, a deep waiting queue, prefix sharing: chunked prefill every step,
// frequent admissions and finishes, KV pressure with evictions.
void BM_StepsPrefillHeavy(benchmark::State& state) {
  EngineConfig c;
  c.max_num_seqs = 256;
  c.max_num_batched_tokens = 8192;
  c.block_size = 16;
  c.num_blocks = 8192;
  RunSteps(state, c, {1000, 4000, 20, 200, 8}, 300);
}
BENCHMARK(BM_StepsPrefillHeavy);

// Allocate a 64-block table then free it (no caching involved): block operations per second.
void BM_BlockAllocateFree(benchmark::State& state) {
  KvBlockManager::Config c;
  c.num_blocks = 16384;
  c.block_size = 16;
  KvBlockManager m(c);
  BlockTable t;
  const int64_t tokens = 64 * 16;
  for (auto _ : state) {
    const bool ok = m.Allocate(t, {}, 0, tokens);
    benchmark::DoNotOptimize(ok);
    m.Free(t);
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_BlockAllocateFree);

// The prefix-cache path: match a 64-block prompt (half shared), allocate with the hit, commit,
// free. Evicts as the pool cycles. Items are blocks.
void BM_BlockPrefixCycle(benchmark::State& state) {
  KvBlockManager::Config c;
  c.num_blocks = 16384;
  c.block_size = 16;
  c.emit_events = true;
  KvBlockManager m(c);
  RngStream rng(7, "block_prefix_cycle");
  std::vector<std::vector<uint64_t>> prompts(256);
  for (auto& p : prompts) {
    const uint64_t own = rng.NextU64();
    uint64_t h = 1;
    for (int i = 0; i < 64; ++i) {
      h = Mix64(h ^ (i < 32 ? 0x51ull : own));
      p.push_back(h == 0 ? 1 : h);
    }
  }
  BlockTable t;
  size_t i = 0;
  for (auto _ : state) {
    const std::vector<uint64_t>& p = prompts[i++ % prompts.size()];
    const int64_t matched = m.MatchPrefix(p);
    const bool ok = m.Allocate(t, p, matched, 64 * 16);
    benchmark::DoNotOptimize(ok);
    m.Commit(t, p, 64 * 16);
    m.Free(t);
    if (m.events().events.size() > 4096) m.events().Clear();
  }
  state.SetItemsProcessed(state.iterations() * 64);
}
BENCHMARK(BM_BlockPrefixCycle);

}  // namespace
}  // namespace dynamo::worker

BENCHMARK_MAIN();
