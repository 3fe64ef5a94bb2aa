#pragma once
// The real clock of a runtime process, in the cores' units: Time since the process's own epoch
// (steady clock, never compared across processes), and Duration for Asio timers. Only the I/O
// layer reads it; the cores receive `now` as an argument.
#include <chrono>

#include "core/time.h"

namespace dynamo::service {

class RealClock {
 public:
  RealClock() : epoch_(std::chrono::steady_clock::now()) {}
  Time Now() const {
    return Time::FromNanos(std::chrono::duration_cast<std::chrono::nanoseconds>(
                               std::chrono::steady_clock::now() - epoch_)
                               .count());
  }

 private:
  std::chrono::steady_clock::time_point epoch_;
};

inline std::chrono::nanoseconds ToChrono(Duration d) { return std::chrono::nanoseconds(d.nanos()); }

}  // namespace dynamo::service
