#pragma once
// Device-side helpers of the measurements: pseudo-random inputs (tensor cores draw less power
// on zeros, which would flatter the timings) and an empty kernel for launch-overhead probes.

#include <cuda_runtime_api.h>

#include <cstdint>

namespace dynamo::profiler::gpu {

enum class FillElem { kBf16, kFp16, kFp32, kFp8E4m3 };

// data[i] = uniform in [-amplitude, amplitude) from a hash of (seed, i); deterministic.
cudaError_t LaunchFillRandom(void* data, int64_t count, FillElem elem, uint64_t seed,
                             float amplitude, cudaStream_t stream);
// A kernel that does nothing (one block of 32 threads).
cudaError_t LaunchEmptyKernel(cudaStream_t stream);

}  // namespace dynamo::profiler::gpu
