#pragma once
// CpuBackend: `dynamo-profile --backend cpu`. Runs the fp32 kernels of cpu_kernels.h on its own
// ThreadPool and times them with the steady clock (cpu_timing.h). Useful to exercise the whole
// profiler pipeline without a GPU and to validate the step-latency model against
// TimeReferenceStep on the same machine.
//
// Owns the pool and the cache-flush buffer. Not thread-safe (one Measure at a time), as the
// KernelBackend interface says.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "profiler/cpu/cpu_thread_pool.h"
#include "profiler/cpu/cpu_timing.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

class CpuBackend final : public KernelBackend {
 public:
  // Precondition: threads >= 1 (MakeCpuBackend resolves 0 and rejects negatives).
  explicit CpuBackend(int threads);

  const DeviceInfo& device() const override { return device_; }
  // fp32 GEMM, fp32 attention (context and paged decode) and d2d copies whose buffers fit
  // under memory_cap_bytes(); every other shape is refused with the reason.
  bool Supports(const perf::OpShape& shape, std::string* why) const override;
  // InvalidArgument for an invalid shape (perf::Validate), FailedPrecondition for an
  // unsupported one. Allocates the shape's buffers once per call, filled with fixed-seed data.
  StatusOr<perf::Timing> Measure(const perf::OpShape& shape,
                                 const MeasureOptions& options) override;
  // kLaunch: handing one empty task to a pool worker and waiting for it. kSync: a fork-join
  // barrier across every pool thread with no work.
  StatusOr<std::vector<HostOverheadSample>> MeasureHostOverhead(
      const MeasureOptions& options) override;

  // The most buffer memory one Measure may allocate: a quarter of physical memory.
  int64_t memory_cap_bytes() const { return memory_cap_bytes_; }

 private:
  DeviceInfo device_;
  std::unique_ptr<ThreadPool> pool_;
  CacheFlusher flusher_;
  int64_t memory_cap_bytes_ = 0;
};

// Bytes of physical memory (sysconf); 0 when unknown.
int64_t PhysicalMemoryBytes();
// The "model name" line of /proc/cpuinfo, or "unknown cpu".
std::string CpuModelName();

}  // namespace dynamo::profiler
