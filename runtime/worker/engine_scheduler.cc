#include "runtime/worker/engine_scheduler.h"

#include <algorithm>
#include <string>

namespace dynamo::worker {

namespace {

KvBlockManager::Config BlockConfig(const EngineConfig& c) {
  KvBlockManager::Config b;
  b.num_blocks = c.num_blocks;
  b.block_size = c.block_size;
  b.prefix_caching = c.enable_prefix_caching;
  b.emit_events = c.emit_kv_events;
  return b;
}

}  // namespace

EngineScheduler::EngineScheduler(const EngineConfig& config)
    : config_(config), blocks_(BlockConfig(config)) {
  DYNAMO_CHECK(config.max_num_seqs > 0);
  DYNAMO_CHECK(config.max_num_batched_tokens > 0);
  DYNAMO_CHECK(config.block_size > 0);
  DYNAMO_CHECK(config.num_blocks > 0);
  const auto seqs = static_cast<size_t>(config.max_num_seqs);
  running_.reserve(seqs);
  plan_.seqs.reserve(seqs);
  plan_slots_.reserve(seqs);
  plan_.admitted.reserve(seqs);
  outcome_.tokens.reserve(seqs);
  outcome_.finished.reserve(seqs);
}

// ---------------------------------------------------------------------------------------------
// Slots

uint32_t EngineScheduler::NewSlot() {
  if (!free_slots_.empty()) {
    const uint32_t s = free_slots_.back();
    free_slots_.pop_back();
    return s;
  }
  slots_.emplace_back();
  return static_cast<uint32_t>(slots_.size() - 1);
}

void EngineScheduler::ReleaseSlot(uint32_t slot) {
  Slot& s = slots_[slot];
  DYNAMO_CHECK(s.table.blocks.empty());
  s.phase = Phase::kFree;
  s.hashes.clear();
  free_slots_.push_back(slot);
}

EngineConfig EngineConfigFor(const WorkerPoolSpec& pool, bool emit_kv_events) {
  EngineConfig ec;
  ec.role = pool.role;
  ec.max_num_seqs = pool.max_num_seqs;
  ec.max_num_batched_tokens = pool.max_num_batched_tokens;
  ec.block_size = pool.block_size;
  ec.num_blocks = pool.memory.kv_blocks;
  ec.enable_prefix_caching = pool.enable_prefix_caching;
  ec.enable_chunked_prefill = pool.enable_chunked_prefill;
  ec.emit_kv_events = emit_kv_events;
  return ec;
}

// ---------------------------------------------------------------------------------------------
// Entry points

AddResult EngineScheduler::Add(Time /*now*/, EngineRequest request) {
  DYNAMO_CHECK(request.prompt_tokens > 0);
  DYNAMO_CHECK(request.generated_tokens >= 0);
  DYNAMO_CHECK(request.generated_tokens < request.max_output_tokens);
  DYNAMO_CHECK(!request.kv_remote || config_.role == WorkerRole::kDecode);
  DYNAMO_CHECK(static_cast<int64_t>(request.block_hashes.size()) <=
               request.prompt_tokens / config_.block_size);
  for (const uint64_t h : request.block_hashes) DYNAMO_CHECK(h != 0);

  // A prefill worker only ever holds the prompt (plus tokens generated elsewhere) and the first
  // token it samples.
  const int64_t outputs = config_.role == WorkerRole::kPrefill
                              ? int64_t{request.generated_tokens} + 1
                              : int64_t{request.max_output_tokens};
  if (blocks_.BlocksFor(int64_t{request.prompt_tokens} + outputs) > blocks_.num_blocks()) {
    return AddResult::kRejectedTooLong;
  }

  const uint32_t s = NewSlot();
  Slot& slot = slots_[s];
  slot.id = request.id;
  slot.phase = Phase::kWaiting;
  slot.kv_remote = request.kv_remote;
  slot.resumed = false;
  slot.prompt = request.prompt_tokens;
  slot.max_output = request.max_output_tokens;
  slot.generated = request.generated_tokens;
  slot.num_computed = 0;
  slot.prefill_end = 0;
  slot.cached_tokens = 0;
  slot.hashes = std::move(request.block_hashes);
  if (slot.kv_remote) {
    const bool inserted = by_id_.emplace(slot.id, s).second;
    DYNAMO_CHECK(inserted);  // request ids are unique
  } else {
    waiting_prefill_tokens_ += TokensToCompute(slot);
  }
  waiting_.push_back(s);
  return AddResult::kAccepted;
}

void EngineScheduler::KvArrived(Time /*now*/, RequestId id) {
  const auto it = by_id_.find(id);
  DYNAMO_CHECK(it != by_id_.end());
  const uint32_t s = it->second;
  Slot& slot = slots_[s];
  DYNAMO_CHECK(slot.phase == Phase::kAwaitingKv);
  by_id_.erase(it);
  // Everything but the last known token is in KV now; the first step here computes that token
  // (one decode token) and samples the next.
  slot.kv_remote = false;
  slot.num_computed = TokensToCompute(slot) - 1;
  slot.prefill_end = slot.num_computed;
  blocks_.Commit(slot.table, slot.hashes, slot.num_computed);
  slot.phase = Phase::kKvReady;
  ready_.push_back(s);
}

void EngineScheduler::ReleaseKv(Time /*now*/, RequestId id) {
  const auto it = by_id_.find(id);
  DYNAMO_CHECK(it != by_id_.end());
  const uint32_t s = it->second;
  DYNAMO_CHECK(slots_[s].phase == Phase::kHeld);
  by_id_.erase(it);
  blocks_.Free(slots_[s].table);
  --num_held_;
  ReleaseSlot(s);
}

bool EngineScheduler::Cancel(Time /*now*/, RequestId id) {
  DYNAMO_CHECK(!in_flight_);
  uint32_t slot = 0;
  while (slot < slots_.size() && (slots_[slot].phase == Phase::kFree || slots_[slot].id != id)) {
    ++slot;
  }
  if (slot == slots_.size()) return false;
  Slot& s = slots_[slot];
  const auto drop = [slot](auto& list) {
    const auto it = std::find(list.begin(), list.end(), slot);
    DYNAMO_CHECK(it != list.end());
    list.erase(it);
  };
  switch (s.phase) {
    case Phase::kFree:
      return false;
    case Phase::kWaiting:
      drop(waiting_);
      if (!s.kv_remote) waiting_prefill_tokens_ -= TokensToCompute(s);
      break;
    case Phase::kAwaitingKv:
      --num_reserved_;
      break;
    case Phase::kKvReady:
      drop(ready_);
      --num_reserved_;
      break;
    case Phase::kRunning:
      drop(running_);
      break;
    case Phase::kHeld:
      --num_held_;
      break;
  }
  by_id_.erase(id);  // present for remote-KV and held requests only
  blocks_.Free(s.table);
  ReleaseSlot(slot);
  return true;
}

bool EngineScheduler::step_in_flight() const { return in_flight_; }

bool EngineScheduler::idle() const {
  return !in_flight_ && running_.empty() && waiting_.empty() && num_reserved_ == 0 &&
         num_held_ == 0;
}

EngineLoad EngineScheduler::load() const {
  EngineLoad l;
  l.running = static_cast<int32_t>(running_.size());
  l.waiting = static_cast<int32_t>(waiting_.size()) + num_reserved_;
  l.waiting_prefill_tokens = waiting_prefill_tokens_;
  l.used_blocks = blocks_.num_used_blocks();
  l.total_blocks = blocks_.num_blocks();
  return l;
}

// ---------------------------------------------------------------------------------------------
// Schedule

const StepPlan& EngineScheduler::Schedule(Time /*now*/) {
  DYNAMO_CHECK(!in_flight_);
  plan_.seqs.clear();
  plan_.batch.prefill.clear();
  plan_.batch.decode_seqs = 0;
  plan_.batch.decode_kv_tokens = 0;
  plan_.num_tokens = 0;
  plan_.admitted.clear();
  plan_.preempted.clear();
  plan_.kv_reserved.clear();
  plan_slots_.clear();

  int32_t budget = config_.max_num_batched_tokens;
  bool preempted_any = false;
  ScheduleRunning(budget, preempted_any);
  // As vLLM v1: no admissions in a step that had to preempt (memory is short).
  if (!preempted_any) {
    ScheduleReady(budget);
    ScheduleWaiting(budget);
  }
  in_flight_ = !plan_.seqs.empty();
  return plan_;
}

void EngineScheduler::AddToBatch(uint32_t slot, int32_t num_tokens, bool prefill, bool samples) {
  const Slot& s = slots_[slot];
  plan_.seqs.push_back({s.id, num_tokens, s.num_computed, prefill, samples});
  plan_slots_.push_back(slot);
  plan_.num_tokens += num_tokens;
  if (prefill) {
    plan_.batch.prefill.push_back(
        {int64_t{num_tokens}, int64_t{s.num_computed} + num_tokens, samples});
  } else {
    plan_.batch.decode_seqs += 1;
    plan_.batch.decode_kv_tokens += int64_t{s.num_computed} + 1;
  }
}

void EngineScheduler::Preempt(uint32_t slot) {
  Slot& s = slots_[slot];
  blocks_.Free(s.table);
  s.num_computed = 0;
  s.prefill_end = 0;
  s.kv_remote = false;  // its KV is gone: it recomputes here
  s.resumed = true;
  s.phase = Phase::kWaiting;
  waiting_.push_front(slot);
  waiting_prefill_tokens_ += TokensToCompute(s);
  plan_.preempted.push_back(s.id);
}

void EngineScheduler::ScheduleRunning(int32_t& budget, bool& preempted_any) {
  for (size_t i = 0; i < running_.size() && budget > 0; ++i) {
    const uint32_t slot = running_[i];
    Slot& s = slots_[slot];
    const bool prefill = s.num_computed < s.prefill_end;
    int32_t n = 1;
    if (prefill) {
      const int32_t rest = s.prefill_end - s.num_computed;
      if (MustWaitWhole(rest, budget)) continue;
      n = std::min(rest, budget);
    }
    const int64_t total = int64_t{s.num_computed} + n;
    // Same as BlocksFor(total) > blocks held, without a division on the hot path.
    if (total > static_cast<int64_t>(s.table.blocks.size()) * config_.block_size) {
      bool self_preempted = false;
      while (!blocks_.Allocate(s.table, {}, 0, total)) {
        // Recompute preemption of the most recently admitted request (LIFO), until it fits.
        const uint32_t victim = running_.back();
        running_.pop_back();
        Preempt(victim);
        preempted_any = true;
        if (victim == slot) {
          self_preempted = true;
          break;
        }
      }
      if (self_preempted) break;
    }
    budget -= n;
    AddToBatch(slot, n, prefill, !prefill || s.num_computed + n == s.prefill_end);
  }
}

void EngineScheduler::ScheduleReady(int32_t& budget) {
  // Already counted against max_num_seqs (num_reserved_) and holding all their blocks.
  while (!ready_.empty() && budget > 0) {
    const uint32_t slot = ready_.front();
    ready_.pop_front();
    Slot& s = slots_[slot];
    DYNAMO_CHECK(blocks_.BlocksFor(int64_t{s.num_computed} + 1) <=
                 static_cast<int64_t>(s.table.blocks.size()));
    --num_reserved_;
    s.phase = Phase::kRunning;
    running_.push_back(slot);
    plan_.admitted.push_back({s.id, s.cached_tokens, false});
    budget -= 1;
    AddToBatch(slot, 1, /*prefill=*/false, /*samples=*/true);
  }
}

void EngineScheduler::ScheduleWaiting(int32_t& budget) {
  const auto max_seqs = static_cast<size_t>(config_.max_num_seqs);
  while (!waiting_.empty() && budget > 0 &&
         running_.size() + static_cast<size_t>(num_reserved_) < max_seqs) {
    const uint32_t slot = waiting_.front();
    const bool ok = slots_[slot].kv_remote ? ReserveRemote(slot) : AdmitWaiting(slot, budget);
    if (!ok) break;  // head-of-line: FCFS never lets a later request overtake
    waiting_.pop_front();
  }
}

bool EngineScheduler::ReserveRemote(uint32_t slot) {
  Slot& s = slots_[slot];
  const int64_t matched = blocks_.MatchPrefix(s.hashes);
  if (!blocks_.Allocate(s.table, s.hashes, matched, TokensToCompute(s))) return false;
  s.cached_tokens = static_cast<int32_t>(std::min<int64_t>(matched * config_.block_size, s.prompt));
  s.phase = Phase::kAwaitingKv;
  ++num_reserved_;
  plan_.kv_reserved.push_back({s.id, s.cached_tokens});
  return true;
}

bool EngineScheduler::AdmitWaiting(uint32_t slot, int32_t& budget) {
  Slot& s = slots_[slot];
  DYNAMO_CHECK(s.table.blocks.empty());
  const int32_t to_compute = TokensToCompute(s);
  // At least one token is computed, to produce the logits that sample the next token; as in
  // vLLM v1 the hit is whole blocks, so a block-aligned full hit recomputes its last block.
  const int64_t matched =
      std::min<int64_t>(blocks_.MatchPrefix(s.hashes), (to_compute - 1) / config_.block_size);
  const auto cached = static_cast<int32_t>(matched * config_.block_size);
  const int32_t rest = to_compute - cached;
  if (MustWaitWhole(rest, budget)) return false;
  const int32_t n = std::min(rest, budget);
  if (!blocks_.Allocate(s.table, s.hashes, matched, int64_t{cached} + n)) return false;

  waiting_prefill_tokens_ -= to_compute;
  s.phase = Phase::kRunning;
  s.num_computed = cached;
  s.prefill_end = to_compute;
  running_.push_back(slot);
  plan_.admitted.push_back({s.id, cached, s.resumed});
  s.resumed = false;
  budget -= n;
  AddToBatch(slot, n, /*prefill=*/true, /*samples=*/cached + n == to_compute);
  return true;
}

// ---------------------------------------------------------------------------------------------
// StepDone

const StepOutcome& EngineScheduler::StepDone(Time /*now*/) {
  DYNAMO_CHECK(in_flight_);
  in_flight_ = false;
  outcome_.tokens.clear();
  outcome_.finished.clear();
  outcome_.prefill_done.clear();
  bool any_finished = false;
  for (size_t k = 0; k < plan_slots_.size(); ++k) {
    FinishStep(plan_slots_[k], plan_.seqs[k].num_tokens, plan_.seqs[k].samples, any_finished);
  }
  if (any_finished) {
    std::erase_if(running_, [this](uint32_t s) { return slots_[s].phase != Phase::kRunning; });
  }
  return outcome_;
}

void EngineScheduler::FinishStep(uint32_t slot, int32_t num_tokens, bool samples,
                                 bool& any_finished) {
  Slot& s = slots_[slot];
  s.num_computed += num_tokens;
  const int64_t next_full = (int64_t{s.table.num_cached} + 1) * config_.block_size;
  if (static_cast<size_t>(s.table.num_cached) < s.hashes.size() && next_full <= s.num_computed) {
    blocks_.Commit(s.table, s.hashes, s.num_computed);
  }
  if (!samples) return;
  ++s.generated;
  const bool finished = config_.role == WorkerRole::kPrefill || s.generated >= s.max_output;
  outcome_.tokens.push_back({s.id, s.generated, finished});
  if (!finished) return;
  any_finished = true;
  outcome_.finished.push_back(s.id);
  if (config_.role == WorkerRole::kPrefill) {
    // The KV stays until the decode worker has it (ReleaseKv).
    s.phase = Phase::kHeld;
    ++num_held_;
    outcome_.prefill_done.push_back(s.id);
    const bool inserted = by_id_.emplace(s.id, slot).second;
    DYNAMO_CHECK(inserted);
  } else {
    blocks_.Free(s.table);
    ReleaseSlot(slot);
  }
}

// ---------------------------------------------------------------------------------------------
// Invariants

Status EngineScheduler::CheckInvariants() const {
  const auto where = [this](uint32_t slot) {
    return "slot " + std::to_string(slot) + " (request " + std::to_string(slots_[slot].id.value()) +
           ")";
  };
  std::vector<uint8_t> listed(slots_.size(), 0);  // [slot] times found in a list
  const auto mark = [&](uint32_t slot, Phase want, const char* list) -> Status {
    if (slot >= slots_.size()) return Internal(std::string(list) + " names a bad slot");
    if (slots_[slot].phase != want) {
      return Internal(where(slot) + " is in " + list + " with another phase");
    }
    if (listed[slot]++ != 0) return Internal(where(slot) + " is listed twice");
    return Status::Ok();
  };
  for (const uint32_t s : free_slots_) RETURN_IF_ERROR(mark(s, Phase::kFree, "free_slots"));
  for (const uint32_t s : running_) RETURN_IF_ERROR(mark(s, Phase::kRunning, "running"));
  for (const uint32_t s : waiting_) RETURN_IF_ERROR(mark(s, Phase::kWaiting, "waiting"));
  for (const uint32_t s : ready_) RETURN_IF_ERROR(mark(s, Phase::kKvReady, "ready"));

  int32_t awaiting = 0, held = 0;
  int64_t waiting_tokens = 0;
  size_t mapped = 0;
  std::vector<const BlockTable*> tables;
  tables.reserve(slots_.size());
  for (uint32_t slot = 0; slot < slots_.size(); ++slot) {
    const Slot& s = slots_[slot];
    tables.push_back(&s.table);
    switch (s.phase) {
      case Phase::kFree:
        if (!s.table.blocks.empty()) return Internal(where(slot) + " is free but holds blocks");
        continue;
      case Phase::kAwaitingKv:
        ++awaiting;
        break;
      case Phase::kHeld:
        ++held;
        break;
      case Phase::kWaiting:
        if (!s.table.blocks.empty() || s.num_computed != 0) {
          return Internal(where(slot) + " is waiting but holds KV");
        }
        if (!s.kv_remote) waiting_tokens += TokensToCompute(s);
        break;
      case Phase::kKvReady:
      case Phase::kRunning:
        break;
    }
    if (s.phase == Phase::kAwaitingKv || s.phase == Phase::kHeld) {
      if (listed[slot] != 0) return Internal(where(slot) + " is listed but awaiting or held");
    } else if (listed[slot] != 1) {
      return Internal(where(slot) + " is live but in no list");
    }
    const bool in_map = s.phase == Phase::kAwaitingKv || s.phase == Phase::kHeld ||
                        (s.phase == Phase::kWaiting && s.kv_remote);
    if (in_map) {
      const auto it = by_id_.find(s.id);
      if (it == by_id_.end() || it->second != slot) {
        return Internal(where(slot) + " is missing from the id map");
      }
      ++mapped;
    }
    if (s.generated >= s.max_output && s.phase != Phase::kHeld) {
      return Internal(where(slot) + " generated all its tokens but is still live");
    }
    if (s.num_computed > TokensToCompute(s) ||
        blocks_.BlocksFor(s.num_computed) > static_cast<int64_t>(s.table.blocks.size())) {
      return Internal(where(slot) + ": " + std::to_string(s.num_computed) +
                      " computed tokens do not fit its " + std::to_string(s.table.blocks.size()) +
                      " blocks");
    }
  }
  if (mapped != by_id_.size()) return Internal("the id map has stale entries");
  if (awaiting + static_cast<int32_t>(ready_.size()) != num_reserved_) {
    return Internal("reserved counter " + std::to_string(num_reserved_) + " but " +
                    std::to_string(awaiting) + " awaiting + " + std::to_string(ready_.size()) +
                    " ready");
  }
  if (held != num_held_) return Internal("held counter disagrees with the slots");
  if (waiting_tokens != waiting_prefill_tokens_) {
    return Internal("waiting prefill tokens " + std::to_string(waiting_prefill_tokens_) +
                    " but the waiting requests need " + std::to_string(waiting_tokens));
  }
  if (running_.size() + static_cast<size_t>(num_reserved_) >
      static_cast<size_t>(config_.max_num_seqs)) {
    return Internal("running + reserved exceeds max_num_seqs");
  }
  const Status blocks = blocks_.CheckInvariants(tables);
  if (!blocks.ok()) return blocks.WithContext("kv blocks");
  return Status::Ok();
}

}  // namespace dynamo::worker
