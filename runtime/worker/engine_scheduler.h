#pragma once
// EngineScheduler: the continuous-batching scheduler of one worker (vLLM v1 semantics), a
// sans-I/O core shared by the simulator (virtual clock) and dynamo-run (real clock).
//
// One engine iteration ("step"):
//   1. Schedule(now): running requests first, in order (decode tokens, continuing prefill
//      chunks), then waiting requests in FCFS order while running < max_num_seqs, all within
//      the token budget max_num_batched_tokens. A prompt larger than the remaining budget is
//      chunked (enable_chunked_prefill) or waits (it blocks the queue, FCFS); without chunking,
//      tokens that exceed even a whole step's budget (a resumed request's prompt + generated)
//      are chunked anyway, else they could never run. No admissions in a step that preempted
//      (as vLLM v1). A new request first takes its cached prefix
//      from the block manager (at least one prompt token is always computed, to produce
//      logits). When a running request cannot get a block, the most recently admitted running
//      request is preempted by recompute (its blocks freed; it returns to the head of the
//      waiting queue and later recomputes prompt + generated tokens), and so on until it fits.
//   2. The caller executes the step (sim: the step-latency model of plan().batch; runtime: the
//      engine) and calls StepDone(now).
//   3. StepDone: computed tokens advance; every sequence whose prompt is now complete samples
//      one token; finished sequences free their blocks (prefill role: hold them until
//      ReleaseKv); full prompt blocks become cached (KV events).
//
// Roles: aggregated (prompt then generation); prefill (stops after the first token; the KV stays
// allocated until ReleaseKv, i.e. until the transfer to the decode worker is done); decode (as
// aggregated, and also accepts requests whose prompt KV comes from a prefill worker: blocks are
// reserved for them in Schedule, reported in StepPlan::kv_reserved so the caller starts the
// transfer, and they join the running batch after KvArrived). A reserved request counts against
// max_num_seqs from its reservation on; while its KV is in flight it does not block the queue.
// After KvArrived it joins (before new admissions) with every known token but the last in KV:
// its first step is one decode token that samples token generated_tokens + 1. A remote request
// preempted later recomputes locally like any other.
//
// Deterministic; not thread-safe. Views returned by Schedule/StepDone stay valid until the next
// call of either. Memory is O(requests in the scheduler + KV blocks), never O(tokens generated).
#include <cstdint>
#include <deque>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/perf/step_latency.h"
#include "core/plan/plan.h"
#include "core/time.h"
#include "runtime/worker/kv_block_manager.h"

namespace dynamo::worker {

struct EngineConfig {
  WorkerRole role = WorkerRole::kAggregated;
  int32_t max_num_seqs = 256;
  int32_t max_num_batched_tokens = 8192;
  int32_t block_size = 16;
  int64_t num_blocks = 0;  // KV capacity (perf::MemoryPlan::kv_blocks)
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  bool emit_kv_events = false;
};

// The engine settings of one worker of `pool` (limits, block size, KV capacity from the plan's
// memory model): the one mapping both the simulator and dynamo-run's workers use.
EngineConfig EngineConfigFor(const WorkerPoolSpec& pool, bool emit_kv_events);

struct EngineRequest {
  RequestId id;
  int32_t prompt_tokens = 0;      // > 0
  int32_t max_output_tokens = 1;  // tokens the request generates in total, >= 1
  // Chained hashes of the prompt's full blocks (at this worker's block size), non-zero; may be
  // shorter than the prompt's full blocks (the rest is never shared). Moved in.
  std::vector<uint64_t> block_hashes;
  // Tokens already generated elsewhere (decode role after a remote prefill: 1; a migrated
  // request: its tokens so far). The next token this scheduler emits is number
  // generated_tokens + 1.
  int32_t generated_tokens = 0;
  // Decode role: the prompt's KV (and generated_tokens' KV) comes from another worker.
  bool kv_remote = false;
};

enum class AddResult : uint8_t {
  kAccepted,
  // prompt + output tokens need more blocks than the worker has: it could never run.
  // (prefill role: prompt + generated_tokens + 1, all a prefill worker ever holds).
  kRejectedTooLong,
};

struct ScheduledSeq {
  RequestId id;
  int32_t num_tokens = 0;      // tokens computed this step (1 for a decode token)
  int32_t context_before = 0;  // tokens already in KV before this step
  bool prefill = false;        // a prompt chunk (or a recompute after preemption)
  bool samples = false;        // this step produces a token for it
};

struct Admission {
  RequestId id;
  // Prompt tokens taken from the prefix cache (a remote-KV request joining after KvArrived:
  // the same value as its KvReservation).
  int32_t cached_tokens = 0;
  bool resumed = false;  // re-admitted after a preemption
};

struct KvReservation {
  RequestId id;
  int32_t cached_tokens = 0;  // prompt tokens this worker already held: not transferred
};

struct StepPlan {
  std::vector<ScheduledSeq> seqs;          // this step's batch (empty: nothing to run now)
  perf::BatchComposition batch;            // the same batch for the step-latency model
  int32_t num_tokens = 0;                  // sum of seqs[i].num_tokens
  std::vector<Admission> admitted;         // requests that left the waiting queue this step
  std::vector<RequestId> preempted;        // running requests preempted (recompute) this step
  std::vector<KvReservation> kv_reserved;  // decode role: start these transfers
  bool empty() const { return seqs.empty(); }
};

struct TokenOut {
  RequestId id;
  int32_t index = 0;      // 1-based output token number
  bool finished = false;  // last token of the request on this worker
};

struct StepOutcome {
  std::vector<TokenOut> tokens;         // one per sampling sequence, batch order
  std::vector<RequestId> finished;      // done; blocks freed (or held: prefill role)
  std::vector<RequestId> prefill_done;  // prefill role: first token out, KV held until ReleaseKv
};

// Load a router or planner may read (the runtime publishes it as worker metrics).
struct EngineLoad {
  int32_t running = 0;
  int32_t waiting = 0;                 // includes requests awaiting remote KV
  int64_t waiting_prefill_tokens = 0;  // prompt tokens of waiting requests not yet computed
  int64_t used_blocks = 0;
  int64_t total_blocks = 0;
};

class EngineScheduler {
 public:
  // Precondition: config valid (positive limits, num_blocks > 0).
  explicit EngineScheduler(const EngineConfig& config);

  // Queues a request (FCFS). `now` is recorded for ordering only.
  AddResult Add(Time now, EngineRequest request);

  // Decode role: the KV of a reserved request has arrived; it runs from the next Schedule.
  // Precondition: it was reported in StepPlan::kv_reserved.
  void KvArrived(Time now, RequestId id);

  // Prefill role: the KV of a prefill-done request has been sent; free its blocks.
  void ReleaseKv(Time now, RequestId id);

  // Drops request `id` wherever it is (waiting, awaiting or holding remote KV, running, held
  // after prefill) and frees its blocks: a client that went away, or a request migrated off this
  // worker. Blocks it committed to the prefix cache stay cached. False when the id is unknown
  // (already finished). O(live requests). Precondition: no step in flight (a driver defers the
  // cancel of a request in the running batch until StepDone, and ignores its tokens).
  bool Cancel(Time now, RequestId id);
  // Precondition: no step in flight (StepDone called for the previous non-empty plan).
  const StepPlan& Schedule(Time now);
  // Precondition: the last Schedule returned a non-empty plan.
  const StepOutcome& StepDone(Time now);

  bool step_in_flight() const;
  // Nothing scheduled, waiting, awaiting KV or held.
  bool idle() const;
  EngineLoad load() const;
  const EngineConfig& config() const { return config_; }
  KvBlockManager& blocks() { return blocks_; }
  const KvBlockManager& blocks() const { return blocks_; }

  // Tests: block conservation and per-request state consistency.
  Status CheckInvariants() const;

 private:
  // Where a request is. Every live slot is in exactly one place:
  //   kWaiting    waiting_ (new or preempted; no blocks)
  //   kAwaitingKv reserved blocks, KV transfer in flight (decode role; counted in num_reserved_)
  //   kKvReady    KV arrived, in ready_ until it joins running (counted in num_reserved_)
  //   kRunning    running_
  //   kHeld       prefill role: first token out, blocks held until ReleaseKv
  enum class Phase : uint8_t { kFree, kWaiting, kAwaitingKv, kKvReady, kRunning, kHeld };

  struct Slot {
    RequestId id;
    Phase phase = Phase::kFree;
    bool kv_remote = false;  // KV still to come from another worker (cleared once it is here)
    bool resumed = false;    // preempted since its last admission
    int32_t prompt = 0;
    int32_t max_output = 0;
    int32_t generated = 0;
    int32_t num_computed = 0;   // tokens whose KV is in `table`
    int32_t prefill_end = 0;    // num_computed at which the prefill (or recompute) samples
    int32_t cached_tokens = 0;  // prompt tokens found in the prefix cache at reservation
    std::vector<uint64_t> hashes;
    BlockTable table;
  };

  uint32_t NewSlot();
  void ReleaseSlot(uint32_t slot);
  // Frees `slot`'s blocks and puts it at the head of the waiting queue.
  void Preempt(uint32_t slot);
  int32_t TokensToCompute(const Slot& s) const { return s.prompt + s.generated; }
  // Without chunked prefill, `rest` tokens must run in one step: they wait for a step with room.
  // Tokens that exceed even a whole step's budget (a long prompt, or a resumed request's
  // prompt + generated) are chunked anyway: waiting would block the queue forever.
  bool MustWaitWhole(int32_t rest, int32_t budget) const {
    return !config_.enable_chunked_prefill && rest > budget &&
           rest <= config_.max_num_batched_tokens;
  }
  void AddToBatch(uint32_t slot, int32_t num_tokens, bool prefill, bool samples);
  // The phases of Schedule, in order; each spends the token budget. AdmitWaiting and
  // ReserveRemote return false when the head of the waiting queue cannot be taken (it blocks).
  void ScheduleRunning(int32_t& budget, bool& preempted_any);
  void ScheduleReady(int32_t& budget);
  void ScheduleWaiting(int32_t& budget);
  bool AdmitWaiting(uint32_t slot, int32_t& budget);
  bool ReserveRemote(uint32_t slot);
  void FinishStep(uint32_t slot, int32_t num_tokens, bool samples, bool& any_finished);

  EngineConfig config_;
  KvBlockManager blocks_;
  std::vector<Slot> slots_;                        // [slot]
  std::vector<uint32_t> free_slots_;               // reusable slots (stack)
  std::unordered_map<RequestId, uint32_t> by_id_;  // only for KvArrived / ReleaseKv
  std::vector<uint32_t> running_;                  // admission order
  std::deque<uint32_t> waiting_;                   // FCFS; preempted requests at the front
  std::deque<uint32_t> ready_;                     // KV arrived, in arrival order
  int32_t num_reserved_ = 0;                       // kAwaitingKv + kKvReady
  int32_t num_held_ = 0;                           // kHeld
  int64_t waiting_prefill_tokens_ = 0;             // sum of TokensToCompute over waiting_
  bool in_flight_ = false;
  StepPlan plan_;
  std::vector<uint32_t> plan_slots_;  // [seq] slot of plan_.seqs[seq]
  StepOutcome outcome_;
};

}  // namespace dynamo::worker
