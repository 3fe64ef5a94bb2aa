#pragma once
// CudaBackend: KernelBackend on one CUDA device. GEMMs through cuBLASLt, attention through the
// own kernels of attention_kernels.cu, collectives through NCCL over devices 0..gpus-1, copies
// through cudaMemcpyAsync. Per-repetition GPU time from CUPTI activity records (CUDA events
// when CUPTI cannot be enabled), an L2 flush between repetitions outside the timed region.
// Decisions live in cuda_plan.h; this class wires them to the runtime. Not thread-safe.

#include <cublasLt.h>

#include <memory>
#include <string>
#include <vector>

#include "profiler/cuda/collective_op.h"
#include "profiler/cuda/cuda_plan.h"
#include "profiler/cuda/cupti_timer.h"
#include "profiler/cuda/device_buffer.h"
#include "profiler/cuda/device_query.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler::gpu {

class CudaBackend final : public KernelBackend {
 public:
  // FailedPrecondition when no CUDA device is visible (the message suggests --backend cpu);
  // InvalidArgument when options.device_index is out of range.
  static StatusOr<std::unique_ptr<CudaBackend>> Create(const BackendOptions& options);
  ~CudaBackend() override;

  const DeviceInfo& device() const override { return info_; }
  bool Supports(const perf::OpShape& shape, std::string* why) const override;
  StatusOr<perf::Timing> Measure(const perf::OpShape& shape,
                                 const MeasureOptions& options) override;
  StatusOr<std::vector<HostOverheadSample>> MeasureHostOverhead(
      const MeasureOptions& options) override;

  // Which timer the next measurement uses, and why CUPTI is not used ("" when it is).
  TimerKind timer() const { return timer_; }
  const std::string& timer_fallback_reason() const { return timer_fallback_reason_; }

 private:
  CudaBackend() = default;

  Status Check(const perf::OpShape& shape) const;
  StatusOr<DeviceStream> StreamFor(int device);
  Status FlushCaches(const std::vector<DeviceStream>& streams, int rep);
  void UseEvents(const std::string& reason);
  void UpdateLibraryVersions();

  template <typename Op>
  StatusOr<perf::Timing> TimeOp(Op& op, const MeasureOptions& options);
  template <typename Op>
  StatusOr<std::vector<double>> TimeRepetitions(Op& op, const std::vector<DeviceStream>& streams,
                                                int repetitions, bool flush, TimerKind kind,
                                                bool* saw_no_records);

  int device_ = 0;
  DeviceProperties props_;
  DeviceCaps caps_;  // free_memory_bytes is refreshed per question
  DeviceInfo info_;
  TimerKind timer_ = TimerKind::kEvents;
  std::string timer_fallback_reason_;
  cublasLtHandle_t lt_ = nullptr;
  std::vector<Stream> streams_;      // [device], created on first use
  std::vector<DeviceBuffer> flush_;  // [device], created on first use
  std::unique_ptr<NcclComms> nccl_;
};

}  // namespace dynamo::profiler::gpu
