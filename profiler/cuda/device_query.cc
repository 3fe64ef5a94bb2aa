#include "profiler/cuda/device_query.h"

#include <cuda_runtime_api.h>

#include "profiler/cuda/collective_op.h"
#include "profiler/cuda/cuda_status.h"
#include "profiler/cuda/device_buffer.h"

namespace dynamo::profiler::gpu {
namespace {

constexpr int64_t kKhzPerMhz = 1000;

int Attribute(cudaDeviceAttr attr, int device) {
  int value = 0;
  if (cudaDeviceGetAttribute(&value, attr, device) != cudaSuccess) {
    (void)cudaGetLastError();
    return 0;
  }
  return value;
}

}  // namespace

StatusOr<int> VisibleDeviceCount() {
  int count = 0;
  const cudaError_t err = cudaGetDeviceCount(&count);
  if (err != cudaSuccess) {
    (void)cudaGetLastError();
    return FailedPrecondition(std::string("no CUDA device visible (cudaGetDeviceCount: ") +
                              cudaGetErrorString(err) + " [" + cudaGetErrorName(err) +
                              "]); run on a machine with an NVIDIA GPU and driver, or use "
                              "--backend cpu");
  }
  if (count == 0) {
    return FailedPrecondition(
        "no CUDA device visible (cudaGetDeviceCount returned 0; check CUDA_VISIBLE_DEVICES); "
        "run on a machine with an NVIDIA GPU, or use --backend cpu");
  }
  return count;
}

StatusOr<DeviceProperties> QueryDevice(int device) {
  cudaDeviceProp prop{};
  RETURN_IF_ERROR(CudaCall(cudaGetDeviceProperties(&prop, device),
                           "cudaGetDeviceProperties(" + std::to_string(device) + ")"));
  DeviceProperties p;
  p.name = prop.name;
  p.cc = {prop.major, prop.minor};
  p.sm_count = prop.multiProcessorCount;
  p.max_smem_per_block_bytes = static_cast<int64_t>(prop.sharedMemPerBlockOptin);
  p.l2_bytes = prop.l2CacheSize;
  p.memory_bytes = static_cast<int64_t>(prop.totalGlobalMem);
  p.sm_clock_mhz = Attribute(cudaDevAttrClockRate, device) / kKhzPerMhz;
  p.mem_clock_mhz = Attribute(cudaDevAttrMemoryClockRate, device) / kKhzPerMhz;
  return p;
}

StatusOr<int64_t> FreeDeviceMemory(int device) {
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  size_t free_bytes = 0;
  size_t total_bytes = 0;
  RETURN_IF_ERROR(CudaCall(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo"));
  return static_cast<int64_t>(free_bytes);
}

StatusOr<DeviceCaps> QueryDeviceCaps(int device) {
  ASSIGN_OR_RETURN(const int count, VisibleDeviceCount());
  ASSIGN_OR_RETURN(const DeviceProperties p, QueryDevice(device));
  ASSIGN_OR_RETURN(const int64_t free_bytes, FreeDeviceMemory(device));
  DeviceCaps caps;
  caps.cc = p.cc;
  caps.device_count = count;
  caps.sm_count = p.sm_count;
  caps.max_smem_per_block_bytes = p.max_smem_per_block_bytes;
  caps.l2_bytes = p.l2_bytes;
  caps.free_memory_bytes = free_bytes;
  caps.nccl_available = CollectivesAvailable();
  return caps;
}

}  // namespace dynamo::profiler::gpu
