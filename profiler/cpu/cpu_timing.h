#pragma once
// The CPU backend's measuring loop: warmup, steady-clock timing of each call, the
// repetition/time budget of MeasureOptions, and last-level-cache flushing between calls.
// Shared by CpuBackend::Measure and TimeReferenceStep so both count the same way.

#include <cstdint>
#include <functional>
#include <vector>

#include "core/perf/op_shape.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

// Evicts the caches by writing a buffer of 2x the last-level cache. Owns the buffer
// (allocated on first use). Not thread-safe.
class CacheFlusher {
 public:
  CacheFlusher();
  int64_t buffer_bytes() const { return bytes_; }
  void Flush();

 private:
  int64_t bytes_ = 0;
  std::vector<unsigned char> buffer_;
  unsigned char fill_ = 0;  // changes every flush so no write is redundant
};

// sysconf(_SC_LEVEL3_CACHE_SIZE), or 64 MiB where the system does not say.
int64_t LastLevelCacheBytes();

// Calls `call` options.warmup times untimed, then times each call with std::chrono::
// steady_clock until options.repetitions calls (at least 1) or, once at least 3 were timed,
// until the timed total exceeds options.max_total_us. With options.flush_cache, `flusher`
// (not null) runs before every timed call, outside the timed region.
perf::Timing TimeCalls(const std::function<void()>& call, const MeasureOptions& options,
                       CacheFlusher* flusher);

}  // namespace dynamo::profiler
