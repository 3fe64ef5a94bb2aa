#include "runtime/worker/kv_block_manager.h"

#include <algorithm>
#include <limits>
#include <string>

namespace dynamo::worker {

KvBlockManager::KvBlockManager(const Config& config) : config_(config) {
  DYNAMO_CHECK(config.num_blocks > 0);
  DYNAMO_CHECK(config.num_blocks < std::numeric_limits<int32_t>::max() / 2);
  DYNAMO_CHECK(config.block_size > 0);
  const auto n = static_cast<size_t>(config.num_blocks);
  ref_.assign(n, 0);
  hash_.assign(n, 0);
  prev_free_.assign(n, kNone);
  next_free_.assign(n, kNone);
  // Every block starts free, in id order (block 0 is allocated first).
  for (size_t b = 0; b < n; ++b) PushFreeTail(static_cast<uint32_t>(b));

  // The index holds at most num_blocks hashes: a capacity of at least twice that keeps the load
  // factor <= 1/2, so probe sequences stay short.
  size_t capacity = 2;
  int log2 = 1;
  while (capacity < 2 * n) {
    capacity <<= 1;
    ++log2;
  }
  index_.assign(capacity, IndexEntry{});
  index_mask_ = capacity - 1;
  shift_ = 64 - log2;
}

// ---------------------------------------------------------------------------------------------
// Free list

void KvBlockManager::PushFreeTail(uint32_t block) {
  prev_free_[block] = free_tail_;
  next_free_[block] = kNone;
  if (free_tail_ != kNone) {
    next_free_[static_cast<size_t>(free_tail_)] = static_cast<int32_t>(block);
  } else {
    free_head_ = static_cast<int32_t>(block);
  }
  free_tail_ = static_cast<int32_t>(block);
  ++num_free_;
}

void KvBlockManager::RemoveFree(uint32_t block) {
  const int32_t prev = prev_free_[block];
  const int32_t next = next_free_[block];
  if (prev != kNone) {
    next_free_[static_cast<size_t>(prev)] = next;
  } else {
    free_head_ = next;
  }
  if (next != kNone) {
    prev_free_[static_cast<size_t>(next)] = prev;
  } else {
    free_tail_ = prev;
  }
  prev_free_[block] = kNone;
  next_free_[block] = kNone;
  --num_free_;
}

uint32_t KvBlockManager::PopFreeHead(bool& removed_event_open) {
  DYNAMO_CHECK(free_head_ != kNone);
  const auto block = static_cast<uint32_t>(free_head_);
  RemoveFree(block);
  const uint64_t hash = hash_[block];
  if (hash != 0) {
    IndexErase(hash);
    hash_[block] = 0;
    --num_cached_;
    if (config_.emit_events) {
      if (!removed_event_open) {
        const auto at = static_cast<uint32_t>(events_.hashes.size());
        events_.events.push_back({KvEvent::Kind::kRemoved, at, at, 0});
        removed_event_open = true;
      }
      events_.hashes.push_back(hash);
      events_.events.back().end = static_cast<uint32_t>(events_.hashes.size());
    }
  }
  return block;
}

// ---------------------------------------------------------------------------------------------
// Hash index

int32_t KvBlockManager::IndexFind(uint64_t hash) const {
  for (size_t i = Home(hash);; i = (i + 1) & index_mask_) {
    const IndexEntry& e = index_[i];
    if (e.hash == hash) return static_cast<int32_t>(e.block);
    if (e.hash == 0) return kNone;
  }
}

void KvBlockManager::IndexInsert(uint64_t hash, uint32_t block) {
  size_t i = Home(hash);
  while (index_[i].hash != 0) i = (i + 1) & index_mask_;
  index_[i] = {hash, block};
}

void KvBlockManager::IndexErase(uint64_t hash) {
  size_t hole = Home(hash);
  while (index_[hole].hash != hash) {
    DYNAMO_CHECK(index_[hole].hash != 0);
    hole = (hole + 1) & index_mask_;
  }
  // Backward-shift deletion: move later entries of the probe run into the hole when the hole
  // lies on their probe path (between their home slot and their slot, cyclically).
  for (size_t j = (hole + 1) & index_mask_; index_[j].hash != 0; j = (j + 1) & index_mask_) {
    const size_t home = Home(index_[j].hash);
    if (((j - home) & index_mask_) >= ((j - hole) & index_mask_)) {
      index_[hole] = index_[j];
      hole = j;
    }
  }
  index_[hole] = IndexEntry{};
}

// ---------------------------------------------------------------------------------------------
// Operations

int64_t KvBlockManager::MatchPrefix(std::span<const uint64_t> hashes) const {
  if (!config_.prefix_caching) return 0;
  int64_t matched = 0;
  for (const uint64_t h : hashes) {
    if (IndexFind(h) == kNone) break;
    ++matched;
  }
  return matched;
}

bool KvBlockManager::Allocate(BlockTable& table, std::span<const uint64_t> hashes,
                              int64_t cached_blocks, int64_t total_tokens) {
  DYNAMO_CHECK(cached_blocks >= 0 && total_tokens >= 0);
  DYNAMO_CHECK(cached_blocks == 0 || (table.blocks.empty() && config_.prefix_caching &&
                                      cached_blocks <= static_cast<int64_t>(hashes.size())));
  const int64_t have = static_cast<int64_t>(table.blocks.size()) + cached_blocks;
  const int64_t new_blocks = std::max<int64_t>(0, BlocksFor(total_tokens) - have);
  if (new_blocks == 0 && cached_blocks == 0) return true;

  // Capacity first: new blocks plus the cached blocks that are free (they leave the free list).
  int64_t from_free = new_blocks;
  for (int64_t i = 0; i < cached_blocks; ++i) {
    const int32_t b = IndexFind(hashes[static_cast<size_t>(i)]);
    DYNAMO_CHECK(b != kNone);  // precondition: still cached since MatchPrefix
    if (ref_[static_cast<size_t>(b)] == 0) ++from_free;
  }
  if (from_free > num_free_) return false;

  table.blocks.reserve(static_cast<size_t>(have + new_blocks));
  for (int64_t i = 0; i < cached_blocks; ++i) {
    const auto b = static_cast<uint32_t>(IndexFind(hashes[static_cast<size_t>(i)]));
    if (ref_[b] == 0) RemoveFree(b);
    ++ref_[b];
    table.blocks.push_back(b);
  }
  if (cached_blocks > 0) table.num_cached = static_cast<int32_t>(cached_blocks);

  bool removed_event_open = false;
  for (int64_t i = 0; i < new_blocks; ++i) {
    const uint32_t b = PopFreeHead(removed_event_open);
    ref_[b] = 1;
    table.blocks.push_back(b);
  }
  return true;
}

void KvBlockManager::Commit(BlockTable& table, std::span<const uint64_t> hashes,
                            int64_t computed_tokens) {
  if (!config_.prefix_caching) return;
  const int64_t full =
      std::min({computed_tokens / config_.block_size, static_cast<int64_t>(hashes.size()),
                static_cast<int64_t>(table.blocks.size())});
  bool stored_event_open = false;
  for (int64_t i = table.num_cached; i < full; ++i) {
    const auto idx = static_cast<size_t>(i);
    const uint64_t h = hashes[idx];
    DYNAMO_CHECK(h != 0);
    const uint32_t b = table.blocks[idx];
    DYNAMO_CHECK(hash_[b] == 0);  // blocks past num_cached were allocated uncached
    if (IndexFind(h) != kNone) {
      // Another block caches this content: this one stays uncached (freed, never shared).
      stored_event_open = false;
      continue;
    }
    hash_[b] = h;
    IndexInsert(h, b);
    ++num_cached_;
    if (config_.emit_events) {
      if (!stored_event_open) {
        const auto at = static_cast<uint32_t>(events_.hashes.size());
        events_.events.push_back({KvEvent::Kind::kStored, at, at, idx > 0 ? hashes[idx - 1] : 0});
        stored_event_open = true;
      }
      events_.hashes.push_back(h);
      events_.events.back().end = static_cast<uint32_t>(events_.hashes.size());
    }
  }
  table.num_cached = static_cast<int32_t>(std::max<int64_t>(table.num_cached, full));
}

void KvBlockManager::Free(BlockTable& table) {
  // Tail first: the sequence's deepest blocks reach the free list (and eviction) first.
  for (auto it = table.blocks.rbegin(); it != table.blocks.rend(); ++it) {
    const uint32_t b = *it;
    DYNAMO_CHECK(ref_[b] > 0);
    if (--ref_[b] == 0) PushFreeTail(b);
  }
  table.blocks.clear();
  table.num_cached = 0;
}

// ---------------------------------------------------------------------------------------------
// Invariants

Status KvBlockManager::CheckInvariants(std::span<const BlockTable* const> tables) const {
  const size_t n = ref_.size();
  std::vector<int32_t> refs(n, 0);
  for (size_t t = 0; t < tables.size(); ++t) {
    const BlockTable& table = *tables[t];
    if (table.num_cached < 0 || table.num_cached > static_cast<int64_t>(table.blocks.size())) {
      return Internal("table " + std::to_string(t) + ": num_cached " +
                      std::to_string(table.num_cached) + " outside [0, " +
                      std::to_string(table.blocks.size()) + "]");
    }
    for (const uint32_t b : table.blocks) {
      if (b >= n) {
        return Internal("table " + std::to_string(t) + " holds block " + std::to_string(b) +
                        " >= num_blocks " + std::to_string(n));
      }
      ++refs[b];
    }
  }
  int64_t zero_ref = 0;
  for (size_t b = 0; b < n; ++b) {
    if (refs[b] != ref_[b]) {
      return Internal("block " + std::to_string(b) + ": reference count " +
                      std::to_string(ref_[b]) + " but " + std::to_string(refs[b]) +
                      " table references");
    }
    if (ref_[b] == 0) ++zero_ref;
  }

  // Free list: exactly the unreferenced blocks, links consistent both ways.
  int64_t walked = 0;
  int32_t prev = kNone;
  for (int32_t b = free_head_; b != kNone; b = next_free_[static_cast<size_t>(b)]) {
    if (++walked > static_cast<int64_t>(n)) return Internal("free list has a cycle");
    if (ref_[static_cast<size_t>(b)] != 0) {
      return Internal("block " + std::to_string(b) + " is in the free list but in use");
    }
    if (prev_free_[static_cast<size_t>(b)] != prev) {
      return Internal("block " + std::to_string(b) + ": free-list back link broken");
    }
    prev = b;
  }
  if (prev != free_tail_) return Internal("free-list tail does not end the list");
  if (walked != num_free_ || zero_ref != num_free_) {
    return Internal("free blocks: counter " + std::to_string(num_free_) + ", list " +
                    std::to_string(walked) + ", unreferenced " + std::to_string(zero_ref));
  }

  // Hash index: exactly the blocks with a hash, each findable.
  int64_t hashed = 0;
  for (size_t b = 0; b < n; ++b) {
    if (hash_[b] == 0) continue;
    ++hashed;
    if (IndexFind(hash_[b]) != static_cast<int32_t>(b)) {
      return Internal("block " + std::to_string(b) + ": hash not found in the index");
    }
  }
  int64_t entries = 0;
  for (size_t i = 0; i < index_.size(); ++i) {
    const IndexEntry& e = index_[i];
    if (e.hash == 0) continue;
    ++entries;
    if (e.block >= n || hash_[e.block] != e.hash) {
      return Internal("index slot " + std::to_string(i) + " names block " +
                      std::to_string(e.block) + ", which does not carry its hash");
    }
  }
  if (hashed != num_cached_ || entries != num_cached_) {
    return Internal("cached blocks: counter " + std::to_string(num_cached_) + ", hashed " +
                    std::to_string(hashed) + ", index entries " + std::to_string(entries));
  }
  if (!config_.prefix_caching && num_cached_ != 0) {
    return Internal("prefix caching is off but blocks are cached");
  }
  return Status::Ok();
}

}  // namespace dynamo::worker
