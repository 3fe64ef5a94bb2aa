#pragma once
// Host-side decisions of the CUDA backend, kept free of CUDA headers so that they are unit
// tested on machines without a GPU: device naming, which shapes run on which device, kernel
// launch geometry, KV-cache page tables, device-memory footprints, cache-flush sizes,
// collective element counts and how many repetitions to time. All functions are pure.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/dtype.h"
#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/cuda/kernel_params.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler::gpu {

struct ComputeCapability {
  int major = 0;
  int minor = 0;
  int Value() const { return major * 10 + minor; }  // 90 for sm_90
};

// What the planner needs to know about the measured device and its host.
struct DeviceCaps {
  ComputeCapability cc;
  int device_count = 1;  // visible CUDA devices
  int sm_count = 0;
  int64_t max_smem_per_block_bytes = 0;  // opt-in limit (cudaDevAttrMaxSharedMemoryPerBlockOptin)
  int64_t l2_bytes = 0;
  int64_t free_memory_bytes = 0;  // cudaMemGetInfo at the time of the question
  bool nccl_available = false;    // the build linked NCCL
};

// Hardware-catalog name (data/hardware/<name>.json) for a cudaDeviceProp::name, e.g.
// "NVIDIA H200" -> "h200_sxm"; "" when the device is not in the catalog (PCIe/NVL variants,
// other memory sizes), so that no roofline figure of a different part is used.
std::string CatalogGpuForDeviceName(std::string_view device_name);

// --- Dtypes ---------------------------------------------------------------------------------
// GEMM: bf16 and fp16 (fp32 accumulate) on sm_80+; fp32 runs on TF32 tensor cores (what the
// catalog's fp32 figure models, and what serving engines enable); fp8 e4m3 needs sm_89+ and
// k, n multiples of 16 (cuBLASLt's fp8 kernels are TN-only with 16-byte aligned leading
// dimensions); fp4 is not supported (block-scaled fp4 needs sm_100 and scale layouts not
// implemented here). The reason is in the error message.
Status CheckGemmSupported(const perf::GemmShape& shape, ComputeCapability cc);
// Input / output element types of the GEMM: fp8 -> bf16 output, fp32 -> fp32, else the input.
DType GemmOutputDType(DType input);

// --- Attention --------------------------------------------------------------------------------
// Head dimensions the attention kernels are compiled for.
inline constexpr int kAttnHeadDims[] = {64, 128, 256};
// Tokens per KV-cache page of the decode kernel (vLLM's default block size).
inline constexpr int kPageTokens = 16;
// Warps per decode block.
inline constexpr int kDecodeWarps = 4;

// Shared-memory layout of the context kernel for a head_dim and tile.
ContextSmemLayout ContextSmemFor(int head_dim, int block_m, int block_n);
// Geometry of the causal context kernel: the largest tile of (64,64), (64,32), (32,32) whose
// shared memory fits max_smem_per_block_bytes. Fails for bf16-only / head_dim / grid limits.
StatusOr<ContextAttnGeometry> PlanContextAttention(const perf::AttnContextShape& shape,
                                                   const DeviceCaps& caps);
// Geometry of the paged decode kernels: enough splits of the keys to give every SM two blocks
// (at least kMinKeysPerSplit keys per split, at most kMaxSplits).
inline constexpr int64_t kMinKeysPerSplit = 256;
inline constexpr int kMaxSplits = 64;
StatusOr<DecodeGeometry> PlanDecodeAttention(const perf::AttnDecodeShape& shape,
                                             const DeviceCaps& caps);
// Page table [batch][blocks_per_seq] of distinct page ids in [0, batch * blocks_per_seq),
// shuffled with `seed` so that a sequence's pages are scattered as in a long-running cache.
std::vector<int32_t> BuildBlockTable(int64_t batch, int64_t blocks_per_seq, uint64_t seed);

// --- Collectives ------------------------------------------------------------------------------
// NCCL element counts per rank for a CollectiveShape (bytes as nccl-tests' "size").
struct CollectiveCounts {
  int64_t elem_bytes = 0;
  int64_t send_count = 0;           // elements each rank sends (per peer for all-to-all)
  int64_t recv_count = 0;           // elements each rank receives (per peer for all-to-all)
  int64_t send_bytes_per_rank = 0;  // whole send buffer of one rank
  int64_t recv_bytes_per_rank = 0;  // whole receive buffer of one rank
};
// Checks dtype (bf16, fp16, fp32; fp8 on sm_90+), gpus <= device_count, NCCL presence and
// divisibility of bytes by the element size (and by gpus where the op splits the buffer).
StatusOr<CollectiveCounts> PlanCollective(const perf::CollectiveShape& shape,
                                          const DeviceCaps& caps);

// --- Memory and timing ------------------------------------------------------------------------
// Bytes of the buffer overwritten between repetitions to evict the L2: twice the L2 (the L2 is
// not strictly LRU), at least 8 MiB, rounded up to MiB.
int64_t FlushBufferBytes(int64_t l2_bytes);
// cuBLASLt workspace offered to the heuristic.
inline constexpr int64_t kGemmWorkspaceBytes = int64_t{32} << 20;
// Device memory one measurement of `shape` allocates on its busiest device, including the
// flush buffer and workspaces. Precondition: CheckSupported(shape) apart from memory.
int64_t DeviceFootprintBytes(const perf::OpShape& shape, const DeviceCaps& caps);
// Fraction of free memory a measurement may use (the rest for the CUDA context and libraries).
inline constexpr double kUsableMemoryFraction = 0.9;

// Everything Supports() answers: Validate, dtype and compute capability, kernel limits, device
// count, NCCL, and the footprint against free memory. The message is the reason.
Status CheckSupported(const perf::OpShape& shape, const DeviceCaps& caps);

// Timed repetitions for a call estimated at `estimated_us`: options.repetitions, fewer when
// max_total_us would be exceeded, never fewer than kMinRepetitions.
inline constexpr int kMinRepetitions = 3;
int PlanRepetitions(const MeasureOptions& options, double estimated_us);

// bf16 <-> fp32 on the host (round to nearest even; NaN stays NaN), for uploading test inputs.
uint16_t FloatToBf16Bits(float value);
float Bf16BitsToFloat(uint16_t bits);

// "13.0" for 13000 (cudaDriverGetVersion / cudaRuntimeGetVersion encoding).
std::string FormatCudaVersion(int version);
// "2.28.9" for NCCL's 22809; "13.0.2" for cuBLASLt's 130002 (both major*10000+minor*100+patch).
std::string FormatLibraryVersion(int64_t version);
// "12.50 GiB (13421772800 bytes)" for messages.
std::string FormatBytes(int64_t bytes);

}  // namespace dynamo::profiler::gpu
