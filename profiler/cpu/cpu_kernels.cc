#include "profiler/cpu/cpu_kernels.h"

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>

#include "core/check.h"
#include "core/rng.h"

namespace dynamo::profiler {
namespace {

using RowMajorMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
// Row-major views with an explicit row stride (elements between consecutive rows).
using ConstMatrixView = Eigen::Map<const RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;
using MatrixView = Eigen::Map<RowMajorMatrix, Eigen::Unaligned, Eigen::OuterStride<>>;

ConstMatrixView View(const float* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return ConstMatrixView(data, rows, cols, Eigen::OuterStride<>(row_stride));
}
MatrixView MutableView(float* data, int64_t rows, int64_t cols, int64_t row_stride) {
  return MatrixView(data, rows, cols, Eigen::OuterStride<>(row_stride));
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

// Below this many multiply-adds a GEMM runs on the calling thread: waking the pool costs
// more than it saves.
constexpr int64_t kMinParallelGemmMacs = int64_t{1} << 18;
// Blocks are multiples of these (Eigen's register blocking works in such units), and no block
// is smaller than one unit.
constexpr int64_t kGemmRowUnit = 8;
constexpr int64_t kGemmColUnit = 16;

constexpr float kNegInf = -std::numeric_limits<float>::infinity();

// Online-softmax state of a block of query rows: running max m, running sum l and the
// unnormalized output accumulator.
struct SoftmaxState {
  Eigen::VectorXf max;  // [rows]
  Eigen::VectorXf sum;  // [rows]
  RowMajorMatrix acc;   // [rows][head_dim]

  SoftmaxState(int64_t rows, int64_t head_dim)
      : max(Eigen::VectorXf::Constant(rows, kNegInf)),
        sum(Eigen::VectorXf::Zero(rows)),
        acc(RowMajorMatrix::Zero(rows, head_dim)) {}

  // Folds in scores[r][0 .. visible) of row r (already scaled); columns at and after
  // `visible` are masked. Overwrites those scores with their probabilities (0 when masked)
  // and rescales acc's row; the caller then adds probabilities x V to acc.
  void FoldRow(int64_t r, Eigen::Ref<Eigen::RowVectorXf> scores, int64_t visible) {
    if (visible <= 0) {
      scores.setZero();
      return;
    }
    auto seen = scores.head(visible).array();
    const float new_max = std::max(max[r], seen.maxCoeff());
    // max[r] is -inf before the first visible key: exp(-inf) = 0 drops the empty state.
    const float alpha = std::exp(max[r] - new_max);
    seen = (seen - new_max).exp();
    scores.tail(scores.size() - visible).setZero();
    sum[r] = sum[r] * alpha + seen.sum();
    max[r] = new_max;
    acc.row(r) *= alpha;
  }
};

// One (sequence, head, query tile) task of ContextAttention.
void ContextAttentionTile(const ContextAttentionDims& d, int64_t b, int64_t h, int64_t tile,
                          const float* q, const float* k, const float* v, float* out) {
  const int64_t prefix = d.kv_len - d.q_len;
  const int64_t kvh = h / (d.heads / d.kv_heads);
  const int64_t i0 = tile * kContextQueryTile;
  const int64_t rows = std::min(kContextQueryTile, d.q_len - i0);
  const int64_t q_stride = d.heads * d.head_dim;
  const int64_t kv_stride = d.kv_heads * d.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));

  // [rows][head_dim], scaled once so the scores need no further multiply.
  const RowMajorMatrix q_tile =
      View(q + ((b * d.q_len + i0) * d.heads + h) * d.head_dim, rows, d.head_dim, q_stride) * scale;
  SoftmaxState state(rows, d.head_dim);
  RowMajorMatrix scores(rows, kContextKeyTile);  // [rows][key tile]
  // Causal: the tile's last query (position prefix + i0 + rows - 1) sees the most keys.
  const int64_t key_end = prefix + i0 + rows;
  for (int64_t j0 = 0; j0 < key_end; j0 += kContextKeyTile) {
    const int64_t cols = std::min(kContextKeyTile, key_end - j0);
    const float* k_tile = k + ((b * d.kv_len + j0) * d.kv_heads + kvh) * d.head_dim;
    const float* v_tile = v + ((b * d.kv_len + j0) * d.kv_heads + kvh) * d.head_dim;
    auto s = scores.leftCols(cols);
    s.noalias() = q_tile * View(k_tile, cols, d.head_dim, kv_stride).transpose();
    for (int64_t r = 0; r < rows; ++r) {
      // Query r (position prefix + i0 + r) sees keys j0 .. prefix + i0 + r of this tile.
      const int64_t visible = std::min(cols, prefix + i0 + r - j0 + 1);
      state.FoldRow(r, s.row(r), visible);
    }
    state.acc.noalias() += s * View(v_tile, cols, d.head_dim, kv_stride);
  }
  MatrixView o = MutableView(out + ((b * d.q_len + i0) * d.heads + h) * d.head_dim, rows,
                             d.head_dim, q_stride);
  // Every query sees at least key 0, so sum > 0.
  o = state.sum.cwiseInverse().asDiagonal() * state.acc;
}

// One (sequence, KV head) task of PagedDecodeAttention: the group of query heads that share
// KV head `kvh`, which are adjacent in q ([heads][head_dim] per sequence).
void DecodeAttentionTask(const DecodeAttentionDims& d, int64_t b, int64_t kvh, const float* q,
                         const float* k_pool, const float* v_pool, const int32_t* block_table,
                         int64_t kv_len, float* out) {
  const int64_t group = d.heads / d.kv_heads;
  const int64_t kv_stride = d.kv_heads * d.head_dim;
  const float scale = 1.0f / std::sqrt(static_cast<float>(d.head_dim));
  const int64_t first_head = kvh * group;
  // [group][head_dim]
  const RowMajorMatrix q_group =
      View(q + (b * d.heads + first_head) * d.head_dim, group, d.head_dim, d.head_dim) * scale;
  SoftmaxState state(group, d.head_dim);
  RowMajorMatrix scores(group, d.block_size);  // [group][block_size]
  const int64_t blocks = CeilDiv(kv_len, d.block_size);
  for (int64_t i = 0; i < blocks; ++i) {
    const int64_t block = block_table[b * d.max_blocks_per_seq + i];
    DYNAMO_CHECK(block >= 0 && block < d.num_blocks);
    const int64_t tokens = std::min(d.block_size, kv_len - i * d.block_size);
    const int64_t offset = (block * d.block_size * d.kv_heads + kvh) * d.head_dim;
    const ConstMatrixView k_block = View(k_pool + offset, tokens, d.head_dim, kv_stride);
    const ConstMatrixView v_block = View(v_pool + offset, tokens, d.head_dim, kv_stride);
    auto s = scores.leftCols(tokens);
    // Tiny products: Eigen's lazy (coefficient-wise, vectorized) product avoids the blocked
    // GEMM's packing overhead.
    s.noalias() = q_group.lazyProduct(k_block.transpose());
    for (int64_t g = 0; g < group; ++g) state.FoldRow(g, s.row(g), tokens);
    state.acc.noalias() += s.lazyProduct(v_block);
  }
  MatrixView o =
      MutableView(out + (b * d.heads + first_head) * d.head_dim, group, d.head_dim, d.head_dim);
  o = state.sum.cwiseInverse().asDiagonal() * state.acc;
}

}  // namespace

void Gemm(ThreadPool& pool, int64_t m, int64_t n, int64_t k, std::span<const float> a,
          std::span<const float> b, std::span<float> c) {
  DYNAMO_CHECK(m > 0 && n > 0 && k > 0);
  DYNAMO_CHECK(static_cast<int64_t>(a.size()) == m * k);
  DYNAMO_CHECK(static_cast<int64_t>(b.size()) == k * n);
  DYNAMO_CHECK(static_cast<int64_t>(c.size()) == m * n);
  const bool split_rows = m >= n;
  const int64_t extent = split_rows ? m : n;
  const int64_t unit = split_rows ? kGemmRowUnit : kGemmColUnit;
  int64_t blocks = std::min<int64_t>(pool.size(), CeilDiv(extent, unit));
  if (m * n * k < kMinParallelGemmMacs) blocks = 1;
  const int64_t block_extent = CeilDiv(CeilDiv(extent, blocks), unit) * unit;
  blocks = CeilDiv(extent, block_extent);
  pool.ParallelFor(blocks, [&](int64_t i) {
    const int64_t begin = i * block_extent;
    const int64_t size = std::min(block_extent, extent - begin);
    if (split_rows) {
      MutableView(c.data() + begin * n, size, n, n).noalias() =
          View(a.data() + begin * k, size, k, k) * View(b.data(), k, n, n);
    } else {
      MutableView(c.data() + begin, m, size, n).noalias() =
          View(a.data(), m, k, k) * View(b.data() + begin, k, size, n);
    }
  });
}

void ContextAttention(ThreadPool& pool, const ContextAttentionDims& dims, std::span<const float> q,
                      std::span<const float> k, std::span<const float> v, std::span<float> out) {
  const ContextAttentionDims& d = dims;
  DYNAMO_CHECK(d.batch > 0 && d.q_len > 0 && d.kv_len >= d.q_len);
  DYNAMO_CHECK(d.heads > 0 && d.kv_heads > 0 && d.head_dim > 0 && d.heads % d.kv_heads == 0);
  const int64_t q_elems = d.batch * d.q_len * d.heads * d.head_dim;
  const int64_t kv_elems = d.batch * d.kv_len * d.kv_heads * d.head_dim;
  DYNAMO_CHECK(static_cast<int64_t>(q.size()) == q_elems);
  DYNAMO_CHECK(static_cast<int64_t>(k.size()) == kv_elems);
  DYNAMO_CHECK(static_cast<int64_t>(v.size()) == kv_elems);
  DYNAMO_CHECK(static_cast<int64_t>(out.size()) == q_elems);
  const int64_t tiles = CeilDiv(d.q_len, kContextQueryTile);
  // Task index -> (tile, sequence, head) with the tile slowest and reversed: causal tiles near
  // the end of the chunk see the most keys, and dynamic scheduling balances best when the
  // longest tasks go first.
  pool.ParallelFor(tiles * d.batch * d.heads, [&](int64_t task) {
    const int64_t tile = tiles - 1 - task / (d.batch * d.heads);
    const int64_t rest = task % (d.batch * d.heads);
    ContextAttentionTile(d, rest / d.heads, rest % d.heads, tile, q.data(), k.data(), v.data(),
                         out.data());
  });
}

void PagedDecodeAttention(ThreadPool& pool, const DecodeAttentionDims& dims,
                          std::span<const float> q, std::span<const float> k_pool,
                          std::span<const float> v_pool, std::span<const int32_t> block_table,
                          std::span<const int64_t> kv_lens, std::span<float> out) {
  const DecodeAttentionDims& d = dims;
  DYNAMO_CHECK(d.batch > 0 && d.block_size > 0 && d.num_blocks > 0 && d.max_blocks_per_seq > 0);
  DYNAMO_CHECK(d.heads > 0 && d.kv_heads > 0 && d.head_dim > 0 && d.heads % d.kv_heads == 0);
  const int64_t q_elems = d.batch * d.heads * d.head_dim;
  const int64_t pool_elems = d.num_blocks * d.block_size * d.kv_heads * d.head_dim;
  DYNAMO_CHECK(static_cast<int64_t>(q.size()) == q_elems);
  DYNAMO_CHECK(static_cast<int64_t>(out.size()) == q_elems);
  DYNAMO_CHECK(static_cast<int64_t>(k_pool.size()) == pool_elems);
  DYNAMO_CHECK(static_cast<int64_t>(v_pool.size()) == pool_elems);
  DYNAMO_CHECK(static_cast<int64_t>(block_table.size()) == d.batch * d.max_blocks_per_seq);
  DYNAMO_CHECK(static_cast<int64_t>(kv_lens.size()) == d.batch);
  for (int64_t len : kv_lens) DYNAMO_CHECK(len >= 1 && len <= d.max_blocks_per_seq * d.block_size);
  pool.ParallelFor(d.batch * d.kv_heads, [&](int64_t task) {
    const int64_t b = task / d.kv_heads;
    DecodeAttentionTask(d, b, task % d.kv_heads, q.data(), k_pool.data(), v_pool.data(),
                        block_table.data(), kv_lens[b], out.data());
  });
}

void CopyBytes(ThreadPool& pool, std::span<const std::byte> src, std::span<std::byte> dst) {
  DYNAMO_CHECK(src.size() == dst.size());
  // Below ~1 MiB per thread one memcpy on the calling thread is faster than waking the pool.
  constexpr int64_t kMinChunkBytes = int64_t{1} << 20;
  const int64_t bytes = static_cast<int64_t>(src.size());
  const int64_t chunks = std::clamp<int64_t>(bytes / kMinChunkBytes, 1, pool.size());
  const int64_t chunk = CeilDiv(bytes, chunks);
  pool.ParallelFor(chunks, [&](int64_t i) {
    const int64_t begin = i * chunk;
    const int64_t size = std::min(chunk, bytes - begin);
    if (size > 0) std::memcpy(dst.data() + begin, src.data() + begin, static_cast<size_t>(size));
  });
}

void FillRandom(ThreadPool& pool, uint64_t seed, float scale, std::span<float> x) {
  constexpr int64_t kChunk = int64_t{1} << 16;
  const uint64_t key = Mix64(seed);
  const int64_t size = static_cast<int64_t>(x.size());
  pool.ParallelFor(CeilDiv(size, kChunk), [&](int64_t c) {
    const int64_t end = std::min(size, (c + 1) * kChunk);
    for (int64_t i = c * kChunk; i < end; ++i) {
      // 24 random bits -> uniform in [0, 1), exact in float.
      const float u = static_cast<float>(Mix64(key + static_cast<uint64_t>(i)) >> 40) *
                      (1.0f / static_cast<float>(1 << 24));
      x[static_cast<size_t>(i)] = (2.0f * u - 1.0f) * scale;
    }
  });
}

}  // namespace dynamo::profiler
