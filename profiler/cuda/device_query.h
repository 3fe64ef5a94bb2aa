#pragma once
// What the CUDA runtime says about the visible devices, as plain values for cuda_plan.h.

#include <cstdint>
#include <string>

#include "core/status.h"
#include "profiler/cuda/cuda_plan.h"

namespace dynamo::profiler::gpu {

struct DeviceProperties {
  std::string name;  // cudaDeviceProp::name, "NVIDIA H200"
  ComputeCapability cc;
  int sm_count = 0;
  int64_t max_smem_per_block_bytes = 0;
  int64_t l2_bytes = 0;
  int64_t memory_bytes = 0;
  int64_t sm_clock_mhz = 0;   // peak; 0 when the runtime does not report it
  int64_t mem_clock_mhz = 0;  // peak; 0 when the runtime does not report it
};

// cudaGetDeviceCount; FailedPrecondition naming the CUDA error and suggesting --backend cpu
// when it fails or finds no device.
StatusOr<int> VisibleDeviceCount();
StatusOr<DeviceProperties> QueryDevice(int device);
StatusOr<int64_t> FreeDeviceMemory(int device);
// The planner's view of `device` now (free memory included).
StatusOr<DeviceCaps> QueryDeviceCaps(int device);

}  // namespace dynamo::profiler::gpu
