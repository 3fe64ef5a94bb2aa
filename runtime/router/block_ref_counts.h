#pragma once
// BlockRefCounts: how many active requests on one worker booked each block hash (the router's
// active-block accounting). An open-addressing table (linear probing, backward-shift deletion,
// Fibonacci hashing) that grows by doubling: the router books and releases every shareable
// prompt block of every request, and std::unordered_map's node allocations dominated that.
//
// Keys are non-zero 64-bit hashes (0 marks an empty slot). Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <vector>

namespace dynamo::router {

class BlockRefCounts {
 public:
  // Adds one reference; true when `hash` was not booked before.
  bool Add(uint64_t hash);
  // Drops one reference; true when it was the last. Precondition: `hash` is booked.
  bool Drop(uint64_t hash);
  bool Contains(uint64_t hash) const;
  int64_t size() const { return size_; }  // distinct hashes booked
  bool empty() const { return size_ == 0; }

 private:
  struct Slot {
    uint64_t hash = 0;  // 0 = empty
    int32_t count = 0;
  };
  static constexpr uint64_t kFibonacci = 0x9E3779B97F4A7C15ull;
  size_t Home(uint64_t hash) const { return static_cast<size_t>((hash * kFibonacci) >> shift_); }
  size_t Find(uint64_t hash) const;  // slot index, or slots_.size() when absent
  void Grow();

  std::vector<Slot> slots_;  // capacity is a power of two (or 0)
  int shift_ = 64;
  int64_t size_ = 0;
};

}  // namespace dynamo::router
