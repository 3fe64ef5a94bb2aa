#include "profiler/cpu/cpu_timing.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstring>

#include "core/check.h"
#include "profiler/timing_stats.h"

namespace dynamo::profiler {

int64_t LastLevelCacheBytes() {
  constexpr int64_t kFallbackBytes = int64_t{64} << 20;
  const long bytes = sysconf(_SC_LEVEL3_CACHE_SIZE);
  return bytes > 0 ? static_cast<int64_t>(bytes) : kFallbackBytes;
}

CacheFlusher::CacheFlusher() : bytes_(2 * LastLevelCacheBytes()) {}

void CacheFlusher::Flush() {
  if (buffer_.empty()) buffer_.resize(static_cast<size_t>(bytes_));
  std::memset(buffer_.data(), ++fill_, buffer_.size());
}

perf::Timing TimeCalls(const std::function<void()>& call, const MeasureOptions& options,
                       CacheFlusher* flusher) {
  constexpr int kMinTimedCalls = 3;
  for (int i = 0; i < options.warmup; ++i) call();
  const int target = std::max(1, options.repetitions);
  std::vector<double> samples_us;
  samples_us.reserve(static_cast<size_t>(target));
  double total_us = 0;
  while (static_cast<int>(samples_us.size()) < target) {
    if (options.flush_cache) {
      DYNAMO_CHECK(flusher != nullptr);
      flusher->Flush();
    }
    const auto start = std::chrono::steady_clock::now();
    call();
    const auto end = std::chrono::steady_clock::now();
    const double us = std::chrono::duration<double, std::micro>(end - start).count();
    samples_us.push_back(us);
    total_us += us;
    if (static_cast<int>(samples_us.size()) >= kMinTimedCalls && total_us > options.max_total_us) {
      break;
    }
  }
  return SummarizeSamples(std::move(samples_us));
}

}  // namespace dynamo::profiler
