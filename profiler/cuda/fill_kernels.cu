#include "profiler/cuda/fill_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp16.h>
#include <cuda_fp8.h>

#include <algorithm>

namespace dynamo::profiler::gpu {
namespace {

constexpr int kFillThreads = 256;
constexpr int64_t kMaxFillBlocks = 4096;

// splitmix64's finalizer: unrelated outputs for neighbouring indices.
__device__ __forceinline__ uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

template <typename T>
__device__ __forceinline__ T FromFloat(float f) {
  return static_cast<T>(f);
}
template <>
__device__ __forceinline__ __nv_bfloat16 FromFloat<__nv_bfloat16>(float f) {
  return __float2bfloat16(f);
}
template <>
__device__ __forceinline__ __half FromFloat<__half>(float f) {
  return __float2half(f);
}
template <>
__device__ __forceinline__ __nv_fp8_e4m3 FromFloat<__nv_fp8_e4m3>(float f) {
  return __nv_fp8_e4m3(f);
}

template <typename T>
__global__ void FillRandomKernel(T* data, int64_t count, uint64_t seed, float amplitude) {
  const int64_t stride = static_cast<int64_t>(gridDim.x) * blockDim.x;
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < count;
       i += stride) {
    const uint64_t bits = Mix(seed ^ Mix(static_cast<uint64_t>(i)));
    // 24 random bits -> [0, 1) -> [-amplitude, amplitude).
    const float u = static_cast<float>(bits >> 40) * (1.0f / 16777216.0f);
    data[i] = FromFloat<T>((2.f * u - 1.f) * amplitude);
  }
}

__global__ void EmptyKernel() {}

template <typename T>
cudaError_t Fill(void* data, int64_t count, uint64_t seed, float amplitude, cudaStream_t stream) {
  if (count <= 0) return cudaSuccess;
  const int64_t blocks =
      std::min<int64_t>((count + kFillThreads - 1) / kFillThreads, kMaxFillBlocks);
  FillRandomKernel<T><<<static_cast<unsigned>(blocks), kFillThreads, 0, stream>>>(
      static_cast<T*>(data), count, seed, amplitude);
  return cudaGetLastError();
}

}  // namespace

cudaError_t LaunchFillRandom(void* data, int64_t count, FillElem elem, uint64_t seed,
                             float amplitude, cudaStream_t stream) {
  switch (elem) {
    case FillElem::kBf16:
      return Fill<__nv_bfloat16>(data, count, seed, amplitude, stream);
    case FillElem::kFp16:
      return Fill<__half>(data, count, seed, amplitude, stream);
    case FillElem::kFp32:
      return Fill<float>(data, count, seed, amplitude, stream);
    case FillElem::kFp8E4m3:
      return Fill<__nv_fp8_e4m3>(data, count, seed, amplitude, stream);
  }
  return cudaErrorInvalidValue;
}

cudaError_t LaunchEmptyKernel(cudaStream_t stream) {
  EmptyKernel<<<1, 32, 0, stream>>>();
  return cudaGetLastError();
}

}  // namespace dynamo::profiler::gpu
