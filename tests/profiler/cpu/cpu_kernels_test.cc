#include "profiler/cpu/cpu_kernels.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <vector>

#include "core/rng.h"

namespace dynamo::profiler {
namespace {

std::vector<float> Random(ThreadPool& pool, uint64_t seed, int64_t n, float scale = 1.0f) {
  std::vector<float> x(static_cast<size_t>(n));
  FillRandom(pool, seed, scale, x);
  return x;
}

void ExpectNear(const std::vector<float>& got, const std::vector<double>& want, double tol,
                const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], tol * (1.0 + std::fabs(want[i]))) << what << " at " << i;
  }
}

// ---- GEMM ----

std::vector<double> NaiveGemm(int64_t m, int64_t n, int64_t k, const std::vector<float>& a,
                              const std::vector<float>& b) {
  std::vector<double> c(static_cast<size_t>(m * n), 0.0);
  for (int64_t i = 0; i < m; ++i) {
    for (int64_t j = 0; j < n; ++j) {
      double s = 0;
      for (int64_t p = 0; p < k; ++p) s += double{a[i * k + p]} * double{b[p * n + j]};
      c[i * n + j] = s;
    }
  }
  return c;
}

TEST(CpuKernelsTest, GemmMatchesNaiveOnOddShapes) {
  for (int threads : {1, 2, 3}) {
    ThreadPool pool(threads);
    // Small shapes run inline; the larger ones are split by rows (m >= n) or columns (n > m).
    for (auto [m, n, k] : {std::tuple<int64_t, int64_t, int64_t>{7, 13, 5},
                           {64, 33, 17},
                           {1, 300, 129},
                           {129, 70, 65},
                           {3, 1000, 97}}) {
      const auto a = Random(pool, 1, m * k);
      const auto b = Random(pool, 2, k * n);
      std::vector<float> c(static_cast<size_t>(m * n), std::nanf(""));
      Gemm(pool, m, n, k, a, b, c);
      ExpectNear(c, NaiveGemm(m, n, k, a, b), 1e-5,
                 "gemm " + std::to_string(m) + "x" + std::to_string(n) + "x" + std::to_string(k) +
                     " threads " + std::to_string(threads));
    }
  }
}

// ---- Context attention ----

// Materializes every score with the causal mask (with prefix) and GQA mapping spelled out.
std::vector<double> NaiveContextAttention(const ContextAttentionDims& d,
                                          const std::vector<float>& q, const std::vector<float>& k,
                                          const std::vector<float>& v) {
  const int64_t prefix = d.kv_len - d.q_len;
  const int64_t group = d.heads / d.kv_heads;
  std::vector<double> out(q.size(), 0.0);
  auto qi = [&](int64_t b, int64_t i, int64_t h, int64_t x) {
    return ((b * d.q_len + i) * d.heads + h) * d.head_dim + x;
  };
  auto ki = [&](int64_t b, int64_t j, int64_t h, int64_t x) {
    return ((b * d.kv_len + j) * d.kv_heads + h) * d.head_dim + x;
  };
  for (int64_t b = 0; b < d.batch; ++b) {
    for (int64_t h = 0; h < d.heads; ++h) {
      const int64_t kvh = h / group;
      for (int64_t i = 0; i < d.q_len; ++i) {
        std::vector<double> s(static_cast<size_t>(d.kv_len), -INFINITY);
        double mx = -INFINITY;
        for (int64_t j = 0; j < d.kv_len; ++j) {
          if (j > prefix + i) continue;  // causal mask
          double dot = 0;
          for (int64_t x = 0; x < d.head_dim; ++x)
            dot += double{q[qi(b, i, h, x)]} * k[ki(b, j, kvh, x)];
          s[j] = dot / std::sqrt(static_cast<double>(d.head_dim));
          mx = std::max(mx, s[j]);
        }
        double sum = 0;
        for (double& e : s) sum += (e = std::exp(e - mx));
        for (int64_t j = 0; j < d.kv_len; ++j) {
          for (int64_t x = 0; x < d.head_dim; ++x) {
            out[qi(b, i, h, x)] += s[j] / sum * v[ki(b, j, kvh, x)];
          }
        }
      }
    }
  }
  return out;
}

void CheckContext(ThreadPool& pool, const ContextAttentionDims& d) {
  const int64_t q_elems = d.batch * d.q_len * d.heads * d.head_dim;
  const int64_t kv_elems = d.batch * d.kv_len * d.kv_heads * d.head_dim;
  // Scale 2 makes the softmax peaky enough that a wrong mask or head mapping shows.
  const auto q = Random(pool, 11, q_elems, 2.0f);
  const auto k = Random(pool, 12, kv_elems, 2.0f);
  const auto v = Random(pool, 13, kv_elems);
  std::vector<float> out(static_cast<size_t>(q_elems), std::nanf(""));
  ContextAttention(pool, d, q, k, v, out);
  ExpectNear(out, NaiveContextAttention(d, q, k, v), 2e-5,
             "batch " + std::to_string(d.batch) + " q_len " + std::to_string(d.q_len) + " kv_len " +
                 std::to_string(d.kv_len) + " heads " + std::to_string(d.heads) + "/" +
                 std::to_string(d.kv_heads) + " threads " + std::to_string(pool.size()));
}

TEST(CpuKernelsTest, ContextAttentionMatchesNaive) {
  const int64_t odd_q = kContextQueryTile + 7;  // not a multiple of the query tile
  for (int threads : {1, 2}) {
    ThreadPool pool(threads);
    // No prefix, q_len spanning two partial tiles; GQA 4/2.
    CheckContext(
        pool,
        {.batch = 2, .q_len = odd_q, .kv_len = odd_q, .heads = 4, .kv_heads = 2, .head_dim = 16});
    // Prefix longer than a key tile and not tile-aligned; MQA 8/1.
    CheckContext(pool, {.batch = 1,
                        .q_len = odd_q,
                        .kv_len = odd_q + kContextKeyTile + 5,
                        .heads = 8,
                        .kv_heads = 1,
                        .head_dim = 8});
    // Short chunk after a prefix (the decode-like corner), plain MHA, head_dim not a power of 2.
    CheckContext(pool,
                 {.batch = 3, .q_len = 3, .kv_len = 50, .heads = 2, .kv_heads = 2, .head_dim = 24});
    // One token, one key.
    CheckContext(pool,
                 {.batch = 1, .q_len = 1, .kv_len = 1, .heads = 1, .kv_heads = 1, .head_dim = 4});
  }
}

// Direct checks of the two properties a naive comparison could share a bug with: each query
// head reads its own KV head, and no query sees a key after its position.
TEST(CpuKernelsTest, ContextAttentionIsCausalAndUsesItsKvHead) {
  ThreadPool pool(1);
  const ContextAttentionDims d{
      .batch = 1, .q_len = 8, .kv_len = 12, .heads = 4, .kv_heads = 2, .head_dim = 8};
  const auto q = Random(pool, 1, d.q_len * d.heads * d.head_dim, 2.0f);
  const auto k = Random(pool, 2, d.kv_len * d.kv_heads * d.head_dim, 2.0f);
  const auto v = Random(pool, 3, d.kv_len * d.kv_heads * d.head_dim);
  std::vector<float> out(q.size());
  ContextAttention(pool, d, q, k, v, out);
  const auto want = NaiveContextAttention(d, q, k, v);
  // Swapping the two KV heads' keys must change the outputs.
  std::vector<float> k_swapped = k;
  for (int64_t j = 0; j < d.kv_len; ++j) {
    std::swap_ranges(k_swapped.begin() + (j * 2) * d.head_dim,
                     k_swapped.begin() + (j * 2 + 1) * d.head_dim,
                     k_swapped.begin() + (j * 2 + 1) * d.head_dim);
  }
  std::vector<float> out_swapped(q.size());
  ContextAttention(pool, d, q, k_swapped, v, out_swapped);
  double diff = 0;
  for (size_t i = 0; i < out.size(); ++i)
    diff = std::max<double>(diff, std::fabs(out[i] - out_swapped[i]));
  EXPECT_GT(diff, 1e-2);
  // Only the last query (position kv_len - 1) sees the last key: changing that key must change
  // the last query's output and leave every earlier query bit-identical.
  std::vector<float> k_last = k;
  for (int64_t x = 0; x < d.kv_heads * d.head_dim; ++x)
    k_last[(d.kv_len - 1) * d.kv_heads * d.head_dim + x] += 3.0f;
  std::vector<float> out_last(q.size());
  ContextAttention(pool, d, q, k_last, v, out_last);
  const int64_t row = d.heads * d.head_dim;
  for (int64_t i = 0; i + 1 < d.q_len; ++i) {
    for (int64_t x = 0; x < row; ++x) EXPECT_EQ(out[i * row + x], out_last[i * row + x]) << i;
  }
  double last_diff = 0;
  for (int64_t x = 0; x < row; ++x) {
    last_diff = std::max<double>(
        last_diff, std::fabs(out[(d.q_len - 1) * row + x] - out_last[(d.q_len - 1) * row + x]));
  }
  EXPECT_GT(last_diff, 1e-3);
  ExpectNear(out, want, 2e-5, "baseline");
}

// ---- Paged decode attention ----

TEST(CpuKernelsTest, PagedDecodeAttentionMatchesNaiveWithShuffledBlocks) {
  for (auto [heads, kv_heads] : {std::pair<int64_t, int64_t>{4, 2}, {8, 1}, {3, 3}}) {
    for (int threads : {1, 2}) {
      ThreadPool pool(threads);
      const std::vector<int64_t> kv_lens = {1, 15, 16, 17, 50, 129};
      DecodeAttentionDims d;
      d.batch = static_cast<int64_t>(kv_lens.size());
      d.heads = heads;
      d.kv_heads = kv_heads;
      d.head_dim = 8;
      d.block_size = kDefaultKvBlockSize;
      d.max_blocks_per_seq = (129 + d.block_size - 1) / d.block_size;
      int64_t used = 0;
      for (int64_t len : kv_lens) used += (len + d.block_size - 1) / d.block_size;
      d.num_blocks = used + 3;  // a few blocks no sequence uses
      // A shuffled assignment of pool blocks to sequences.
      std::vector<int32_t> perm(static_cast<size_t>(d.num_blocks));
      std::iota(perm.begin(), perm.end(), 0);
      RngStream rng(7, "decode-test");
      for (size_t i = perm.size() - 1; i > 0; --i) std::swap(perm[i], perm[rng.Below(i + 1)]);
      std::vector<int32_t> table(static_cast<size_t>(d.batch * d.max_blocks_per_seq), -1);
      size_t next = 0;
      for (int64_t b = 0; b < d.batch; ++b) {
        for (int64_t i = 0; i * d.block_size < kv_lens[b]; ++i)
          table[b * d.max_blocks_per_seq + i] = perm[next++];
      }
      const int64_t pool_elems = d.num_blocks * d.block_size * d.kv_heads * d.head_dim;
      const auto q = Random(pool, 21, d.batch * d.heads * d.head_dim, 2.0f);
      const auto k = Random(pool, 22, pool_elems, 2.0f);
      const auto v = Random(pool, 23, pool_elems);
      std::vector<float> out(q.size(), std::nanf(""));
      PagedDecodeAttention(pool, d, q, k, v, table, kv_lens, out);

      // Reference: gather each sequence's K/V contiguously, then run the naive context
      // attention with q_len = 1 (the query is the last position, so it sees every key).
      std::vector<double> want;
      for (int64_t b = 0; b < d.batch; ++b) {
        const ContextAttentionDims c{.batch = 1,
                                     .q_len = 1,
                                     .kv_len = kv_lens[b],
                                     .heads = d.heads,
                                     .kv_heads = d.kv_heads,
                                     .head_dim = d.head_dim};
        const int64_t row = d.kv_heads * d.head_dim;
        std::vector<float> ks, vs;
        for (int64_t t = 0; t < kv_lens[b]; ++t) {
          const int64_t block = table[b * d.max_blocks_per_seq + t / d.block_size];
          const int64_t at = (block * d.block_size + t % d.block_size) * row;
          ks.insert(ks.end(), k.begin() + at, k.begin() + at + row);
          vs.insert(vs.end(), v.begin() + at, v.begin() + at + row);
        }
        const std::vector<float> qs(q.begin() + b * d.heads * d.head_dim,
                                    q.begin() + (b + 1) * d.heads * d.head_dim);
        const auto o = NaiveContextAttention(c, qs, ks, vs);
        want.insert(want.end(), o.begin(), o.end());
      }
      ExpectNear(out, want, 2e-5,
                 "heads " + std::to_string(heads) + "/" + std::to_string(kv_heads) + " threads " +
                     std::to_string(threads));
    }
  }
}

// ---- Copy and fill ----

TEST(CpuKernelsTest, CopyBytesCopiesEveryByte) {
  ThreadPool pool(2);
  for (int64_t bytes : {int64_t{1}, int64_t{1000}, (int64_t{5} << 20) + 3}) {
    std::vector<std::byte> src(static_cast<size_t>(bytes)), dst(static_cast<size_t>(bytes));
    for (size_t i = 0; i < src.size(); ++i) src[i] = static_cast<std::byte>(Mix64(i) & 0xff);
    CopyBytes(pool, src, dst);
    EXPECT_TRUE(src == dst) << bytes;
  }
}

TEST(CpuKernelsTest, FillRandomIsFiniteBoundedAndIndependentOfThreads) {
  ThreadPool one(1), two(2);
  const auto a = Random(one, 5, 200000, 0.5f);
  const auto b = Random(two, 5, 200000, 0.5f);
  EXPECT_EQ(a, b);
  for (float x : a) ASSERT_TRUE(std::isfinite(x) && x >= -0.5f && x < 0.5f) << x;
  EXPECT_NE(a, Random(one, 6, 200000, 0.5f));
}

}  // namespace
}  // namespace dynamo::profiler
