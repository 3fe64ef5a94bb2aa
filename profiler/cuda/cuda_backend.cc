#include "profiler/cuda/cuda_backend.h"

#include <cuda_runtime_api.h>

#include <algorithm>
#include <chrono>
#include <utility>
#include <variant>

#include "core/hardware/gpu_spec.h"
#include "core/rng.h"
#include "profiler/cuda/attention_ops.h"
#include "profiler/cuda/copy_op.h"
#include "profiler/cuda/cuda_status.h"
#include "profiler/cuda/fill_kernels.h"
#include "profiler/cuda/gemm_op.h"
#include "profiler/timing_stats.h"

namespace dynamo::profiler::gpu {
namespace {

// Host-overhead probes: calls averaged into one sample.
constexpr int kCallsPerOverheadSample = 100;
constexpr int kOverheadWarmupCalls = 10;

Status SyncAll(const std::vector<DeviceStream>& streams) {
  for (const DeviceStream& s : streams) {
    RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize"));
  }
  return Status::Ok();
}

double MicrosSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
      .count();
}

// Inputs differ per shape but not per run: the seed is a hash of the shape's description.
uint64_t SeedFor(const perf::OpShape& shape) { return HashName(perf::Describe(shape)); }

}  // namespace

StatusOr<std::unique_ptr<CudaBackend>> CudaBackend::Create(const BackendOptions& options) {
  ASSIGN_OR_RETURN(const int count, VisibleDeviceCount());
  if (options.device_index < 0 || options.device_index >= count) {
    return InvalidArgument("device index " + std::to_string(options.device_index) +
                           " is out of range: " + std::to_string(count) +
                           " CUDA device(s) visible; use 0.." + std::to_string(count - 1));
  }
  std::unique_ptr<CudaBackend> b(new CudaBackend());
  b->device_ = options.device_index;
  ASSIGN_OR_RETURN(b->props_, QueryDevice(b->device_));
  RETURN_IF_ERROR(CudaCall(cudaSetDevice(b->device_), "cudaSetDevice"));
  RETURN_IF_ERROR(CudaCall(cudaFree(nullptr), "cudaFree(nullptr) (context creation)"));
  ASSIGN_OR_RETURN(b->caps_, QueryDeviceCaps(b->device_));
  b->streams_.resize(static_cast<size_t>(count));
  b->flush_.resize(static_cast<size_t>(count));
  b->nccl_ = std::make_unique<NcclComms>();
  RETURN_IF_ERROR(CublasCall(cublasLtCreate(&b->lt_), "cublasLtCreate"));

  const Status cupti = CuptiActivity::Initialize();
  if (cupti.ok()) {
    b->timer_ = TimerKind::kCupti;
  } else {
    b->timer_ = TimerKind::kEvents;
    b->timer_fallback_reason_ = cupti.message();
  }

  DeviceInfo& info = b->info_;
  info.kind = "cuda";
  info.name = "cuda:" + b->props_.name + ":" + std::to_string(b->device_);
  info.catalog_gpu = CatalogGpuForDeviceName(b->props_.name);
  int driver = 0;
  int runtime = 0;
  if (cudaDriverGetVersion(&driver) == cudaSuccess) info.driver_version = FormatCudaVersion(driver);
  if (cudaRuntimeGetVersion(&runtime) == cudaSuccess) {
    info.cuda_version = FormatCudaVersion(runtime);
  }
  info.sm_clock_mhz = b->props_.sm_clock_mhz;
  info.mem_clock_mhz = b->props_.mem_clock_mhz;
  info.memory_bytes = b->props_.memory_bytes;
  info.sm_count = b->props_.sm_count;
  if (!info.catalog_gpu.empty()) {
    if (StatusOr<GpuSpec> spec = LoadGpu(info.catalog_gpu); spec.ok()) {
      if (auto f = spec->DenseFlops(DType::kBf16); f.ok()) info.peak_flops_bf16 = *f;
      if (auto f = spec->DenseFlops(DType::kFp32); f.ok()) info.peak_flops_fp32 = *f;
      info.memory_bandwidth_bytes_per_s = spec->hbm_bandwidth_bytes_per_s;
    }
  }
  b->UpdateLibraryVersions();
  return b;
}

CudaBackend::~CudaBackend() {
  if (lt_ != nullptr) (void)cublasLtDestroy(lt_);
}

void CudaBackend::UpdateLibraryVersions() {
  info_.library_versions = "cublasLt " +
                           FormatLibraryVersion(static_cast<int64_t>(cublasLtGetVersion())) +
                           "; nccl " + NcclVersion() + "; cupti " + CuptiActivity::Version() +
                           "; timer=" + std::string(TimerKindName(timer_));
}

void CudaBackend::UseEvents(const std::string& reason) {
  timer_ = TimerKind::kEvents;
  timer_fallback_reason_ = reason;
  UpdateLibraryVersions();
}

Status CudaBackend::Check(const perf::OpShape& shape) const {
  DeviceCaps caps = caps_;
  ASSIGN_OR_RETURN(caps.free_memory_bytes, FreeDeviceMemory(device_));
  return CheckSupported(shape, caps);
}

bool CudaBackend::Supports(const perf::OpShape& shape, std::string* why) const {
  const Status s = Check(shape);
  if (!s.ok() && why != nullptr) *why = s.message();
  return s.ok();
}

StatusOr<DeviceStream> CudaBackend::StreamFor(int device) {
  Stream& s = streams_[static_cast<size_t>(device)];
  if (s.get() == nullptr) {
    ASSIGN_OR_RETURN(s, Stream::Create(device));
  }
  return DeviceStream{device, s.get()};
}

Status CudaBackend::FlushCaches(const std::vector<DeviceStream>& streams, int rep) {
  for (const DeviceStream& s : streams) {
    DeviceBuffer& buf = flush_[static_cast<size_t>(s.device)];
    if (buf.data() == nullptr) {
      ASSIGN_OR_RETURN(buf, DeviceBuffer::Allocate(s.device, FlushBufferBytes(caps_.l2_bytes)));
    }
    ScopedDevice scoped(s.device);
    RETURN_IF_ERROR(scoped.status());
    // A different byte each time, so that no level of the memory system can skip the write.
    RETURN_IF_ERROR(CudaCall(
        cudaMemsetAsync(buf.data(), rep & 0xff, static_cast<size_t>(buf.bytes()), s.stream),
        "cudaMemsetAsync(cache flush)"));
  }
  return Status::Ok();
}

template <typename Op>
StatusOr<std::vector<double>> CudaBackend::TimeRepetitions(Op& op,
                                                           const std::vector<DeviceStream>& streams,
                                                           int repetitions, bool flush,
                                                           TimerKind kind, bool* saw_no_records) {
  RepetitionTimer timer(kind, streams);
  RETURN_IF_ERROR(timer.Begin(repetitions));
  for (int rep = 0; rep < repetitions; ++rep) {
    if (flush) RETURN_IF_ERROR(FlushCaches(streams, rep));
    RETURN_IF_ERROR(timer.BeginRepetition(rep));
    const Status enqueued = op.Enqueue();
    const Status ended = timer.EndRepetition(rep);
    RETURN_IF_ERROR(enqueued);
    RETURN_IF_ERROR(ended);
  }
  StatusOr<std::vector<double>> samples = timer.Finish();
  if (saw_no_records != nullptr) *saw_no_records = timer.saw_no_records();
  return samples;
}

template <typename Op>
StatusOr<perf::Timing> CudaBackend::TimeOp(Op& op, const MeasureOptions& options) {
  const std::vector<DeviceStream> streams = op.streams();
  for (int i = 0; i < std::max(options.warmup, 1); ++i) RETURN_IF_ERROR(op.Enqueue());
  RETURN_IF_ERROR(SyncAll(streams));
  // One call timed with events sizes the number of repetitions.
  ASSIGN_OR_RETURN(
      const std::vector<double> estimate,
      TimeRepetitions(op, streams, 1, options.flush_cache, TimerKind::kEvents, nullptr));
  const int repetitions = PlanRepetitions(options, estimate.front());
  bool saw_no_records = false;
  StatusOr<std::vector<double>> samples =
      TimeRepetitions(op, streams, repetitions, options.flush_cache, timer_, &saw_no_records);
  if (!samples.ok() && timer_ == TimerKind::kCupti) {
    const Status cupti_error = samples.status();
    samples =
        TimeRepetitions(op, streams, repetitions, options.flush_cache, TimerKind::kEvents, nullptr);
    // CUPTI that delivers nothing at all does not trace this device: stop asking it.
    if (samples.ok() && saw_no_records) UseEvents(cupti_error.message());
  }
  if (!samples.ok()) return samples.status();
  return SummarizeSamples(std::move(samples).value());
}

StatusOr<perf::Timing> CudaBackend::Measure(const perf::OpShape& shape,
                                            const MeasureOptions& options) {
  if (Status s = Check(shape); !s.ok()) return s;
  ScopedDevice scoped(device_);
  RETURN_IF_ERROR(scoped.status());
  ASSIGN_OR_RETURN(const DeviceStream stream, StreamFor(device_));
  const uint64_t seed = SeedFor(shape);
  StatusOr<perf::Timing> timing = Internal("unreachable");
  if (const auto* g = std::get_if<perf::GemmShape>(&shape)) {
    ASSIGN_OR_RETURN(auto op, GemmOp::Create(*g, lt_, stream, seed));
    timing = TimeOp(*op, options);
  } else if (const auto* a = std::get_if<perf::AttnContextShape>(&shape)) {
    ASSIGN_OR_RETURN(const ContextAttnGeometry geometry, PlanContextAttention(*a, caps_));
    ASSIGN_OR_RETURN(auto op, ContextAttnOp::Create(*a, geometry, stream, seed));
    timing = TimeOp(*op, options);
  } else if (const auto* d = std::get_if<perf::AttnDecodeShape>(&shape)) {
    ASSIGN_OR_RETURN(const DecodeGeometry geometry, PlanDecodeAttention(*d, caps_));
    ASSIGN_OR_RETURN(auto op, DecodeAttnOp::Create(*d, geometry, stream, seed));
    timing = TimeOp(*op, options);
  } else if (const auto* c = std::get_if<perf::CollectiveShape>(&shape)) {
    ASSIGN_OR_RETURN(const CollectiveCounts counts, PlanCollective(*c, caps_));
    std::vector<DeviceStream> streams;
    for (int i = 0; i < static_cast<int>(c->gpus); ++i) {
      ASSIGN_OR_RETURN(const DeviceStream s, StreamFor(i));
      streams.push_back(s);
    }
    ASSIGN_OR_RETURN(auto op, CollectiveOp::Create(*c, counts, *nccl_, streams, seed));
    timing = TimeOp(*op, options);
  } else if (const auto* t = std::get_if<perf::TransferShape>(&shape)) {
    const int peer = caps_.device_count > 1 ? (device_ + 1) % caps_.device_count : -1;
    ASSIGN_OR_RETURN(auto op, CopyOp::Create(*t, stream, peer));
    timing = TimeOp(*op, options);
  } else {
    return Status(StatusCode::kUnimplemented,
                  perf::Describe(shape) + ": not supported by the CUDA backend");
  }
  if (!timing.ok()) return timing.status().WithContext(perf::Describe(shape));
  return timing;
}

StatusOr<std::vector<HostOverheadSample>> CudaBackend::MeasureHostOverhead(
    const MeasureOptions& options) {
  ScopedDevice scoped(device_);
  RETURN_IF_ERROR(scoped.status());
  ASSIGN_OR_RETURN(const DeviceStream stream, StreamFor(device_));
  const int samples = std::max(options.repetitions, kMinRepetitions);
  for (int i = 0; i < kOverheadWarmupCalls; ++i) {
    RETURN_IF_ERROR(CudaCall(LaunchEmptyKernel(stream.stream), "LaunchEmptyKernel"));
  }
  RETURN_IF_ERROR(SyncAll({stream}));

  std::vector<double> launch_us;
  for (int s = 0; s < samples; ++s) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCallsPerOverheadSample; ++i) {
      RETURN_IF_ERROR(CudaCall(LaunchEmptyKernel(stream.stream), "LaunchEmptyKernel"));
    }
    launch_us.push_back(MicrosSince(start) / kCallsPerOverheadSample);
    RETURN_IF_ERROR(SyncAll({stream}));  // outside the timed loop: the queue starts empty
  }

  std::vector<double> sync_us;
  for (int s = 0; s < samples; ++s) {
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kCallsPerOverheadSample; ++i) {
      RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(stream.stream), "cudaStreamSynchronize"));
    }
    sync_us.push_back(MicrosSince(start) / kCallsPerOverheadSample);
  }
  return std::vector<HostOverheadSample>{
      {perf::HostOverheadKind::kLaunch, SummarizeSamples(std::move(launch_us))},
      {perf::HostOverheadKind::kSync, SummarizeSamples(std::move(sync_us))},
  };
}

}  // namespace dynamo::profiler::gpu

namespace dynamo::profiler {

StatusOr<std::unique_ptr<KernelBackend>> MakeCudaBackend(const BackendOptions& options) {
  ASSIGN_OR_RETURN(std::unique_ptr<gpu::CudaBackend> backend, gpu::CudaBackend::Create(options));
  return std::unique_ptr<KernelBackend>(std::move(backend));
}

}  // namespace dynamo::profiler
