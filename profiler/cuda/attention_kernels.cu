// Own attention kernels of the CUDA backend (bf16 tensor cores through WMMA, sm_80+).
//
// Context: a flash-attention forward. A block owns block_m query rows of one (sequence, head);
// each warp owns 16 rows. Per key tile: S = Q K^T on tensor cores into shared memory, an online
// softmax per row (running max and sum in fp32, log2 domain), P in bf16, O += P V on tensor
// cores with O kept in fp32 shared memory. Causal with a cached prefix: query i (0-based in
// the chunk) sees keys [0, prefix + i].
//
// Decode: split-KV over a paged cache. A block reduces one split of one (sequence, head); each
// warp takes every 4th key, lanes hold head_dim / 32 channels; warps merge their (max, sum, o)
// in shared memory, and a combine kernel merges splits.
#include "profiler/cuda/attention_kernels.h"

#include <cuda_bf16.h>
#include <cuda_fp8.h>
#include <mma.h>

#include <cmath>

namespace dynamo::profiler::gpu {
namespace {

using bf16 = __nv_bfloat16;
namespace wmma = nvcuda::wmma;

constexpr float kLog2e = 1.4426950408889634f;
constexpr int kWarpSize = 32;
constexpr unsigned kFullMask = 0xffffffffu;
constexpr int kDecodeWarpsPerBlock = 4;

__device__ __forceinline__ float WarpMax(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v = fmaxf(v, __shfl_xor_sync(kFullMask, v, offset));
  }
  return v;
}

__device__ __forceinline__ float WarpSum(float v) {
#pragma unroll
  for (int offset = kWarpSize / 2; offset > 0; offset /= 2) {
    v += __shfl_xor_sync(kFullMask, v, offset);
  }
  return v;
}

// ---- Context attention ----------------------------------------------------------------------

template <int kD, int kBM, int kBN>
__global__ void __launch_bounds__(kBM / 16 * kWarpSize)
    ContextAttnKernel(ContextAttnArgs a, ContextSmemLayout layout) {
  constexpr int kThreads = kBM / 16 * kWarpSize;
  constexpr int kLdQkv = kD + 8;
  constexpr int kLdS = kBN + 4;
  constexpr int kLdP = kBN + 8;
  constexpr int kLdO = kD + 4;
  constexpr int kVecsPerRow = kD / 8;  // 16-byte vectors of 8 bf16

  extern __shared__ __align__(128) unsigned char smem[];
  bf16* q_s = reinterpret_cast<bf16*>(smem + layout.q);
  bf16* k_s = reinterpret_cast<bf16*>(smem + layout.k);
  bf16* v_s = reinterpret_cast<bf16*>(smem + layout.v);
  float* s_s = reinterpret_cast<float*>(smem + layout.s);
  bf16* p_s = reinterpret_cast<bf16*>(smem + layout.p);
  float* o_s = reinterpret_cast<float*>(smem + layout.o);
  float* row_max = reinterpret_cast<float*>(smem + layout.row_max);
  float* row_sum = reinterpret_cast<float*>(smem + layout.row_sum);

  const int tid = static_cast<int>(threadIdx.x);
  const int warp = tid / kWarpSize;
  const int lane = tid % kWarpSize;
  const int64_t m0 = static_cast<int64_t>(blockIdx.x) * kBM;
  const int64_t h = blockIdx.y;
  const int64_t b = blockIdx.z;
  const int64_t kvh = h / (a.heads / a.kv_heads);
  const int64_t prefix = a.kv_len - a.q_len;
  const float scale_log2 = a.softmax_scale * kLog2e;
  const bf16* q = static_cast<const bf16*>(a.q);
  const bf16* k = static_cast<const bf16*>(a.k);
  const bf16* v = static_cast<const bf16*>(a.v);
  bf16* o = static_cast<bf16*>(a.o);
  const uint4 zero = make_uint4(0, 0, 0, 0);

  for (int i = tid; i < kBM * kVecsPerRow; i += kThreads) {
    const int r = i / kVecsPerRow;
    const int c = (i % kVecsPerRow) * 8;
    const int64_t qi = m0 + r;
    uint4 val = zero;
    if (qi < a.q_len) {
      val = *reinterpret_cast<const uint4*>(q + ((b * a.q_len + qi) * a.heads + h) * kD + c);
    }
    *reinterpret_cast<uint4*>(q_s + r * kLdQkv + c) = val;
  }
  for (int i = tid; i < kBM * kD; i += kThreads) o_s[(i / kD) * kLdO + i % kD] = 0.f;
  for (int i = tid; i < kBM; i += kThreads) {
    row_max[i] = -INFINITY;
    row_sum[i] = 0.f;
  }
  __syncthreads();

  // Keys any row of this tile may see: up to prefix + (last valid query row).
  const int64_t q_last = min(m0 + kBM, a.q_len) - 1;
  const int64_t n_end = prefix + q_last + 1;
  for (int64_t n0 = 0; n0 < n_end; n0 += kBN) {
    for (int i = tid; i < kBN * kVecsPerRow; i += kThreads) {
      const int r = i / kVecsPerRow;
      const int c = (i % kVecsPerRow) * 8;
      const int64_t kj = n0 + r;
      uint4 kval = zero;
      uint4 vval = zero;
      if (kj < a.kv_len) {
        const int64_t offset = ((b * a.kv_len + kj) * a.kv_heads + kvh) * kD + c;
        kval = *reinterpret_cast<const uint4*>(k + offset);
        vval = *reinterpret_cast<const uint4*>(v + offset);
      }
      *reinterpret_cast<uint4*>(k_s + r * kLdQkv + c) = kval;
      *reinterpret_cast<uint4*>(v_s + r * kLdQkv + c) = vval;
    }
    __syncthreads();

    // S[16 rows of this warp][kBN] = Q K^T.
    {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> acc[kBN / 16];
#pragma unroll
      for (int j = 0; j < kBN / 16; ++j) wmma::fill_fragment(acc[j], 0.f);
#pragma unroll
      for (int kk = 0; kk < kD / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> qa;
        wmma::load_matrix_sync(qa, q_s + warp * 16 * kLdQkv + kk * 16, kLdQkv);
#pragma unroll
        for (int j = 0; j < kBN / 16; ++j) {
          // K^T as a column-major [kD][kBN] matrix: element (d, n) at k_s[n * kLdQkv + d].
          wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::col_major> kb;
          wmma::load_matrix_sync(kb, k_s + j * 16 * kLdQkv + kk * 16, kLdQkv);
          wmma::mma_sync(acc[j], qa, kb, acc[j]);
        }
      }
#pragma unroll
      for (int j = 0; j < kBN / 16; ++j) {
        wmma::store_matrix_sync(s_s + warp * 16 * kLdS + j * 16, acc[j], kLdS, wmma::mem_row_major);
      }
    }
    __syncwarp();

    // Online softmax, one row at a time across the warp's lanes.
    for (int rr = 0; rr < 16; ++rr) {
      const int r = warp * 16 + rr;
      const int64_t qi = m0 + r;
      const int64_t last_key = qi < a.q_len ? prefix + qi : -1;
      float x[kBN / kWarpSize];
      float tile_max = -INFINITY;
#pragma unroll
      for (int t = 0; t < kBN / kWarpSize; ++t) {
        const int c = lane + kWarpSize * t;
        x[t] = n0 + c <= last_key ? s_s[r * kLdS + c] * scale_log2 : -INFINITY;
        tile_max = fmaxf(tile_max, x[t]);
      }
      tile_max = WarpMax(tile_max);
      const float m_old = row_max[r];
      const float m_new = fmaxf(m_old, tile_max);
      const bool live = m_new > -INFINITY;  // false only for padding rows past q_len
      const float alpha = live ? exp2f(m_old - m_new) : 1.f;
      float sum = 0.f;
#pragma unroll
      for (int t = 0; t < kBN / kWarpSize; ++t) {
        const int c = lane + kWarpSize * t;
        const float p = live ? exp2f(x[t] - m_new) : 0.f;
        p_s[r * kLdP + c] = __float2bfloat16(p);
        sum += p;
      }
      sum = WarpSum(sum);
      for (int c = lane; c < kD; c += kWarpSize) o_s[r * kLdO + c] *= alpha;
      __syncwarp();  // every lane has read row_max[r] before lane 0 replaces it
      if (lane == 0) {
        row_max[r] = m_new;
        row_sum[r] = row_sum[r] * alpha + sum;
      }
    }
    __syncwarp();

    // O[16 rows][kD] += P V.
#pragma unroll
    for (int j = 0; j < kD / 16; ++j) {
      wmma::fragment<wmma::accumulator, 16, 16, 16, float> oacc;
      wmma::load_matrix_sync(oacc, o_s + warp * 16 * kLdO + j * 16, kLdO, wmma::mem_row_major);
#pragma unroll
      for (int kk = 0; kk < kBN / 16; ++kk) {
        wmma::fragment<wmma::matrix_a, 16, 16, 16, bf16, wmma::row_major> pa;
        wmma::load_matrix_sync(pa, p_s + warp * 16 * kLdP + kk * 16, kLdP);
        wmma::fragment<wmma::matrix_b, 16, 16, 16, bf16, wmma::row_major> vb;
        wmma::load_matrix_sync(vb, v_s + kk * 16 * kLdQkv + j * 16, kLdQkv);
        wmma::mma_sync(oacc, pa, vb, oacc);
      }
      wmma::store_matrix_sync(o_s + warp * 16 * kLdO + j * 16, oacc, kLdO, wmma::mem_row_major);
    }
    __syncthreads();  // K/V tiles are overwritten next
  }

  for (int rr = 0; rr < 16; ++rr) {
    const int r = warp * 16 + rr;
    const int64_t qi = m0 + r;
    if (qi >= a.q_len) break;
    const float inv = 1.f / row_sum[r];
    bf16* dst = o + ((b * a.q_len + qi) * a.heads + h) * kD;
    for (int c = lane; c < kD; c += kWarpSize) dst[c] = __float2bfloat16(o_s[r * kLdO + c] * inv);
  }
}

using ContextKernelFn = void (*)(ContextAttnArgs, ContextSmemLayout);

template <int kD>
ContextKernelFn ContextKernelForTile(int block_m, int block_n) {
  if (block_m == 64 && block_n == 64) return &ContextAttnKernel<kD, 64, 64>;
  if (block_m == 64 && block_n == 32) return &ContextAttnKernel<kD, 64, 32>;
  if (block_m == 32 && block_n == 32) return &ContextAttnKernel<kD, 32, 32>;
  return nullptr;
}

// The compiled kernel for a geometry, or nullptr when its tile, padding or thread count is not
// what a kernel was built for.
ContextKernelFn ContextKernelFor(const ContextAttnGeometry& g) {
  const ContextSmemLayout& l = g.smem;
  if (l.ld_qkv != g.head_dim + 8 || l.ld_s != g.block_n + 4 || l.ld_p != g.block_n + 8 ||
      l.ld_o != g.head_dim + 4 || g.threads != g.block_m / 16 * kWarpSize) {
    return nullptr;
  }
  switch (g.head_dim) {
    case 64:
      return ContextKernelForTile<64>(g.block_m, g.block_n);
    case 128:
      return ContextKernelForTile<128>(g.block_m, g.block_n);
    case 256:
      return ContextKernelForTile<256>(g.block_m, g.block_n);
    default:
      return nullptr;
  }
}

// ---- Decode attention -----------------------------------------------------------------------

template <typename T, int kN>
struct alignas(sizeof(T) * kN) Pack {
  T v[kN];
};

template <int kN>
__device__ __forceinline__ void LoadFloats(const bf16* p, float (&out)[kN]) {
  const Pack<bf16, kN> pk = *reinterpret_cast<const Pack<bf16, kN>*>(p);
#pragma unroll
  for (int i = 0; i < kN; ++i) out[i] = __bfloat162float(pk.v[i]);
}

template <int kN>
__device__ __forceinline__ void LoadFloats(const __nv_fp8_e4m3* p, float (&out)[kN]) {
  const Pack<__nv_fp8_e4m3, kN> pk = *reinterpret_cast<const Pack<__nv_fp8_e4m3, kN>*>(p);
#pragma unroll
  for (int i = 0; i < kN; ++i) out[i] = static_cast<float>(pk.v[i]);
}

struct DecodeLaunch {
  int64_t blocks_per_seq;
  int64_t keys_per_split;
  int page_tokens;
  int splits;
};

template <int kD, typename KvT>
__global__ void __launch_bounds__(kDecodeWarpsPerBlock* kWarpSize)
    DecodeAttnKernel(DecodeAttnArgs a, DecodeLaunch launch) {
  constexpr int kPerLane = kD / kWarpSize;
  __shared__ float part_o[kDecodeWarpsPerBlock][kD];
  __shared__ float part_m[kDecodeWarpsPerBlock];
  __shared__ float part_l[kDecodeWarpsPerBlock];

  const int warp = static_cast<int>(threadIdx.x) / kWarpSize;
  const int lane = static_cast<int>(threadIdx.x) % kWarpSize;
  const int64_t split = blockIdx.x;
  const int64_t h = blockIdx.y;
  const int64_t b = blockIdx.z;
  const int64_t kvh = h / (a.heads / a.kv_heads);
  const int64_t key_begin = split * launch.keys_per_split;
  const int64_t key_end = min(a.kv_len, key_begin + launch.keys_per_split);
  const float scale_log2 = a.softmax_scale * kLog2e;

  float q[kPerLane];
  LoadFloats(static_cast<const bf16*>(a.q) + (b * a.heads + h) * kD + lane * kPerLane, q);
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) q[i] *= scale_log2;

  const KvT* k_cache = static_cast<const KvT*>(a.k_cache);
  const KvT* v_cache = static_cast<const KvT*>(a.v_cache);
  const int32_t* table = a.block_table + b * launch.blocks_per_seq;
  float m = -INFINITY;
  float l = 0.f;
  float acc[kPerLane];
#pragma unroll
  for (int i = 0; i < kPerLane; ++i) acc[i] = 0.f;

  for (int64_t key = key_begin + warp; key < key_end; key += kDecodeWarpsPerBlock) {
    const int64_t page = table[key / launch.page_tokens];
    const int64_t slot = key % launch.page_tokens;
    const int64_t offset =
        ((page * launch.page_tokens + slot) * a.kv_heads + kvh) * kD + lane * kPerLane;
    float kf[kPerLane];
    float vf[kPerLane];
    LoadFloats(k_cache + offset, kf);
    LoadFloats(v_cache + offset, vf);
    float dot = 0.f;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) dot += q[i] * kf[i];
    dot = WarpSum(dot);
    const float m_new = fmaxf(m, dot);
    const float alpha = exp2f(m - m_new);  // 0 for the first key (m = -inf)
    const float p = exp2f(dot - m_new);
    l = l * alpha + p;
#pragma unroll
    for (int i = 0; i < kPerLane; ++i) acc[i] = acc[i] * alpha + p * vf[i];
    m = m_new;
  }

#pragma unroll
  for (int i = 0; i < kPerLane; ++i) part_o[warp][lane * kPerLane + i] = acc[i];
  if (lane == 0) {
    part_m[warp] = m;
    part_l[warp] = l;
  }
  __syncthreads();

  float m_all = -INFINITY;
#pragma unroll
  for (int w = 0; w < kDecodeWarpsPerBlock; ++w) m_all = fmaxf(m_all, part_m[w]);
  const int64_t bh = b * a.heads + h;
  for (int c = static_cast<int>(threadIdx.x); c < kD; c += static_cast<int>(blockDim.x)) {
    float l_all = 0.f;
    float o_all = 0.f;
#pragma unroll
    for (int w = 0; w < kDecodeWarpsPerBlock; ++w) {
      const float s = exp2f(part_m[w] - m_all);  // 0 for a warp that saw no key
      l_all += part_l[w] * s;
      o_all += part_o[w][c] * s;
    }
    if (launch.splits == 1) {
      static_cast<bf16*>(a.o)[bh * kD + c] = __float2bfloat16(o_all / l_all);
    } else {
      const int64_t idx = bh * launch.splits + split;
      a.partial_o[idx * kD + c] = o_all;
      if (c == 0) {
        a.partial_ml[idx * 2] = m_all;
        a.partial_ml[idx * 2 + 1] = l_all;
      }
    }
  }
}

// Merges the splits of one (sequence, head): grid (heads, batch), head_dim threads.
__global__ void DecodeCombineKernel(const float* partial_o, const float* partial_ml, bf16* o,
                                    int splits, int head_dim) {
  const int64_t bh = static_cast<int64_t>(blockIdx.y) * gridDim.x + blockIdx.x;
  const float* ml = partial_ml + bh * splits * 2;
  float m_all = -INFINITY;
  for (int s = 0; s < splits; ++s) m_all = fmaxf(m_all, ml[s * 2]);
  for (int c = static_cast<int>(threadIdx.x); c < head_dim; c += static_cast<int>(blockDim.x)) {
    float l_all = 0.f;
    float o_all = 0.f;
    for (int s = 0; s < splits; ++s) {
      const float scale = exp2f(ml[s * 2] - m_all);
      l_all += ml[s * 2 + 1] * scale;
      o_all += partial_o[(bh * splits + s) * head_dim + c] * scale;
    }
    o[bh * head_dim + c] = __float2bfloat16(o_all / l_all);
  }
}

template <typename KvT>
cudaError_t LaunchDecodeFor(const DecodeGeometry& g, const DecodeAttnArgs& a, dim3 grid, dim3 block,
                            DecodeLaunch launch, cudaStream_t stream) {
  switch (g.head_dim) {
    case 64:
      DecodeAttnKernel<64, KvT><<<grid, block, 0, stream>>>(a, launch);
      break;
    case 128:
      DecodeAttnKernel<128, KvT><<<grid, block, 0, stream>>>(a, launch);
      break;
    case 256:
      DecodeAttnKernel<256, KvT><<<grid, block, 0, stream>>>(a, launch);
      break;
    default:
      return cudaErrorInvalidValue;
  }
  return cudaGetLastError();
}

}  // namespace

cudaError_t ConfigureContextAttention(const ContextAttnGeometry& g) {
  const ContextKernelFn fn = ContextKernelFor(g);
  if (fn == nullptr) return cudaErrorInvalidValue;
  return cudaFuncSetAttribute(reinterpret_cast<const void*>(fn),
                              cudaFuncAttributeMaxDynamicSharedMemorySize,
                              static_cast<int>(g.smem.total));
}

cudaError_t LaunchContextAttention(const ContextAttnGeometry& g, const ContextAttnArgs& a,
                                   cudaStream_t stream) {
  const ContextKernelFn fn = ContextKernelFor(g);
  if (fn == nullptr) return cudaErrorInvalidValue;
  const dim3 grid(static_cast<unsigned>(g.grid_x), static_cast<unsigned>(g.grid_y),
                  static_cast<unsigned>(g.grid_z));
  const dim3 block(static_cast<unsigned>(g.threads));
  ContextAttnArgs args = a;
  ContextSmemLayout layout = g.smem;
  void* params[] = {&args, &layout};
  return cudaLaunchKernel(reinterpret_cast<const void*>(fn), grid, block, params,
                          static_cast<size_t>(g.smem.total), stream);
}

cudaError_t LaunchDecodeAttention(const DecodeGeometry& g, const DecodeAttnArgs& a,
                                  cudaStream_t stream) {
  if (g.threads != kDecodeWarpsPerBlock * kWarpSize || g.splits < 1 || g.page_tokens < 1) {
    return cudaErrorInvalidValue;
  }
  const dim3 grid(static_cast<unsigned>(g.grid_x), static_cast<unsigned>(g.grid_y),
                  static_cast<unsigned>(g.grid_z));
  const dim3 block(static_cast<unsigned>(g.threads));
  const DecodeLaunch launch{g.blocks_per_seq, g.keys_per_split, g.page_tokens, g.splits};
  const cudaError_t err = a.kv_elem == KvElem::kBf16
                              ? LaunchDecodeFor<bf16>(g, a, grid, block, launch, stream)
                              : LaunchDecodeFor<__nv_fp8_e4m3>(g, a, grid, block, launch, stream);
  if (err != cudaSuccess || g.splits == 1) return err;
  DecodeCombineKernel<<<dim3(static_cast<unsigned>(a.heads), static_cast<unsigned>(a.batch)),
                        dim3(static_cast<unsigned>(g.head_dim)), 0, stream>>>(
      a.partial_o, a.partial_ml, static_cast<bf16*>(a.o), g.splits, g.head_dim);
  return cudaGetLastError();
}

}  // namespace dynamo::profiler::gpu
