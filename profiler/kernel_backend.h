#pragma once
// KernelBackend: the I/O seam between the profiler's driver (grid, resume, database, progress)
// and a device that runs kernels. Implementations: CpuBackend (Eigen, steady clock) and
// CudaBackend (cuBLASLt, own attention kernels, NCCL, CUPTI). Not thread-safe: the driver
// measures one shape at a time.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/perf/perf_db.h"
#include "core/status.h"

namespace dynamo::profiler {

// What the database records about the measured device (devices table); defined in core.
using DeviceInfo = perf::DeviceInfo;

struct MeasureOptions {
  int warmup = 3;
  int repetitions = 10;
  // Stop repeating once this much kernel time was measured (after at least 3 repetitions).
  double max_total_us = 2e6;
  bool flush_cache = true;  // overwrite a buffer larger than the last-level cache between reps
};

struct HostOverheadSample {
  perf::HostOverheadKind kind;
  perf::Timing timing;
};

class KernelBackend {
 public:
  virtual ~KernelBackend() = default;
  virtual const DeviceInfo& device() const = 0;
  // False (with the reason) for shapes this backend cannot run: a dtype without kernels here,
  // fp8 below sm_89, collectives on one GPU, a shape that does not fit in memory.
  virtual bool Supports(const perf::OpShape& shape, std::string* why) const = 0;
  // Runs the shape's kernel(s) warmup + repetitions times and returns the distribution of
  // per-call latencies. Precondition: Supports(shape).
  virtual StatusOr<perf::Timing> Measure(const perf::OpShape& shape,
                                         const MeasureOptions& options) = 0;
  // Launch and synchronization costs (kLaunch, kSync at least).
  virtual StatusOr<std::vector<HostOverheadSample>> MeasureHostOverhead(
      const MeasureOptions& options) = 0;
};

struct BackendOptions {
  int threads = 0;       // CPU: kernel threads (0: every hardware thread)
  int device_index = 0;  // CUDA: the device to measure
};

// profiler/cpu/cpu_backend.cc. Always available.
StatusOr<std::unique_ptr<KernelBackend>> MakeCpuBackend(const BackendOptions& options);
// profiler/cuda/cuda_backend.cc when the build has CUDA (DYNAMO_CUDA_ENABLED); otherwise
// profiler/backend_factory.cc answers FailedPrecondition naming the CMake option. Fails with a
// clear message when no CUDA device is present.
StatusOr<std::unique_ptr<KernelBackend>> MakeCudaBackend(const BackendOptions& options);

}  // namespace dynamo::profiler
