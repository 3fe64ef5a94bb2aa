#pragma once
// EventQueue: the simulator's agenda. Events are ordered by (time, sequence): the sequence is
// the push order, so events at the same time run in the order they were scheduled, whatever
// the heap does. Times are int64 nanoseconds (Time). One queue per simulation; no globals.
//
// A 4-ary min-heap over a vector of {time, sequence, payload}: push and pop are O(log n) with
// few cache misses. `Payload` should be small and trivially copyable (an event kind + ids).
// Not thread-safe.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "core/check.h"
#include "core/time.h"

namespace dynamo::sim {

template <typename Payload>
class EventQueue {
 public:
  struct Entry {
    Time time;
    uint64_t sequence;
    Payload payload;
  };

  // Precondition: `time` is not before the last popped time (no events in the past).
  void Push(Time time, const Payload& payload) {
    DYNAMO_CHECK(time >= now_);
    const Entry e{time, next_sequence_++, payload};
    heap_.push_back(e);  // grows the vector; the slot is overwritten by the sift below
    SiftUp(heap_.size() - 1, e);
  }

  // Precondition: !empty(). The earliest entry; ties: the first pushed. Valid until the next
  // Push or Pop.
  const Entry& Top() const {
    DYNAMO_CHECK(!heap_.empty());
    return heap_.front();
  }

  // Precondition: !empty(). Removes and returns the earliest entry; now() becomes its time.
  Entry Pop() {
    DYNAMO_CHECK(!heap_.empty());
    const Entry top = heap_.front();
    const Entry last = heap_.back();
    heap_.pop_back();
    if (!heap_.empty()) SiftDown(last);
    now_ = top.time;
    return top;
  }

  bool empty() const { return heap_.empty(); }
  size_t size() const { return heap_.size(); }
  uint64_t pushed() const { return next_sequence_; }  // total pushes (= the next sequence)
  void Reserve(size_t n) { heap_.reserve(n); }
  Time now() const { return now_; }  // time of the last popped event (Zero before the first)

 private:
  static constexpr size_t kArity = 4;

  // Strict (time, sequence) order; sequences are unique, so no two entries compare equal.
  static bool Before(const Entry& a, const Entry& b) {
    if (a.time != b.time) return a.time < b.time;
    return a.sequence < b.sequence;
  }

  // Moves the hole at `i` up until `e` fits, then stores `e` there.
  void SiftUp(size_t i, const Entry& e) {
    Entry* h = heap_.data();
    while (i > 0) {
      const size_t parent = (i - 1) / kArity;
      if (!Before(e, h[parent])) break;
      h[i] = h[parent];
      i = parent;
    }
    h[i] = e;
  }

  // The root is a hole: moves the smallest child up until `e` fits, then stores `e` there.
  void SiftDown(const Entry& e) {
    Entry* h = heap_.data();
    const size_t n = heap_.size();
    size_t i = 0;
    for (;;) {
      const size_t first = i * kArity + 1;
      if (first >= n) break;
      size_t best = first;
      if (first + kArity <= n) {
        // All four children exist (the common case): a fixed, branch-light scan.
        if (Before(h[first + 1], h[best])) best = first + 1;
        if (Before(h[first + 2], h[best])) best = first + 2;
        if (Before(h[first + 3], h[best])) best = first + 3;
      } else {
        for (size_t c = first + 1; c < n; ++c) {
          if (Before(h[c], h[best])) best = c;
        }
      }
      if (!Before(h[best], e)) break;
      h[i] = h[best];
      i = best;
    }
    h[i] = e;
  }

  std::vector<Entry> heap_;  // 4-ary heap: the children of i are 4i+1 .. 4i+4
  uint64_t next_sequence_ = 0;
  Time now_ = Time::Zero();
};

}  // namespace dynamo::sim
