#pragma once
// KvIndexer: which workers hold which cached block chains, fed by the workers' KV events.
// Answers "how many leading blocks of this request does each worker hold".
//
// Hashes are chained sequence hashes (block_hash.h): hash i names the whole prefix through
// block i, so the index needs no tree walk. It is a radix tree whose nodes are named by the
// chained hash of their path: a map from hash -> node holding the set of workers caching that
// block. No parent pointers, no splits; O(1) expected per stored/removed block.
//
// Layout: one flat open-addressing table (linear probing, backward-shift deletion, Fibonacci
// hashing, load <= 1/2) of 32-byte nodes. Worker ids (sparse, any value) map to dense slots,
// reused after RemoveWorker (lowest free slot first). A node lists up to kInline holder slots
// inline; a node with more holders keeps them in a bitset over slots, in a pooled array (no
// allocation per node once the pool has grown).
//
// Deterministic: outputs are sorted by worker id, never by slot, pointer or table order.
// Not thread-safe, const methods included (FindMatches uses scratch space).
#include <cstddef>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/status.h"

namespace dynamo::router {

class KvIndexer {
 public:
  KvIndexer();

  // Blocks `hashes` became cached on worker `w` (order irrelevant; idempotent per (hash, w)).
  // A worker is known from its first Stored call (even with no hashes).
  void Stored(WorkerId w, std::span<const uint64_t> hashes);
  // Blocks no longer cached on `w`. Hashes `w` does not hold, and unknown workers, are ignored.
  void Removed(WorkerId w, std::span<const uint64_t> hashes);
  // Drops every block of `w` and forgets it (worker gone or its cache cleared). Unknown `w`:
  // no-op. O(table capacity) when `w` holds blocks (rare: scaling and cache resets).
  void RemoveWorker(WorkerId w);

  // For each worker holding at least hashes[0]: the number of LEADING hashes it holds (up to its
  // first miss), as (worker, matched) pairs sorted by worker id, written to `out` (cleared
  // first). O(prefix length x holders per node), or x bitset words while more than kInline
  // workers remain; stops walking when no worker remains.
  void FindMatches(std::span<const uint64_t> hashes,
                   std::vector<std::pair<WorkerId, int32_t>>& out) const;

  int64_t tree_size(WorkerId w) const;                        // blocks `w` holds (0 if unknown)
  int64_t num_nodes() const { return size_; }                 // distinct hashes held by anyone
  int64_t events_applied() const { return events_applied_; }  // hashes passed to Stored/Removed

  // Tests: internal consistency (every node non-empty and findable, holder sets well formed,
  // per-worker counts equal node memberships, slot and pool bookkeeping). Slow: O(capacity).
  Status CheckInvariants() const;

 private:
  static constexpr uint32_t kInline = 5;  // holders kept in the node itself
  static constexpr uint32_t kNoSlot = ~0u;
  static constexpr size_t kNoBucket = ~size_t{0};
  static constexpr uint64_t kFibonacci = 0x9E3779B97F4A7C15ull;
  static constexpr size_t kInitialBuckets = 64;

  struct Node {
    uint64_t hash = 0;
    uint32_t count = 0;  // holders; 0 = empty bucket
    // count <= kInline: the holders' slots (unordered); count > kInline: holders[0] is the
    // node's bitset in sets_.
    uint32_t holders[kInline] = {};
  };

  // Worker slots.
  uint32_t SlotOf(WorkerId w) const;  // kNoSlot if unknown
  uint32_t AddSlot(WorkerId w);

  // Table.
  size_t Home(uint64_t hash) const { return static_cast<size_t>((hash * kFibonacci) >> shift_); }
  size_t FindBucket(uint64_t hash) const;  // kNoBucket if absent
  // Makes `slot` a holder of `hash`, creating the node if needed; true if it was not one.
  bool Insert(uint64_t hash, uint32_t slot);
  void EraseBucket(size_t bucket);
  void Grow();

  // Holder sets.
  bool Holds(const Node& node, uint32_t slot) const;
  bool AddHolder(Node& node, uint32_t slot);     // true if added
  bool RemoveHolder(Node& node, uint32_t slot);  // true if removed
  uint64_t* SetWords(uint32_t set) { return sets_.data() + size_t{set} * stride_; }
  const uint64_t* SetWords(uint32_t set) const { return sets_.data() + size_t{set} * stride_; }
  uint32_t NewSet();  // zeroed; may reallocate sets_
  void GrowStride(size_t stride);

  // FindMatches while more than kInline workers remain (node 0 has a bitset): walks until the
  // survivors fit inline, emitting drop-outs. Returns the next depth; survivors in `small`.
  size_t MatchWide(std::span<const uint64_t> hashes, const Node& first,
                   std::vector<std::pair<WorkerId, int32_t>>& out, uint32_t* small,
                   uint32_t& num_small) const;
  void EmitWord(uint64_t bits, size_t word, size_t depth,
                std::vector<std::pair<WorkerId, int32_t>>& out) const;

  std::vector<Node> table_;  // [bucket]
  size_t mask_ = 0;
  int shift_ = 0;  // 64 - log2(capacity)
  int64_t size_ = 0;
  int64_t events_applied_ = 0;

  std::unordered_map<uint32_t, uint32_t> slot_of_;  // worker id -> slot
  std::vector<WorkerId> slot_worker_;               // [slot]
  std::vector<int64_t> slot_blocks_;                // [slot] blocks held
  std::vector<uint8_t> slot_live_;                  // [slot] 1 if a worker owns it
  std::vector<uint32_t> free_slots_;

  size_t stride_ = 1;           // words per bitset: slots < 64 * stride_
  std::vector<uint64_t> sets_;  // [set][stride_] holder bitsets of nodes with > kInline holders
  uint32_t num_sets_ = 0;       // sets allocated in sets_ (in use or free)
  std::vector<uint32_t> free_sets_;
  mutable std::vector<uint64_t> alive_;  // FindMatches scratch: [stride_] surviving slots
};

}  // namespace dynamo::router
