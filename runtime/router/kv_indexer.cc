#include "runtime/router/kv_indexer.h"

#include <algorithm>
#include <bit>
#include <limits>
#include <string>

#include "core/check.h"

namespace dynamo::router {

KvIndexer::KvIndexer() {
  table_.assign(kInitialBuckets, Node{});
  mask_ = kInitialBuckets - 1;
  shift_ = 64 - std::countr_zero(kInitialBuckets);
  alive_.assign(stride_, 0);
}

// ---------------------------------------------------------------------------------------------
// Worker slots

uint32_t KvIndexer::SlotOf(WorkerId w) const {
  const auto it = slot_of_.find(w.value());
  return it == slot_of_.end() ? kNoSlot : it->second;
}

uint32_t KvIndexer::AddSlot(WorkerId w) {
  uint32_t slot;
  if (!free_slots_.empty()) {
    // The lowest free slot keeps slots dense, so bitsets stay short.
    const auto it = std::min_element(free_slots_.begin(), free_slots_.end());
    slot = *it;
    *it = free_slots_.back();
    free_slots_.pop_back();
  } else {
    DYNAMO_CHECK(slot_worker_.size() < kNoSlot);
    slot = static_cast<uint32_t>(slot_worker_.size());
    slot_worker_.emplace_back();
    slot_blocks_.push_back(0);
    slot_live_.push_back(0);
    if (slot >= 64 * stride_) GrowStride(2 * stride_);
  }
  slot_worker_[slot] = w;
  slot_blocks_[slot] = 0;
  slot_live_[slot] = 1;
  slot_of_.emplace(w.value(), slot);
  return slot;
}

// ---------------------------------------------------------------------------------------------
// Table: open addressing, linear probing, backward-shift deletion; count 0 marks an empty bucket
// (so any 64-bit value, 0 included, is a valid hash).

size_t KvIndexer::FindBucket(uint64_t hash) const {
  for (size_t i = Home(hash);; i = (i + 1) & mask_) {
    const Node& n = table_[i];
    if (n.count == 0) return kNoBucket;
    if (n.hash == hash) return i;
  }
}

bool KvIndexer::Insert(uint64_t hash, uint32_t slot) {
  size_t i = Home(hash);
  for (;; i = (i + 1) & mask_) {
    Node& n = table_[i];
    if (n.count == 0) break;
    if (n.hash == hash) return AddHolder(n, slot);
  }
  // New node. Keep the load factor <= 1/2 so probe runs stay short.
  if (2 * (static_cast<size_t>(size_) + 1) > table_.size()) {
    Grow();
    for (i = Home(hash); table_[i].count != 0; i = (i + 1) & mask_) {
    }
  }
  Node& n = table_[i];
  n.hash = hash;
  n.count = 1;
  n.holders[0] = slot;
  ++size_;
  return true;
}

void KvIndexer::EraseBucket(size_t bucket) {
  size_t hole = bucket;
  // Backward-shift deletion: move later entries of the probe run into the hole when the hole
  // lies on their probe path (between their home bucket and their bucket, cyclically).
  for (size_t j = (hole + 1) & mask_; table_[j].count != 0; j = (j + 1) & mask_) {
    const size_t home = Home(table_[j].hash);
    if (((j - home) & mask_) >= ((j - hole) & mask_)) {
      table_[hole] = table_[j];
      hole = j;
    }
  }
  table_[hole] = Node{};
  --size_;
}

void KvIndexer::Grow() {
  std::vector<Node> old = std::move(table_);
  const size_t capacity = 2 * old.size();
  table_.assign(capacity, Node{});
  mask_ = capacity - 1;
  shift_ = 64 - std::countr_zero(capacity);
  for (const Node& n : old) {
    if (n.count == 0) continue;
    size_t i = Home(n.hash);
    while (table_[i].count != 0) i = (i + 1) & mask_;
    table_[i] = n;
  }
}

// ---------------------------------------------------------------------------------------------
// Holder sets: up to kInline slots inline, else a bitset of stride_ words in sets_.

bool KvIndexer::Holds(const Node& node, uint32_t slot) const {
  if (node.count <= kInline) {
    for (uint32_t k = 0; k < node.count; ++k) {
      if (node.holders[k] == slot) return true;
    }
    return false;
  }
  return (SetWords(node.holders[0])[slot >> 6] >> (slot & 63)) & 1;
}

bool KvIndexer::AddHolder(Node& node, uint32_t slot) {
  if (node.count > kInline) {
    uint64_t& word = SetWords(node.holders[0])[slot >> 6];
    const uint64_t bit = uint64_t{1} << (slot & 63);
    if (word & bit) return false;
    word |= bit;
    ++node.count;
    return true;
  }
  if (Holds(node, slot)) return false;
  if (node.count < kInline) {
    node.holders[node.count++] = slot;
    return true;
  }
  // Promote to a bitset (NewSet may move sets_, so take the words afterwards).
  const uint32_t set = NewSet();
  uint64_t* words = SetWords(set);
  for (uint32_t k = 0; k < kInline; ++k) {
    words[node.holders[k] >> 6] |= uint64_t{1} << (node.holders[k] & 63);
  }
  words[slot >> 6] |= uint64_t{1} << (slot & 63);
  node.holders[0] = set;
  ++node.count;
  return true;
}

bool KvIndexer::RemoveHolder(Node& node, uint32_t slot) {
  if (node.count <= kInline) {
    for (uint32_t k = 0; k < node.count; ++k) {
      if (node.holders[k] == slot) {
        node.holders[k] = node.holders[--node.count];
        return true;
      }
    }
    return false;
  }
  const uint32_t set = node.holders[0];
  uint64_t* words = SetWords(set);
  const uint64_t bit = uint64_t{1} << (slot & 63);
  if (!(words[slot >> 6] & bit)) return false;
  words[slot >> 6] &= ~bit;
  if (--node.count == kInline) {
    // Demote: the remaining holders fit inline again.
    uint32_t k = 0;
    for (size_t w = 0; w < stride_; ++w) {
      for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
        node.holders[k++] =
            static_cast<uint32_t>(64 * w + static_cast<size_t>(std::countr_zero(bits)));
      }
    }
    DYNAMO_CHECK(k == kInline);
    free_sets_.push_back(set);
  }
  return true;
}

uint32_t KvIndexer::NewSet() {
  uint32_t set;
  if (!free_sets_.empty()) {
    set = free_sets_.back();
    free_sets_.pop_back();
  } else {
    set = num_sets_++;
    sets_.resize(size_t{num_sets_} * stride_);
  }
  std::fill_n(SetWords(set), stride_, uint64_t{0});
  return set;
}

void KvIndexer::GrowStride(size_t stride) {
  DYNAMO_CHECK(stride > stride_);
  std::vector<uint64_t> grown(size_t{num_sets_} * stride, 0);
  for (size_t s = 0; s < num_sets_; ++s) {
    std::copy_n(sets_.begin() + static_cast<std::ptrdiff_t>(s * stride_), stride_,
                grown.begin() + static_cast<std::ptrdiff_t>(s * stride));
  }
  sets_ = std::move(grown);
  stride_ = stride;
  alive_.assign(stride_, 0);
}

// ---------------------------------------------------------------------------------------------
// Events

void KvIndexer::Stored(WorkerId w, std::span<const uint64_t> hashes) {
  uint32_t slot = SlotOf(w);
  if (slot == kNoSlot) slot = AddSlot(w);
  events_applied_ += static_cast<int64_t>(hashes.size());
  int64_t added = 0;
  for (const uint64_t h : hashes) added += Insert(h, slot) ? 1 : 0;
  slot_blocks_[slot] += added;
}

void KvIndexer::Removed(WorkerId w, std::span<const uint64_t> hashes) {
  events_applied_ += static_cast<int64_t>(hashes.size());
  const uint32_t slot = SlotOf(w);
  if (slot == kNoSlot) return;
  for (const uint64_t h : hashes) {
    const size_t b = FindBucket(h);
    if (b == kNoBucket || !RemoveHolder(table_[b], slot)) continue;
    --slot_blocks_[slot];
    if (table_[b].count == 0) EraseBucket(b);
  }
}

void KvIndexer::RemoveWorker(WorkerId w) {
  const uint32_t slot = SlotOf(w);
  if (slot == kNoSlot) return;
  int64_t remaining = slot_blocks_[slot];
  if (remaining > 0) {
    // Scan from just after an empty bucket (one exists: load <= 1/2). No probe run crosses that
    // bucket, and backward shifts only move entries towards the hole, never past the scan
    // position, so one pass sees every node; a refilled bucket is examined again.
    size_t start = 0;
    while (table_[start].count != 0) ++start;
    for (size_t k = 1; k <= table_.size() && remaining > 0; ++k) {
      const size_t i = (start + k) & mask_;
      while (table_[i].count != 0 && RemoveHolder(table_[i], slot)) {
        --remaining;
        if (table_[i].count != 0) break;
        EraseBucket(i);
      }
    }
    DYNAMO_CHECK(remaining == 0);
  }
  slot_blocks_[slot] = 0;
  slot_live_[slot] = 0;
  free_slots_.push_back(slot);
  slot_of_.erase(w.value());
}

int64_t KvIndexer::tree_size(WorkerId w) const {
  const uint32_t slot = SlotOf(w);
  return slot == kNoSlot ? 0 : slot_blocks_[slot];
}

// ---------------------------------------------------------------------------------------------
// Matching

void KvIndexer::EmitWord(uint64_t bits, size_t word, size_t depth,
                         std::vector<std::pair<WorkerId, int32_t>>& out) const {
  for (; bits != 0; bits &= bits - 1) {
    const size_t slot = 64 * word + static_cast<size_t>(std::countr_zero(bits));
    out.emplace_back(slot_worker_[slot], static_cast<int32_t>(depth));
  }
}

size_t KvIndexer::MatchWide(std::span<const uint64_t> hashes, const Node& first,
                            std::vector<std::pair<WorkerId, int32_t>>& out, uint32_t* small,
                            uint32_t& num_small) const {
  num_small = 0;
  const uint64_t* words = SetWords(first.holders[0]);
  // alive_[lo, hi) holds every surviving slot.
  size_t lo = 0, hi = stride_;
  while (words[lo] == 0) ++lo;  // the set is not empty
  while (words[hi - 1] == 0) --hi;
  std::copy(words + lo, words + hi, alive_.begin() + static_cast<std::ptrdiff_t>(lo));
  for (size_t depth = 1;; ++depth) {
    const size_t b = depth < hashes.size() ? FindBucket(hashes[depth]) : kNoBucket;
    if (b == kNoBucket) {
      // End of the request or a hash nobody holds: every survivor stops here.
      for (size_t w = lo; w < hi; ++w) EmitWord(alive_[w], w, depth, out);
      return depth;
    }
    const Node& node = table_[b];
    if (node.count > kInline) {
      const uint64_t* held = SetWords(node.holders[0]);
      for (size_t w = lo; w < hi; ++w) {
        EmitWord(alive_[w] & ~held[w], w, depth, out);
        alive_[w] &= held[w];
      }
      while (lo < hi && alive_[lo] == 0) ++lo;
      while (lo < hi && alive_[hi - 1] == 0) --hi;
      if (lo == hi) return depth;
      continue;
    }
    // Survivors now fit inline: keep the node's holders that are alive, drop the rest.
    for (uint32_t k = 0; k < node.count; ++k) {
      const uint32_t s = node.holders[k];
      const size_t w = s >> 6;
      const uint64_t bit = uint64_t{1} << (s & 63);
      if (w >= lo && w < hi && (alive_[w] & bit)) {
        small[num_small++] = s;
        alive_[w] &= ~bit;
      }
    }
    for (size_t w = lo; w < hi; ++w) EmitWord(alive_[w], w, depth, out);
    return depth + 1;
  }
}

void KvIndexer::FindMatches(std::span<const uint64_t> hashes,
                            std::vector<std::pair<WorkerId, int32_t>>& out) const {
  out.clear();
  if (hashes.empty()) return;
  DYNAMO_CHECK(hashes.size() <= static_cast<size_t>(std::numeric_limits<int32_t>::max()));
  const size_t b0 = FindBucket(hashes[0]);
  if (b0 == kNoBucket) return;
  const Node& first = table_[b0];
  uint32_t small[kInline];
  uint32_t num_small = 0;
  size_t depth = 1;
  if (first.count > kInline) {
    depth = MatchWide(hashes, first, out, small, num_small);
  } else {
    num_small = first.count;
    std::copy_n(first.holders, num_small, small);
  }
  for (; depth < hashes.size() && num_small > 0; ++depth) {
    const size_t b = FindBucket(hashes[depth]);
    if (b == kNoBucket) break;
    const Node& node = table_[b];
    uint32_t kept = 0;
    for (uint32_t k = 0; k < num_small; ++k) {
      if (Holds(node, small[k])) {
        small[kept++] = small[k];
      } else {
        out.emplace_back(slot_worker_[small[k]], static_cast<int32_t>(depth));
      }
    }
    num_small = kept;
  }
  for (uint32_t k = 0; k < num_small; ++k) {
    out.emplace_back(slot_worker_[small[k]], static_cast<int32_t>(depth));
  }
  std::sort(out.begin(), out.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
}

// ---------------------------------------------------------------------------------------------
// Invariants

Status KvIndexer::CheckInvariants() const {
  const size_t num_slots = slot_worker_.size();
  if (slot_blocks_.size() != num_slots || slot_live_.size() != num_slots) {
    return Internal("per-slot arrays differ in size");
  }
  if (num_slots > 64 * stride_) {
    return Internal(std::to_string(num_slots) + " slots exceed the bitset stride " +
                    std::to_string(stride_));
  }
  // Slots: the id map names exactly the live slots; the free list exactly the others.
  size_t live = 0;
  for (size_t s = 0; s < num_slots; ++s) live += slot_live_[s];
  if (live != slot_of_.size()) {
    return Internal(std::to_string(live) + " live slots but " + std::to_string(slot_of_.size()) +
                    " known workers");
  }
  for (const auto& [id, slot] : slot_of_) {
    if (slot >= num_slots || !slot_live_[slot] || slot_worker_[slot].value() != id) {
      return Internal("worker " + std::to_string(id) + " maps to bad slot " + std::to_string(slot));
    }
  }
  std::vector<uint8_t> seen(num_slots, 0);
  for (const uint32_t s : free_slots_) {
    if (s >= num_slots || slot_live_[s] || seen[s]) {
      return Internal("free slot " + std::to_string(s) + " is live, repeated or out of range");
    }
    seen[s] = 1;
  }
  if (free_slots_.size() + live != num_slots) return Internal("slots leaked from the free list");

  // Nodes.
  std::vector<int64_t> members(num_slots, 0);
  std::vector<uint8_t> set_used(num_sets_, 0);
  int64_t occupied = 0;
  for (size_t i = 0; i < table_.size(); ++i) {
    const Node& n = table_[i];
    if (n.count == 0) continue;
    ++occupied;
    const std::string where =
        "bucket " + std::to_string(i) + " (hash " + std::to_string(n.hash) + ")";
    if (FindBucket(n.hash) != i) return Internal(where + ": not found by lookup");
    std::vector<uint32_t> holders;
    if (n.count <= kInline) {
      holders.assign(n.holders, n.holders + n.count);
    } else {
      const uint32_t set = n.holders[0];
      if (set >= num_sets_ || set_used[set]) {
        return Internal(where + ": bitset " + std::to_string(set) + " invalid or shared");
      }
      set_used[set] = 1;
      const uint64_t* words = SetWords(set);
      for (size_t w = 0; w < stride_; ++w) {
        for (uint64_t bits = words[w]; bits != 0; bits &= bits - 1) {
          holders.push_back(
              static_cast<uint32_t>(64 * w + static_cast<size_t>(std::countr_zero(bits))));
        }
      }
      if (holders.size() != n.count) {
        return Internal(where + ": count " + std::to_string(n.count) + " but " +
                        std::to_string(holders.size()) + " bits set");
      }
    }
    std::sort(holders.begin(), holders.end());
    if (std::adjacent_find(holders.begin(), holders.end()) != holders.end()) {
      return Internal(where + ": a worker holds the node twice");
    }
    for (const uint32_t s : holders) {
      if (s >= num_slots || !slot_live_[s]) {
        return Internal(where + ": holder slot " + std::to_string(s) + " is not a live worker");
      }
      ++members[s];
    }
  }
  if (occupied != size_) {
    return Internal("size " + std::to_string(size_) + " but " + std::to_string(occupied) +
                    " occupied buckets");
  }
  if (2 * static_cast<size_t>(size_) > table_.size()) return Internal("load factor above 1/2");
  for (size_t s = 0; s < num_slots; ++s) {
    if (members[s] != slot_blocks_[s]) {
      return Internal("slot " + std::to_string(s) + ": " + std::to_string(slot_blocks_[s]) +
                      " blocks counted but member of " + std::to_string(members[s]) + " nodes");
    }
  }

  // Bitset pool: every set is used by one node or free, not both.
  for (const uint32_t set : free_sets_) {
    if (set >= num_sets_ || set_used[set]) {
      return Internal("free bitset " + std::to_string(set) + " is in use or out of range");
    }
    set_used[set] = 2;
  }
  for (uint32_t set = 0; set < num_sets_; ++set) {
    if (set_used[set] == 0) return Internal("bitset " + std::to_string(set) + " leaked");
  }
  if (alive_.size() != stride_) return Internal("scratch size differs from the stride");
  return Status::Ok();
}

}  // namespace dynamo::router
