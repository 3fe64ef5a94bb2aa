#pragma once
// Host entry points of the attention kernels in attention_kernels.cu. The geometry comes from
// cuda_plan.h; the launchers only check that it matches what the kernels were compiled for and
// return the CUDA error of the launch (cudaErrorInvalidValue for a geometry they do not have).
//
// Layouts (row-major, bf16 unless noted):
//   context: q, o [batch][q_len][heads][head_dim]; k, v [batch][kv_len][kv_heads][head_dim]
//   decode:  q, o [batch][heads][head_dim];
//            k_cache, v_cache [num_pages][page_tokens][kv_heads][head_dim] (bf16 or fp8 e4m3);
//            block_table int32 [batch][blocks_per_seq];
//            partial_o fp32 [batch][heads][splits][head_dim], partial_ml fp32 [..][splits][2]

#include <cuda_runtime_api.h>

#include <cstdint>

#include "profiler/cuda/kernel_params.h"

namespace dynamo::profiler::gpu {

struct ContextAttnArgs {
  const void* q = nullptr;
  const void* k = nullptr;
  const void* v = nullptr;
  void* o = nullptr;
  int64_t batch = 0, q_len = 0, kv_len = 0, heads = 0, kv_heads = 0;
  float softmax_scale = 0;  // usually 1 / sqrt(head_dim)
};

enum class KvElem { kBf16, kFp8E4m3 };

struct DecodeAttnArgs {
  const void* q = nullptr;
  const void* k_cache = nullptr;
  const void* v_cache = nullptr;
  const int32_t* block_table = nullptr;
  float* partial_o = nullptr;   // only read when splits > 1
  float* partial_ml = nullptr;  // only read when splits > 1
  void* o = nullptr;
  int64_t batch = 0, kv_len = 0, heads = 0, kv_heads = 0;
  KvElem kv_elem = KvElem::kBf16;
  float softmax_scale = 0;
};

// Raises the kernel's dynamic shared-memory limit on the current device; once per geometry
// and device before LaunchContextAttention.
cudaError_t ConfigureContextAttention(const ContextAttnGeometry& g);
cudaError_t LaunchContextAttention(const ContextAttnGeometry& g, const ContextAttnArgs& a,
                                   cudaStream_t stream);
// One launch of the split kernel, plus the combine kernel when g.splits > 1.
cudaError_t LaunchDecodeAttention(const DecodeGeometry& g, const DecodeAttnArgs& a,
                                  cudaStream_t stream);

}  // namespace dynamo::profiler::gpu
