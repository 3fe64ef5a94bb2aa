#include "runtime/worker/engine_scheduler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "core/rng.h"

namespace dynamo::worker {
namespace {

EngineConfig Cfg(int32_t max_seqs, int32_t budget, int32_t block_size, int64_t num_blocks,
                 WorkerRole role = WorkerRole::kAggregated) {
  EngineConfig c;
  c.role = role;
  c.max_num_seqs = max_seqs;
  c.max_num_batched_tokens = budget;
  c.block_size = block_size;
  c.num_blocks = num_blocks;
  return c;
}

EngineRequest Req(uint64_t id, int32_t prompt, int32_t max_output,
                  std::vector<uint64_t> hashes = {}) {
  EngineRequest r;
  r.id = RequestId(id);
  r.prompt_tokens = prompt;
  r.max_output_tokens = max_output;
  r.block_hashes = std::move(hashes);
  return r;
}

std::vector<uint64_t> Chain(uint64_t family, int n) {
  std::vector<uint64_t> h;
  uint64_t x = Mix64(family + 7);
  for (int i = 0; i < n; ++i) {
    x = Mix64(x + 1);
    h.push_back(x == 0 ? 1 : x);
  }
  return h;
}

Time T(int64_t step) { return Time::FromNanos(step * 1'000'000); }

void ExpectInvariants(const EngineScheduler& s) {
  const Status st = s.CheckInvariants();
  ASSERT_TRUE(st.ok()) << st.ToString();
}

// One full step: Schedule then StepDone (when there is something to run). Returns the plan copy.
struct StepResult {
  StepPlan plan;
  StepOutcome outcome;
};
StepResult Step(EngineScheduler& s, int64_t& clock) {
  StepResult r;
  r.plan = s.Schedule(T(clock++));
  ExpectInvariants(s);
  if (!r.plan.empty()) r.outcome = s.StepDone(T(clock++));
  ExpectInvariants(s);
  return r;
}

bool Contains(const std::vector<RequestId>& v, uint64_t id) {
  return std::find(v.begin(), v.end(), RequestId(id)) != v.end();
}

TEST(EngineScheduler, SingleRequestPrefillThenDecode) {
  EngineScheduler s(Cfg(8, 256, 16, 64));
  EXPECT_TRUE(s.idle());
  ASSERT_EQ(s.Add(T(0), Req(1, 40, 3)), AddResult::kAccepted);
  EXPECT_FALSE(s.idle());
  EXPECT_EQ(s.load().waiting, 1);
  EXPECT_EQ(s.load().waiting_prefill_tokens, 40);
  int64_t clock = 1;

  StepResult r = Step(s, clock);
  ASSERT_EQ(r.plan.seqs.size(), 1u);
  EXPECT_TRUE(r.plan.seqs[0].prefill);
  EXPECT_TRUE(r.plan.seqs[0].samples);
  EXPECT_EQ(r.plan.seqs[0].num_tokens, 40);
  EXPECT_EQ(r.plan.num_tokens, 40);
  ASSERT_EQ(r.plan.batch.prefill.size(), 1u);
  EXPECT_EQ(r.plan.batch.prefill[0].q_len, 40);
  EXPECT_EQ(r.plan.batch.prefill[0].kv_len, 40);
  EXPECT_TRUE(r.plan.batch.prefill[0].sample);
  ASSERT_EQ(r.plan.admitted.size(), 1u);
  EXPECT_EQ(r.plan.admitted[0].cached_tokens, 0);
  EXPECT_FALSE(r.plan.admitted[0].resumed);
  ASSERT_EQ(r.outcome.tokens.size(), 1u);
  EXPECT_EQ(r.outcome.tokens[0].index, 1);
  EXPECT_FALSE(r.outcome.tokens[0].finished);
  EXPECT_EQ(s.load().running, 1);
  EXPECT_EQ(s.load().waiting, 0);
  EXPECT_EQ(s.load().used_blocks, 3);

  r = Step(s, clock);
  ASSERT_EQ(r.plan.seqs.size(), 1u);
  EXPECT_FALSE(r.plan.seqs[0].prefill);
  EXPECT_EQ(r.plan.seqs[0].context_before, 40);
  EXPECT_EQ(r.plan.batch.decode_seqs, 1);
  EXPECT_EQ(r.plan.batch.decode_kv_tokens, 41);
  EXPECT_TRUE(r.plan.batch.prefill.empty());
  EXPECT_EQ(r.outcome.tokens[0].index, 2);

  r = Step(s, clock);
  EXPECT_EQ(r.plan.batch.decode_kv_tokens, 42);
  ASSERT_EQ(r.outcome.tokens.size(), 1u);
  EXPECT_EQ(r.outcome.tokens[0].index, 3);
  EXPECT_TRUE(r.outcome.tokens[0].finished);
  EXPECT_TRUE(Contains(r.outcome.finished, 1));
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.load().used_blocks, 0);
  EXPECT_TRUE(s.Schedule(T(clock)).empty());
}

TEST(EngineScheduler, TokenBudgetAndMaxNumSeqsRespected) {
  EngineScheduler s(Cfg(4, 64, 16, 1000));
  for (uint64_t id = 1; id <= 10; ++id)
    ASSERT_EQ(s.Add(T(0), Req(id, 30, 20)), AddResult::kAccepted);
  int64_t clock = 1;
  StepResult r = Step(s, clock);
  // 30 + 30 + a 4-token chunk of the third prompt.
  ASSERT_EQ(r.plan.seqs.size(), 3u);
  EXPECT_EQ(r.plan.num_tokens, 64);
  EXPECT_EQ(r.plan.seqs[2].num_tokens, 4);
  EXPECT_FALSE(r.plan.seqs[2].samples);
  int max_running = 0;
  while (!s.idle()) {
    r = Step(s, clock);
    EXPECT_LE(r.plan.num_tokens, 64);
    EXPECT_LE(r.plan.seqs.size(), 4u);
    max_running = std::max(max_running, s.load().running);
    EXPECT_LE(s.load().running, 4);
    ASSERT_LT(clock, 10'000);
  }
  EXPECT_EQ(max_running, 4);
}

TEST(EngineScheduler, ChunkedPrefillSplitsLongPrompt) {
  EngineScheduler s(Cfg(8, 16, 16, 64));
  ASSERT_EQ(s.Add(T(0), Req(1, 40, 2)), AddResult::kAccepted);
  int64_t clock = 1;
  const int64_t want[3][3] = {{16, 16, 0}, {16, 32, 0}, {8, 40, 1}};
  for (const auto& w : want) {
    const StepResult r = Step(s, clock);
    ASSERT_EQ(r.plan.batch.prefill.size(), 1u);
    EXPECT_EQ(r.plan.batch.prefill[0].q_len, w[0]);
    EXPECT_EQ(r.plan.batch.prefill[0].kv_len, w[1]);
    EXPECT_EQ(r.plan.batch.prefill[0].sample, w[2] == 1);
    EXPECT_EQ(r.plan.seqs[0].context_before, w[1] - w[0]);
    EXPECT_EQ(r.outcome.tokens.size(), static_cast<size_t>(w[2]));
  }
  const StepResult r = Step(s, clock);
  EXPECT_EQ(r.plan.batch.decode_seqs, 1);
  EXPECT_EQ(r.plan.batch.decode_kv_tokens, 41);
  EXPECT_TRUE(s.idle());
}

TEST(EngineScheduler, WithoutChunkingPromptWaitsForRoom) {
  EngineConfig c = Cfg(8, 32, 16, 64);
  c.enable_chunked_prefill = false;
  EngineScheduler s(c);
  ASSERT_EQ(s.Add(T(0), Req(1, 20, 5)), AddResult::kAccepted);
  ASSERT_EQ(s.Add(T(0), Req(2, 20, 5)), AddResult::kAccepted);
  int64_t clock = 1;
  StepResult r = Step(s, clock);
  ASSERT_EQ(r.plan.seqs.size(), 1u);  // 12 tokens left: the second prompt does not fit
  EXPECT_EQ(s.load().waiting, 1);
  EXPECT_EQ(s.load().waiting_prefill_tokens, 20);
  r = Step(s, clock);
  ASSERT_EQ(r.plan.seqs.size(), 2u);  // decode 1 + whole prompt 20
  EXPECT_EQ(r.plan.seqs[1].num_tokens, 20);
}

TEST(EngineScheduler, RunningRequestsScheduledBeforeWaiting) {
  EngineScheduler s(Cfg(8, 10, 16, 64));
  ASSERT_EQ(s.Add(T(0), Req(1, 9, 5)), AddResult::kAccepted);
  int64_t clock = 1;
  Step(s, clock);
  ASSERT_EQ(s.Add(T(clock), Req(2, 20, 5)), AddResult::kAccepted);
  const StepResult r = Step(s, clock);
  ASSERT_EQ(r.plan.seqs.size(), 2u);
  EXPECT_EQ(r.plan.seqs[0].id, RequestId(1));
  EXPECT_FALSE(r.plan.seqs[0].prefill);
  EXPECT_EQ(r.plan.seqs[1].id, RequestId(2));
  EXPECT_EQ(r.plan.seqs[1].num_tokens, 9);  // what the decode token left of the budget
}

TEST(EngineScheduler, PrefixCacheHitOnSecondRequest) {
  EngineScheduler s(Cfg(8, 256, 16, 64));
  const auto h = Chain(1, 4);  // 64 prompt tokens
  ASSERT_EQ(s.Add(T(0), Req(1, 64, 1, h)), AddResult::kAccepted);
  int64_t clock = 1;
  StepResult r = Step(s, clock);
  EXPECT_EQ(r.plan.num_tokens, 64);
  ASSERT_TRUE(s.idle());
  EXPECT_EQ(s.blocks().num_cached_blocks(), 4);

  // Same 64-token prefix, 10 more tokens: only those are computed.
  ASSERT_EQ(s.Add(T(clock), Req(2, 74, 1, h)), AddResult::kAccepted);
  r = Step(s, clock);
  ASSERT_EQ(r.plan.admitted.size(), 1u);
  EXPECT_EQ(r.plan.admitted[0].cached_tokens, 64);
  EXPECT_EQ(r.plan.num_tokens, 10);
  EXPECT_EQ(r.plan.batch.prefill[0].q_len, 10);
  EXPECT_EQ(r.plan.batch.prefill[0].kv_len, 74);
  EXPECT_EQ(r.plan.seqs[0].context_before, 64);

  // A full, block-aligned hit recomputes its last block (vLLM v1: the hit is whole blocks and
  // at least one token is computed, to sample).
  ASSERT_EQ(s.Add(T(clock), Req(3, 64, 1, h)), AddResult::kAccepted);
  r = Step(s, clock);
  EXPECT_EQ(r.plan.admitted[0].cached_tokens, 48);
  EXPECT_EQ(r.plan.num_tokens, 16);
  ASSERT_EQ(r.plan.batch.prefill.size(), 1u);
  EXPECT_EQ(r.plan.batch.prefill[0].kv_len, 64);
  EXPECT_TRUE(r.plan.batch.prefill[0].sample);
  ASSERT_EQ(r.outcome.tokens.size(), 1u);
  EXPECT_TRUE(r.outcome.tokens[0].finished);

  // A different first block: no hit.
  ASSERT_EQ(s.Add(T(clock), Req(4, 64, 1, Chain(2, 4))), AddResult::kAccepted);
  r = Step(s, clock);
  EXPECT_EQ(r.plan.admitted[0].cached_tokens, 0);
  EXPECT_EQ(r.plan.num_tokens, 64);
}

TEST(EngineScheduler, PrefixCachingDisabled) {
  EngineConfig c = Cfg(8, 256, 16, 64);
  c.enable_prefix_caching = false;
  EngineScheduler s(c);
  const auto h = Chain(1, 4);
  int64_t clock = 1;
  ASSERT_EQ(s.Add(T(0), Req(1, 64, 1, h)), AddResult::kAccepted);
  Step(s, clock);
  ASSERT_EQ(s.Add(T(clock), Req(2, 64, 1, h)), AddResult::kAccepted);
  const StepResult r = Step(s, clock);
  EXPECT_EQ(r.plan.admitted[0].cached_tokens, 0);
  EXPECT_EQ(r.plan.num_tokens, 64);
}

TEST(EngineScheduler, KvEventsReachTheBlockManagerLog) {
  EngineConfig c = Cfg(8, 256, 16, 64);
  c.emit_kv_events = true;
  EngineScheduler s(c);
  const auto h = Chain(1, 3);
  int64_t clock = 1;
  ASSERT_EQ(s.Add(T(0), Req(1, 50, 2, h)), AddResult::kAccepted);
  Step(s, clock);
  const KvEventLog& log = s.blocks().events();
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].kind, KvEvent::Kind::kStored);
  EXPECT_EQ(log.HashesOf(log.events[0]).size(), 3u);
}

TEST(EngineScheduler, PreemptionByRecomputeWhenBlocksRunOut) {
  // 3 requests of 8 prompt + 12 output tokens need 5 blocks each at the end; 12 blocks in all.
  EngineScheduler s(Cfg(8, 256, 4, 12));
  for (uint64_t id = 1; id <= 3; ++id) ASSERT_EQ(s.Add(T(0), Req(id, 8, 12)), AddResult::kAccepted);
  std::map<uint64_t, std::vector<int32_t>> tokens;
  std::map<uint64_t, int> finished;
  std::vector<uint64_t> preempted;
  std::vector<uint64_t> resumed;
  int64_t clock = 1;
  while (!s.idle()) {
    const StepResult r = Step(s, clock);
    for (const RequestId id : r.plan.preempted) preempted.push_back(id.value());
    for (const Admission& a : r.plan.admitted) {
      if (a.resumed) resumed.push_back(a.id.value());
    }
    if (!r.plan.preempted.empty()) {
      EXPECT_TRUE(r.plan.admitted.empty());
    }
    for (const TokenOut& t : r.outcome.tokens) tokens[t.id.value()].push_back(t.index);
    for (const RequestId id : r.outcome.finished) ++finished[id.value()];
    ASSERT_LT(clock, 10'000);
  }
  ASSERT_FALSE(preempted.empty());
  EXPECT_EQ(preempted.front(), 3u);  // the most recently admitted goes first
  EXPECT_EQ(resumed.front(), 3u);
  for (uint64_t id = 1; id <= 3; ++id) {
    std::vector<int32_t> want(12);
    for (int i = 0; i < 12; ++i) want[static_cast<size_t>(i)] = i + 1;
    EXPECT_EQ(tokens[id], want) << "request " << id;
    EXPECT_EQ(finished[id], 1) << "request " << id;
  }
  EXPECT_EQ(s.load().used_blocks, 0);
}

TEST(EngineScheduler, ResumedRequestRecomputesPromptAndGenerated) {
  // Request 1 grows to 6 blocks (12 + 11 tokens); request 2 is preempted when 1 needs its 5th.
  EngineScheduler s(Cfg(8, 256, 4, 6));
  ASSERT_EQ(s.Add(T(0), Req(1, 12, 12)), AddResult::kAccepted);
  ASSERT_EQ(s.Add(T(0), Req(2, 4, 8)), AddResult::kAccepted);
  int64_t clock = 1;
  int32_t emitted = 0;  // request 2's tokens before its preemption
  bool preempted = false, resumed = false;
  std::vector<int32_t> indices;
  while (!s.idle()) {
    const StepResult r = Step(s, clock);
    if (Contains(r.plan.preempted, 2)) {
      preempted = true;
      emitted = static_cast<int32_t>(indices.size());
    }
    for (const Admission& a : r.plan.admitted) {
      if (a.id != RequestId(2) || !a.resumed) continue;
      resumed = true;
      for (const ScheduledSeq& q : r.plan.seqs) {
        if (q.id != RequestId(2)) continue;
        EXPECT_TRUE(q.prefill);
        EXPECT_EQ(q.context_before, 0);
        EXPECT_EQ(q.num_tokens, 4 + emitted);  // prompt + generated, recomputed
        EXPECT_TRUE(q.samples);
      }
    }
    for (const TokenOut& t : r.outcome.tokens) {
      if (t.id == RequestId(2)) indices.push_back(t.index);
    }
    ASSERT_LT(clock, 10'000);
  }
  ASSERT_TRUE(preempted);
  ASSERT_TRUE(resumed);
  EXPECT_GT(emitted, 0);
  EXPECT_EQ(indices, (std::vector<int32_t>{1, 2, 3, 4, 5, 6, 7, 8}));
}

TEST(EngineScheduler, PrefillRoleHoldsBlocksUntilReleaseKv) {
  EngineScheduler s(Cfg(8, 256, 16, 64, WorkerRole::kPrefill));
  ASSERT_EQ(s.Add(T(0), Req(1, 32, 100, Chain(3, 2))), AddResult::kAccepted);
  int64_t clock = 1;
  const StepResult r = Step(s, clock);
  ASSERT_EQ(r.outcome.tokens.size(), 1u);
  EXPECT_EQ(r.outcome.tokens[0].index, 1);
  EXPECT_TRUE(r.outcome.tokens[0].finished);
  EXPECT_TRUE(Contains(r.outcome.prefill_done, 1));
  EXPECT_TRUE(Contains(r.outcome.finished, 1));
  EXPECT_EQ(s.load().running, 0);
  EXPECT_EQ(s.load().used_blocks, 2);
  EXPECT_FALSE(s.idle());
  EXPECT_TRUE(s.Schedule(T(clock++)).empty());  // nothing to decode here
  s.ReleaseKv(T(clock++), RequestId(1));
  ExpectInvariants(s);
  EXPECT_EQ(s.load().used_blocks, 0);
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.blocks().num_cached_blocks(), 2);  // prompt blocks stay cached for later hits
}

TEST(EngineScheduler, PrefillRoleHeldBlocksLimitAdmission) {
  EngineScheduler s(Cfg(8, 256, 16, 4, WorkerRole::kPrefill));
  ASSERT_EQ(s.Add(T(0), Req(1, 48, 100)), AddResult::kAccepted);  // 3 blocks (+1 token: 4)
  ASSERT_EQ(s.Add(T(0), Req(2, 48, 100)), AddResult::kAccepted);
  int64_t clock = 1;
  StepResult r = Step(s, clock);
  EXPECT_TRUE(Contains(r.outcome.prefill_done, 1));
  r = Step(s, clock);
  EXPECT_TRUE(r.plan.empty());  // 1 still holds 3 of 4 blocks
  s.ReleaseKv(T(clock++), RequestId(1));
  r = Step(s, clock);
  EXPECT_TRUE(Contains(r.outcome.prefill_done, 2));
}

TEST(EngineScheduler, DecodeRoleReservesThenRunsAfterKvArrived) {
  EngineScheduler s(Cfg(8, 256, 16, 64, WorkerRole::kDecode));
  const auto h = Chain(4, 3);
  int64_t clock = 1;
  // A local request leaves the first two prompt blocks cached.
  ASSERT_EQ(s.Add(T(0), Req(1, 32, 1, {h[0], h[1]})), AddResult::kAccepted);
  Step(s, clock);
  ASSERT_TRUE(s.idle());

  EngineRequest remote = Req(2, 48, 5, h);
  remote.generated_tokens = 1;
  remote.kv_remote = true;
  ASSERT_EQ(s.Add(T(clock), std::move(remote)), AddResult::kAccepted);
  StepPlan plan = s.Schedule(T(clock++));
  ExpectInvariants(s);
  EXPECT_TRUE(plan.empty());
  ASSERT_EQ(plan.kv_reserved.size(), 1u);
  EXPECT_EQ(plan.kv_reserved[0].id, RequestId(2));
  EXPECT_EQ(plan.kv_reserved[0].cached_tokens, 32);
  EXPECT_EQ(s.load().used_blocks, 4);  // 48 + 1 tokens
  EXPECT_EQ(s.load().waiting, 1);
  EXPECT_EQ(s.load().waiting_prefill_tokens, 0);

  // Does not run before its KV is here.
  plan = s.Schedule(T(clock++));
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(plan.kv_reserved.empty());
  EXPECT_FALSE(s.idle());

  s.KvArrived(T(clock++), RequestId(2));
  ExpectInvariants(s);
  std::vector<int32_t> indices;
  bool first = true;
  while (!s.idle()) {
    const StepResult r = Step(s, clock);
    ASSERT_EQ(r.plan.seqs.size(), 1u);
    if (first) {
      ASSERT_EQ(r.plan.admitted.size(), 1u);
      EXPECT_EQ(r.plan.admitted[0].cached_tokens, 32);
      EXPECT_EQ(r.plan.seqs[0].context_before, 48);
      EXPECT_EQ(r.plan.seqs[0].num_tokens, 1);
      EXPECT_FALSE(r.plan.seqs[0].prefill);
      EXPECT_EQ(r.plan.batch.decode_kv_tokens, 49);
      first = false;
    }
    for (const TokenOut& t : r.outcome.tokens) indices.push_back(t.index);
    ASSERT_LT(clock, 1000);
  }
  EXPECT_EQ(indices, (std::vector<int32_t>{2, 3, 4, 5}));
  EXPECT_EQ(s.blocks().num_cached_blocks(), 3);  // the arrived prompt blocks became cached
}

TEST(EngineScheduler, AwaitingKvDoesNotBlockOthers) {
  EngineScheduler s(Cfg(8, 256, 16, 64, WorkerRole::kDecode));
  EngineRequest remote = Req(1, 32, 3);
  remote.generated_tokens = 1;
  remote.kv_remote = true;
  ASSERT_EQ(s.Add(T(0), std::move(remote)), AddResult::kAccepted);
  ASSERT_EQ(s.Add(T(0), Req(2, 16, 2)), AddResult::kAccepted);
  int64_t clock = 1;
  const StepResult r = Step(s, clock);
  EXPECT_EQ(r.plan.kv_reserved.size(), 1u);
  ASSERT_EQ(r.plan.seqs.size(), 1u);
  EXPECT_EQ(r.plan.seqs[0].id, RequestId(2));
}

TEST(EngineScheduler, TooLongRequestRejected) {
  EngineScheduler s(Cfg(8, 256, 16, 4));
  EXPECT_EQ(s.Add(T(0), Req(1, 60, 5)), AddResult::kRejectedTooLong);  // 65 tokens: 5 blocks
  EXPECT_TRUE(s.idle());
  EXPECT_EQ(s.Add(T(0), Req(2, 60, 4)), AddResult::kAccepted);  // 64 tokens: 4 blocks
  ExpectInvariants(s);
  // A prefill worker only needs the prompt and its first token.
  EngineScheduler p(Cfg(8, 256, 16, 4, WorkerRole::kPrefill));
  EXPECT_EQ(p.Add(T(0), Req(1, 60, 500)), AddResult::kAccepted);
}

TEST(EngineScheduler, StepBuffersAreReused) {
  EngineScheduler s(Cfg(64, 8192, 16, 4096));
  for (uint64_t id = 1; id <= 64; ++id)
    ASSERT_EQ(s.Add(T(0), Req(id, 100, 1000)), AddResult::kAccepted);
  int64_t clock = 1;
  const StepPlan* first = &s.Schedule(T(clock++));
  const void* seqs_data = first->seqs.data();
  s.StepDone(T(clock++));
  for (int i = 0; i < 50; ++i) {
    const StepPlan& p = s.Schedule(T(clock++));
    EXPECT_EQ(&p, first);
    EXPECT_EQ(p.seqs.data(), seqs_data);
    EXPECT_EQ(p.batch.decode_seqs, 64);
    s.StepDone(T(clock++));
  }
}

// --------------------------------------------------------------------------------------------
// Property: random requests through random Schedule / StepDone / KvArrived / ReleaseKv
// interleavings. Invariants hold after every call; every accepted request finishes exactly once
// with consecutive token numbers; each scheduled sequence's context matches what the test
// tracked from the earlier plans.

struct Tracked {
  int32_t prompt = 0;
  int32_t max_output = 0;
  int32_t next_index = 0;  // next expected TokenOut::index
  bool remote = false;     // KV not yet local
  int64_t context = -1;    // tokens in KV; -1: not running
  int finished = 0;
  bool cancelled = false;
};

// What the runs exercised, so the test can tell it covered the interesting paths.
struct Coverage {
  int64_t steps = 0, preemptions = 0, resumed = 0, reservations = 0, releases = 0;
  int64_t prefix_hits = 0, chunks = 0, rejected = 0, finished = 0, cancelled = 0;
};

void RunSchedulerProperty(uint64_t seed, Coverage& cov) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  RngStream rng(seed, "engine_scheduler_property");
  EngineConfig c;
  const uint64_t role = rng.Below(3);
  c.role = role == 0 ? WorkerRole::kAggregated
                     : (role == 1 ? WorkerRole::kPrefill : WorkerRole::kDecode);
  c.block_size = static_cast<int32_t>(rng.UniformInt(1, 8));
  c.max_num_seqs = static_cast<int32_t>(rng.UniformInt(1, 8));
  c.max_num_batched_tokens = static_cast<int32_t>(rng.UniformInt(8, 96));
  c.num_blocks = rng.UniformInt(6, 60);
  c.enable_prefix_caching = rng.Below(4) != 0;
  c.enable_chunked_prefill = rng.Below(3) != 0;
  c.emit_kv_events = rng.Below(2) == 0;
  EngineScheduler s(c);

  std::map<uint64_t, Tracked> reqs;
  std::vector<uint64_t> reserved;  // awaiting KvArrived
  std::vector<uint64_t> held;      // awaiting ReleaseKv
  std::vector<ScheduledSeq> inflight;
  const int total = 60;
  int added = 0;
  int64_t clock = 0;
  const auto check = [&] {
    const Status st = s.CheckInvariants();
    ASSERT_TRUE(st.ok()) << st.ToString();
  };
  const auto take = [&](std::vector<uint64_t>& v) {
    const size_t i = rng.Below(v.size());
    const uint64_t id = v[i];
    v[i] = v.back();
    v.pop_back();
    return id;
  };

  for (int iter = 0; iter < 200'000; ++iter) {
    if (added == total && s.idle()) break;
    const uint64_t action = rng.Below(10);
    if (action < 2 && added < total) {
      EngineRequest r;
      r.id = RequestId(static_cast<uint64_t>(++added));
      // Mostly fitting the KV pool, sometimes not (rejected).
      const int64_t pool_tokens = c.num_blocks * c.block_size;
      r.prompt_tokens = static_cast<int32_t>(
          rng.UniformInt(1, std::min<int64_t>(3 * c.max_num_batched_tokens, pool_tokens)));
      r.max_output_tokens = static_cast<int32_t>(rng.UniformInt(1, 24));
      const int64_t full = r.prompt_tokens / c.block_size;
      const uint64_t family = rng.Below(3);
      const int64_t shared = rng.UniformInt(0, full);
      uint64_t h = Mix64(family + 1), own = rng.NextU64();
      for (int64_t i = 0; i < full; ++i) {
        h = Mix64(h ^ (i < shared ? 0x2545F491ull : own));
        r.block_hashes.push_back(h == 0 ? 1 : h);
      }
      if (c.role == WorkerRole::kDecode && rng.Below(2) == 0) {
        r.kv_remote = true;
        r.generated_tokens =
            std::min<int32_t>(static_cast<int32_t>(rng.UniformInt(0, 3)), r.max_output_tokens - 1);
      }
      Tracked t;
      t.prompt = r.prompt_tokens;
      t.max_output = c.role == WorkerRole::kPrefill ? r.generated_tokens + 1 : r.max_output_tokens;
      t.next_index = r.generated_tokens + 1;
      t.remote = r.kv_remote;
      const int64_t need =
          (int64_t{r.prompt_tokens} + t.max_output + c.block_size - 1) / c.block_size;
      const AddResult res = s.Add(T(clock++), std::move(r));
      ASSERT_EQ(res == AddResult::kRejectedTooLong, need > c.num_blocks);
      if (res == AddResult::kAccepted) reqs[static_cast<uint64_t>(added)] = t;
      cov.rejected += res == AddResult::kRejectedTooLong ? 1 : 0;
    } else if (action < 3 && !reserved.empty()) {
      s.KvArrived(T(clock++), RequestId(take(reserved)));
    } else if (action < 4 && !held.empty()) {
      s.ReleaseKv(T(clock++), RequestId(take(held)));
      ++cov.releases;
    } else if (action == 4 && rng.Below(3) == 0 && !s.step_in_flight() && added > 0) {
      // Cancel any request: a live one is dropped wherever it is, a finished one is unknown.
      const uint64_t id = rng.UniformInt(1, added);
      const auto it = reqs.find(id);
      const bool live =
          it != reqs.end() && !it->second.cancelled &&
          (it->second.finished == 0 || std::find(held.begin(), held.end(), id) != held.end());
      ASSERT_EQ(s.Cancel(T(clock++), RequestId(id)), live) << "request " << id;
      if (live) {
        it->second.cancelled = true;
        std::erase(reserved, id);
        std::erase(held, id);
        ++cov.cancelled;
      }
    } else if (!s.step_in_flight()) {
      const StepPlan& p = s.Schedule(T(clock++));
      ASSERT_LE(p.num_tokens, c.max_num_batched_tokens);
      ASSERT_LE(p.seqs.size(), static_cast<size_t>(c.max_num_seqs));
      ASSERT_EQ(p.batch.prefill.size() + static_cast<size_t>(p.batch.decode_seqs), p.seqs.size());
      if (!p.preempted.empty()) {
        ASSERT_TRUE(p.admitted.empty());
      }
      for (const KvReservation& kv : p.kv_reserved) {
        Tracked& t = reqs.at(kv.id.value());
        ASSERT_TRUE(t.remote);
        ASSERT_LE(kv.cached_tokens, t.prompt);
        reserved.push_back(kv.id.value());
        ++cov.reservations;
      }
      for (const RequestId id : p.preempted) {
        Tracked& t = reqs.at(id.value());
        ASSERT_GE(t.context, 0);
        t.context = -1;
        t.remote = false;
        ++cov.preemptions;
      }
      for (const Admission& a : p.admitted) {
        cov.resumed += a.resumed ? 1 : 0;
        cov.prefix_hits += a.cached_tokens > 0 ? 1 : 0;
        Tracked& t = reqs.at(a.id.value());
        ASSERT_EQ(t.context, -1);
        // Remote KV joins with everything but its last token; otherwise the cached prefix.
        t.context = t.remote ? t.prompt + t.next_index - 2 : a.cached_tokens;
        t.remote = false;
      }
      int32_t sum = 0;
      for (const ScheduledSeq& q : p.seqs) {
        const Tracked& t = reqs.at(q.id.value());
        ASSERT_EQ(q.context_before, t.context) << "request " << q.id.value();
        ASSERT_GT(q.num_tokens, 0);
        // A step computes up to the prompt + generated tokens; sampling exactly there.
        const int64_t known = int64_t{t.prompt} + t.next_index - 1;
        ASSERT_LE(q.context_before + q.num_tokens, known);
        ASSERT_EQ(q.samples, q.context_before + q.num_tokens == known);
        cov.chunks += q.prefill && !q.samples ? 1 : 0;
        sum += q.num_tokens;
      }
      ASSERT_EQ(sum, p.num_tokens);
      inflight = p.seqs;
      cov.steps += p.empty() ? 0 : 1;
    } else {
      const StepOutcome& o = s.StepDone(T(clock++));
      for (const ScheduledSeq& q : inflight) reqs.at(q.id.value()).context += q.num_tokens;
      size_t finished = 0;
      for (const TokenOut& tok : o.tokens) {
        Tracked& t = reqs.at(tok.id.value());
        ASSERT_EQ(tok.index, t.next_index) << "request " << tok.id.value();
        ++t.next_index;
        ASSERT_EQ(tok.finished, tok.index == t.max_output);
        if (!tok.finished) continue;
        ++finished;
        ++t.finished;
        ++cov.finished;
        t.context = -1;
        ASSERT_TRUE(std::find(o.finished.begin(), o.finished.end(), tok.id) != o.finished.end());
        if (c.role == WorkerRole::kPrefill) {
          ASSERT_TRUE(std::find(o.prefill_done.begin(), o.prefill_done.end(), tok.id) !=
                      o.prefill_done.end());
          held.push_back(tok.id.value());
        }
      }
      ASSERT_EQ(o.finished.size(), finished);
      inflight.clear();
    }
    check();
    if (::testing::Test::HasFatalFailure()) return;
  }
  ASSERT_TRUE(s.idle()) << "not drained: " << added << " added";
  for (const auto& [id, t] : reqs) {
    if (t.cancelled) continue;
    EXPECT_EQ(t.finished, 1) << "request " << id;
    EXPECT_EQ(t.next_index, t.max_output + 1) << "request " << id;
  }
  EXPECT_EQ(s.load().used_blocks, 0);
}

TEST(EngineSchedulerProperty, EveryRequestFinishesOnceAndBlocksAreConserved) {
  Coverage cov;
  for (uint64_t seed = 1; seed <= 200; ++seed) {
    RunSchedulerProperty(seed, cov);
    if (::testing::Test::HasFatalFailure()) return;
  }
  std::printf(
      "steps %lld preemptions %lld resumed %lld reservations %lld releases %lld "
      "prefix hits %lld chunks %lld rejected %lld finished %lld cancelled %lld\n",
      static_cast<long long>(cov.steps), static_cast<long long>(cov.preemptions),
      static_cast<long long>(cov.resumed), static_cast<long long>(cov.reservations),
      static_cast<long long>(cov.releases), static_cast<long long>(cov.prefix_hits),
      static_cast<long long>(cov.chunks), static_cast<long long>(cov.rejected),
      static_cast<long long>(cov.finished), static_cast<long long>(cov.cancelled));
  EXPECT_GT(cov.preemptions, 100);
  EXPECT_GT(cov.resumed, 100);
  EXPECT_GT(cov.reservations, 100);
  EXPECT_GT(cov.releases, 100);
  EXPECT_GT(cov.prefix_hits, 100);
  EXPECT_GT(cov.chunks, 100);
  EXPECT_GT(cov.rejected, 10);
  EXPECT_GT(cov.cancelled, 100);
}

}  // namespace
}  // namespace dynamo::worker
