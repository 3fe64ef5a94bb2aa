#include "runtime/router/block_ref_counts.h"

#include <utility>

#include "core/check.h"

namespace dynamo::router {

size_t BlockRefCounts::Find(uint64_t hash) const {
  if (slots_.empty()) return 0;
  const size_t mask = slots_.size() - 1;
  for (size_t i = Home(hash);; i = (i + 1) & mask) {
    if (slots_[i].hash == hash) return i;
    if (slots_[i].hash == 0) return slots_.size();
  }
}

bool BlockRefCounts::Contains(uint64_t hash) const {
  return !slots_.empty() && Find(hash) != slots_.size();
}

void BlockRefCounts::Grow() {
  std::vector<Slot> old = std::move(slots_);
  const size_t capacity = old.empty() ? 16 : old.size() * 2;
  slots_.assign(capacity, Slot{});
  shift_ = 64 - __builtin_ctzll(capacity);
  const size_t mask = capacity - 1;
  for (const Slot& s : old) {
    if (s.hash == 0) continue;
    size_t i = Home(s.hash);
    while (slots_[i].hash != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

bool BlockRefCounts::Add(uint64_t hash) {
  DYNAMO_CHECK(hash != 0);
  // Load factor at most 1/2: probes stay short.
  if (static_cast<size_t>(size_ + 1) * 2 > slots_.size()) Grow();
  const size_t mask = slots_.size() - 1;
  size_t i = Home(hash);
  while (slots_[i].hash != 0) {
    if (slots_[i].hash == hash) {
      ++slots_[i].count;
      return false;
    }
    i = (i + 1) & mask;
  }
  slots_[i] = Slot{hash, 1};
  ++size_;
  return true;
}

bool BlockRefCounts::Drop(uint64_t hash) {
  size_t i = Find(hash);
  DYNAMO_CHECK(!slots_.empty() && i != slots_.size());
  if (--slots_[i].count > 0) return false;
  // Backward-shift deletion: later entries of the probe run move into the hole when their home
  // is not between the hole and themselves.
  const size_t mask = slots_.size() - 1;
  size_t hole = i;
  for (size_t j = (i + 1) & mask; slots_[j].hash != 0; j = (j + 1) & mask) {
    const size_t home = Home(slots_[j].hash);
    const bool movable = hole <= j ? (home <= hole || home > j) : (home <= hole && home > j);
    if (movable) {
      slots_[hole] = slots_[j];
      hole = j;
    }
  }
  slots_[hole] = Slot{};
  --size_;
  return true;
}

}  // namespace dynamo::router
