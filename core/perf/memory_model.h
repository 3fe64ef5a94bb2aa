#pragma once
// Memory model of one worker GPU: weights, activation reserve, runtime reserve and the KV cache
// that fits in the rest of the gpu_memory_utilization budget (vLLM's semantics: the fraction
// of the whole GPU the engine may use), in blocks of block_size tokens.

#include <cstdint>

#include "core/hardware/gpu_spec.h"
#include "core/model/model_spec.h"
#include "core/status.h"

namespace dynamo::perf {

struct MemoryConfig {
  Parallelism parallelism;
  DType weight_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  double gpu_memory_utilization = 0.9;
  int64_t block_size = 16;
  int64_t max_num_batched_tokens = 8192;  // sizes the activation reserve
  int64_t max_num_seqs = 256;             // sizes the logits and sliding-window reserves
};

struct MemoryPlan {  // bytes per GPU (the most loaded GPU of the worker)
  int64_t gpu_bytes = 0;
  int64_t budget_bytes = 0;  // gpu_bytes x gpu_memory_utilization
  int64_t weight_bytes = 0;
  int64_t activation_bytes = 0;      // peak of one forward over max_num_batched_tokens + logits
  int64_t runtime_bytes = 0;         // CUDA context, library workspaces, NCCL buffers, CUDA graphs
  int64_t sliding_window_bytes = 0;  // bounded KV of sliding-window layers for max_num_seqs
  int64_t kv_bytes = 0;
  int64_t kv_bytes_per_block = 0;
  int64_t kv_blocks = 0;
  int64_t block_size = 0;
  int64_t kv_tokens() const { return kv_blocks * block_size; }
};

// FailedPrecondition when the weights and reserves leave no room for KV blocks, with the
// figures and a fix ("use tp >= 4 or fp8 weights").
StatusOr<MemoryPlan> PlanMemory(const ModelSpec& model, const GpuSpec& gpu,
                                const MemoryConfig& config);

}  // namespace dynamo::perf
