#pragma once
// The CPU backend's fp32 kernels: Eigen GEMM split over a ThreadPool, flash-attention style
// context attention, paged decode attention, and a host memory copy. All arrays are row-major
// and dense unless a stride is stated; the shape of every argument is given as
// `// [dim][dim]...` next to it. Sizes are checked with DYNAMO_CHECK: callers validate user
// input (perf::Validate) before calling.
//
// Each function is blocking and uses the pool for its whole duration; arguments need only
// live for the call.

#include <cstdint>
#include <span>

#include "profiler/cpu/cpu_thread_pool.h"

namespace dynamo::profiler {

// C[m][n] = A[m][k] x B[k][n]. The output is split into row blocks (or column blocks when
// n > m, e.g. decode with m = 1) and each pool thread runs Eigen's single-threaded product on
// its block.
void Gemm(ThreadPool& pool, int64_t m, int64_t n, int64_t k,
          std::span<const float> a,  // [m][k]
          std::span<const float> b,  // [k][n]
          std::span<float> c);       // [m][n]

// Context (prefill) attention. Each of `batch` sequences has q_len new queries and kv_len keys;
// the first kv_len - q_len keys are a cached prefix, so query i (absolute position
// prefix + i) attends to keys 0 .. prefix + i. Query head h reads KV head
// h / (heads / kv_heads) (grouped-query attention). Scores are scaled by 1/sqrt(head_dim).
struct ContextAttentionDims {
  int64_t batch = 1, q_len = 1, kv_len = 1;
  int64_t heads = 1, kv_heads = 1, head_dim = 1;
};

// Query rows and key columns are processed in tiles of this size with an online softmax
// (running max and running sum per row), so scratch memory is O(tile^2 + tile * head_dim)
// per thread whatever q_len and kv_len are.
inline constexpr int64_t kContextQueryTile = 64;
inline constexpr int64_t kContextKeyTile = 64;

// Parallel over (sequence, head, query tile), latest (most expensive) tiles first.
// Preconditions: positive sizes, q_len <= kv_len, heads % kv_heads == 0, spans sized exactly.
void ContextAttention(ThreadPool& pool, const ContextAttentionDims& dims,
                      std::span<const float> q,  // [batch][q_len][heads][head_dim]
                      std::span<const float> k,  // [batch][kv_len][kv_heads][head_dim]
                      std::span<const float> v,  // [batch][kv_len][kv_heads][head_dim]
                      std::span<float> out);     // [batch][q_len][heads][head_dim]

// Decode attention over a paged KV cache: one query token per sequence attending to all
// kv_lens[b] keys of its sequence. Token t of sequence b lives in pool block
// block_table[b][t / block_size] at row t % block_size.
struct DecodeAttentionDims {
  int64_t batch = 1;
  int64_t heads = 1, kv_heads = 1, head_dim = 1;
  int64_t block_size = 16;         // tokens per KV block
  int64_t num_blocks = 1;          // blocks in the pool
  int64_t max_blocks_per_seq = 1;  // row length of the block table
};
inline constexpr int64_t kDefaultKvBlockSize = 16;

// Parallel over (sequence, KV head); each task serves the heads / kv_heads query heads that
// share the KV head, so every K/V row is read once per sequence.
// Preconditions: 1 <= kv_lens[b] <= max_blocks_per_seq * block_size, every table entry the
// sequence uses is in [0, num_blocks).
void PagedDecodeAttention(
    ThreadPool& pool, const DecodeAttentionDims& dims,
    std::span<const float> q,              // [batch][heads][head_dim]
    std::span<const float> k_pool,         // [num_blocks][block_size][kv_heads][head_dim]
    std::span<const float> v_pool,         // [num_blocks][block_size][kv_heads][head_dim]
    std::span<const int32_t> block_table,  // [batch][max_blocks_per_seq]
    std::span<const int64_t> kv_lens,      // [batch]
    std::span<float> out);                 // [batch][heads][head_dim]

// Host memory copy (the CPU's d2d): memcpy in chunks spread over the pool.
// Precondition: src.size() == dst.size(), no overlap.
void CopyBytes(ThreadPool& pool, std::span<const std::byte> src, std::span<std::byte> dst);

// Fills `x` with finite pseudo-random values uniform in [-scale, scale), a pure function of
// (seed, index): the same on every machine and for every thread count. Parallel over chunks.
void FillRandom(ThreadPool& pool, uint64_t seed, float scale, std::span<float> x);

}  // namespace dynamo::profiler
