#pragma once
// KvBlockManager: the paged KV cache of one worker, with prefix caching (vLLM v1 semantics).
//
// Blocks hold `block_size` tokens. A full block of a prompt gets the chained hash of the prompt
// through that block (the caller supplies the hashes: equal hash at index i means an identical
// prompt through block i). Every block is in exactly one state:
//   in use   reference count > 0 (one per sequence whose table holds it; prefix sharing)
//   free     count 0, in the LRU free list; it may still be cached (has a hash, can be hit)
// Allocation takes the head of the free list (least recently freed); a cached block taken this
// way is evicted from the cache (a kRemoved event). A sequence frees its blocks tail first, so a
// sequence's deepest blocks are evicted before its shared prefix.
//
// Sans-I/O, deterministic, not thread-safe. O(1) per block operation; the hash index is an
// open-addressing table sized once.
#include <cstdint>
#include <span>
#include <vector>

#include "core/status.h"

namespace dynamo::worker {

// KV events for the router (runtime/router): blocks that became cached on this worker (stored) or
// stopped being cached (removed). Hashes live in KvEventLog::hashes; an event refers to a range.
struct KvEvent {
  enum class Kind : uint8_t { kStored, kRemoved };
  Kind kind = Kind::kStored;
  uint32_t begin = 0, end = 0;  // [begin, end) in KvEventLog::hashes
  uint64_t parent_hash = 0;     // stored: hash of the block before the first; 0 = none
};

struct KvEventLog {
  std::vector<KvEvent> events;
  std::vector<uint64_t> hashes;
  void Clear() {
    events.clear();
    hashes.clear();
  }
  std::span<const uint64_t> HashesOf(const KvEvent& e) const {
    return {hashes.data() + e.begin, hashes.data() + e.end};
  }
};

// The blocks of one sequence, in token order. Owned by the caller (the engine scheduler's
// per-request state); only KvBlockManager changes it.
struct BlockTable {
  std::vector<uint32_t> blocks;
  // Leading blocks whose prompt hash has been handled: shared from the cache or committed. A
  // committed block whose hash another block already cached stays uncached but is counted here
  // too (its hash is cached elsewhere), so Commit never revisits it.
  int32_t num_cached = 0;
};

class KvBlockManager {
 public:
  struct Config {
    int64_t num_blocks = 0;  // > 0
    int32_t block_size = 16;
    bool prefix_caching = true;
    bool emit_events = false;  // record KvEvents (the router consumes them; off saves time)
  };
  explicit KvBlockManager(const Config& config);

  // Number of leading `hashes` cached here (in use or free). Read-only. O(matched).
  int64_t MatchPrefix(std::span<const uint64_t> hashes) const;

  // Grows `table` to hold `total_tokens` tokens. When `table` is empty, its first
  // `cached_blocks` blocks are the cached blocks of hashes[0..cached_blocks) (from MatchPrefix,
  // called in the same scheduling pass; precondition: they are still cached), shared by
  // reference. Returns false and changes nothing when the free blocks do not suffice (counting
  // the cached blocks it would take off the free list). Evictions it causes are one kRemoved
  // event, hashes in eviction order.
  bool Allocate(BlockTable& table, std::span<const uint64_t> hashes, int64_t cached_blocks,
                int64_t total_tokens);

  // The first `computed_tokens` tokens of the sequence are computed: full blocks among them
  // with a hash in `hashes` become cached (kStored). A hash already cached by another block
  // leaves this block uncached (it is freed, not shared). One kStored event per contiguous run
  // of newly cached blocks (normally one per call), parent = the hash before the run.
  void Commit(BlockTable& table, std::span<const uint64_t> hashes, int64_t computed_tokens);

  // Releases every block of `table` (tail first into the free list) and empties it.
  void Free(BlockTable& table);

  int64_t num_blocks() const { return static_cast<int64_t>(ref_.size()); }
  int32_t block_size() const { return config_.block_size; }
  int64_t num_free_blocks() const { return num_free_; }  // includes free cached blocks
  int64_t num_used_blocks() const { return num_blocks() - num_free_; }
  int64_t num_cached_blocks() const { return num_cached_; }
  // Blocks needed to hold `tokens` tokens.
  int64_t BlocksFor(int64_t tokens) const {
    return (tokens + config_.block_size - 1) / config_.block_size;
  }

  // Events since the last Clear() (the owner clears them after handing them on).
  KvEventLog& events() { return events_; }

  // Tests: every block in exactly one state, reference counts equal to the table references in
  // `tables`, the free list and the hash index consistent. Slow (O(blocks)).
  Status CheckInvariants(std::span<const BlockTable* const> tables) const;

 private:
  static constexpr int32_t kNone = -1;

  // Free list (doubly linked over block ids; head = least recently freed).
  void PushFreeTail(uint32_t block);
  void RemoveFree(uint32_t block);
  // Pops the free-list head, evicting its cached hash (appended to the open kRemoved event).
  uint32_t PopFreeHead(bool& removed_event_open);

  // Hash index: open addressing, linear probing, backward-shift deletion. Key 0 = empty slot.
  size_t Home(uint64_t hash) const { return static_cast<size_t>((hash * kFibonacci) >> shift_); }
  int32_t IndexFind(uint64_t hash) const;  // block, or kNone
  void IndexInsert(uint64_t hash, uint32_t block);
  void IndexErase(uint64_t hash);
  static constexpr uint64_t kFibonacci = 0x9E3779B97F4A7C15ull;

  Config config_;
  std::vector<int32_t> ref_;        // [block] reference count; 0 = in the free list
  std::vector<uint64_t> hash_;      // [block] cached hash; 0 = uncached
  std::vector<int32_t> prev_free_;  // [block] free-list links (kNone at the ends / when in use)
  std::vector<int32_t> next_free_;  // [block]
  int32_t free_head_ = kNone;
  int32_t free_tail_ = kNone;
  struct IndexEntry {
    uint64_t hash = 0;   // 0 = empty slot
    uint32_t block = 0;  // the block caching `hash`
  };
  std::vector<IndexEntry> index_;  // [slot]; one cache line per probe
  size_t index_mask_ = 0;
  int shift_ = 0;  // 64 - log2(index capacity)
  int64_t num_free_ = 0;
  int64_t num_cached_ = 0;
  KvEventLog events_;
};

}  // namespace dynamo::worker
