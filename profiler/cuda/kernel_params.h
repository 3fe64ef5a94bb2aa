#pragma once
// Plain launch descriptions shared by the host planner (cuda_plan.h, plain C++) and the CUDA
// kernels (attention_kernels.cu): the planner decides, the kernels obey. No CUDA types here.

#include <cstdint>

namespace dynamo::profiler::gpu {

// Byte offsets of the context-attention kernel's dynamic shared-memory regions. Every offset is
// a multiple of kSmemAlign (WMMA needs 32-byte aligned tiles). Leading dimensions are in
// elements and include padding that spreads rows over the shared-memory banks.
struct ContextSmemLayout {
  int64_t q = 0;        // bf16 [block_m][ld_qkv]
  int64_t k = 0;        // bf16 [block_n][ld_qkv]
  int64_t v = 0;        // bf16 [block_n][ld_qkv]
  int64_t s = 0;        // fp32 [block_m][ld_s]: scores of the current key tile
  int64_t p = 0;        // bf16 [block_m][ld_p]: probabilities of the current key tile
  int64_t o = 0;        // fp32 [block_m][ld_o]: unnormalized output accumulator
  int64_t row_max = 0;  // fp32 [block_m]: running max of log2-scaled scores
  int64_t row_sum = 0;  // fp32 [block_m]: running softmax denominator
  int64_t total = 0;    // bytes of dynamic shared memory per block
  int ld_qkv = 0, ld_s = 0, ld_p = 0, ld_o = 0;
};

inline constexpr int64_t kSmemAlign = 128;

// Causal flash-attention forward: one block per (query tile, head, sequence); each warp owns
// 16 query rows of the tile.
struct ContextAttnGeometry {
  int head_dim = 0;
  int block_m = 0;                             // query rows per block (a multiple of 16)
  int block_n = 0;                             // keys per tile (a multiple of 32)
  int threads = 0;                             // block_m / 16 warps
  int64_t grid_x = 0, grid_y = 0, grid_z = 0;  // query tiles, heads, batch
  ContextSmemLayout smem;
};

// Split-KV paged decode ("flash decoding"): block (split, head, sequence) reduces keys
// [split * keys_per_split, min(kv_len, (split + 1) * keys_per_split)); a combine kernel merges
// the splits when there is more than one.
struct DecodeGeometry {
  int head_dim = 0;
  int page_tokens = 0;  // tokens per KV-cache page
  int threads = 0;
  int splits = 1;
  int64_t keys_per_split = 0;                  // a multiple of page_tokens
  int64_t blocks_per_seq = 0;                  // pages per sequence: ceil(kv_len / page_tokens)
  int64_t num_pages = 0;                       // pages in the cache: batch * blocks_per_seq
  int64_t grid_x = 0, grid_y = 0, grid_z = 0;  // splits, heads, batch
  int64_t smem_bytes = 0;                      // static per block, for the record
};

}  // namespace dynamo::profiler::gpu
