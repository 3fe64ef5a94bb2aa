#include "profiler/cuda/cuda_plan.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <variant>

#include "core/rng.h"

namespace dynamo::profiler::gpu {
namespace {

// Exact cudaDeviceProp::name strings of the parts in the hardware catalog. Other variants of
// the same chip (PCIe, NVL, 40 GB) differ in clocks, power or memory and stay unmapped.
struct NameMapping {
  std::string_view device_name;
  std::string_view catalog_name;
};
constexpr NameMapping kCatalogNames[] = {
    {"NVIDIA H200", "h200_sxm"}, {"NVIDIA H100 80GB HBM3", "h100_sxm"},
    {"NVIDIA B200", "b200_sxm"}, {"NVIDIA A100-SXM4-80GB", "a100_sxm_80g"},
    {"NVIDIA L40S", "l40s"},     {"NVIDIA GB200", "gb200"},
};

// CUDA's launch limits on gridDim.y and gridDim.z.
constexpr int64_t kMaxGridYz = 65535;
constexpr int64_t kMaxGridX = (int64_t{1} << 31) - 1;
constexpr int kMinComputeCapability = 80;  // bf16 tensor cores (WMMA) and cuBLASLt bf16
constexpr int kFp8GemmComputeCapability = 89;
constexpr int kFp8CollectiveComputeCapability = 90;
constexpr int64_t kFp8GemmAlignElems = 16;
constexpr int kDecodeBlocksPerSm = 2;
constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kMinFlushBytes = 8 * kMiB;

std::string Trim(std::string_view s) {
  size_t b = 0;
  size_t e = s.size();
  while (b < e && std::isspace(static_cast<unsigned char>(s[b]))) ++b;
  while (e > b && std::isspace(static_cast<unsigned char>(s[e - 1]))) --e;
  return std::string(s.substr(b, e - b));
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::tolower(static_cast<unsigned char>(a[i])) !=
        std::tolower(static_cast<unsigned char>(b[i]))) {
      return false;
    }
  }
  return true;
}

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }
int64_t RoundUp(int64_t a, int64_t b) { return CeilDiv(a, b) * b; }

std::string CcName(ComputeCapability cc) {
  return "sm_" + std::to_string(cc.major) + std::to_string(cc.minor);
}

Status CheckComputeCapability(ComputeCapability cc) {
  if (cc.Value() >= kMinComputeCapability) return Status::Ok();
  return FailedPrecondition(
      "the CUDA backend needs compute capability 8.0+ (bf16 tensor cores); "
      "this device is " +
      CcName(cc) + "; use --backend cpu");
}

Status CheckHeadDim(int64_t head_dim) {
  for (int d : kAttnHeadDims) {
    if (d == head_dim) return Status::Ok();
  }
  return FailedPrecondition("head_dim " + std::to_string(head_dim) +
                            " is not supported by the CUDA attention kernels; use 64, 128 or 256");
}

Status CheckGridYz(int64_t heads, int64_t batch) {
  if (heads > kMaxGridYz) {
    return FailedPrecondition("heads " + std::to_string(heads) + " exceeds the launch limit of " +
                              std::to_string(kMaxGridYz) + " per GPU");
  }
  if (batch > kMaxGridYz) {
    return FailedPrecondition("batch " + std::to_string(batch) + " exceeds the launch limit of " +
                              std::to_string(kMaxGridYz));
  }
  return Status::Ok();
}

Status CheckAttentionDTypes(DType dtype, DType kv_dtype, bool fp8_kv_ok) {
  if (dtype != DType::kBf16) {
    return FailedPrecondition("dtype " + std::string(DTypeName(dtype)) +
                              " is not supported: the CUDA attention kernels compute in bf16");
  }
  if (kv_dtype == DType::kBf16) return Status::Ok();
  if (kv_dtype == DType::kFp8 && fp8_kv_ok) return Status::Ok();
  return FailedPrecondition(
      "kv_dtype " + std::string(DTypeName(kv_dtype)) + " is not supported: " +
      (fp8_kv_ok ? std::string("the decode kernel reads a bf16 or fp8 (e4m3) KV cache")
                 : std::string("the context kernel reads a bf16 KV cache (fp8 KV is supported "
                               "by attn_decode only)")));
}

int64_t AlignSmem(int64_t offset) { return RoundUp(offset, kSmemAlign); }

// Saturating conversion of a byte count computed in double (shapes can be absurdly large).
int64_t SaturatingBytes(double bytes) {
  if (!(bytes < 9.0e18)) return std::numeric_limits<int64_t>::max();
  return static_cast<int64_t>(bytes);
}

double Bytes(DType d) { return DTypeBytes(d); }
double D(int64_t v) { return static_cast<double>(v); }

}  // namespace

std::string CatalogGpuForDeviceName(std::string_view device_name) {
  const std::string name = Trim(device_name);
  for (const NameMapping& m : kCatalogNames) {
    if (EqualsIgnoreCase(name, m.device_name)) return std::string(m.catalog_name);
  }
  return "";
}

DType GemmOutputDType(DType input) {
  switch (input) {
    case DType::kFp8:
    case DType::kFp4:
      return DType::kBf16;
    default:
      return input;
  }
}

Status CheckGemmSupported(const perf::GemmShape& shape, ComputeCapability cc) {
  RETURN_IF_ERROR(CheckComputeCapability(cc));
  switch (shape.dtype) {
    case DType::kBf16:
    case DType::kFp16:
    case DType::kFp32:
      return Status::Ok();
    case DType::kFp8:
      if (cc.Value() < kFp8GemmComputeCapability) {
        return FailedPrecondition(
            "fp8 (e4m3) GEMM needs compute capability 8.9+ (Ada, Hopper, Blackwell tensor "
            "cores); this device is " +
            CcName(cc) + "; measure bf16 instead");
      }
      if (shape.k % kFp8GemmAlignElems != 0 || shape.n % kFp8GemmAlignElems != 0) {
        return FailedPrecondition(
            "fp8 GEMM needs k and n to be multiples of 16 (cuBLASLt fp8 "
            "kernels need 16-byte aligned leading dimensions); got k=" +
            std::to_string(shape.k) + " n=" + std::to_string(shape.n) + "; pad the shape");
      }
      return Status::Ok();
    case DType::kFp4:
      return FailedPrecondition(
          "fp4 GEMM is not supported by the CUDA backend: block-scaled fp4 needs sm_100 tensor "
          "cores and scale layouts not implemented here; measure fp8 or bf16");
  }
  return Internal("unknown dtype");
}

ContextSmemLayout ContextSmemFor(int head_dim, int block_m, int block_n) {
  ContextSmemLayout l;
  // Padding of 8 bf16 (16 bytes) or 4 floats per row shifts consecutive rows by 4 banks.
  l.ld_qkv = head_dim + 8;
  l.ld_s = block_n + 4;
  l.ld_p = block_n + 8;
  l.ld_o = head_dim + 4;
  constexpr int64_t kBf16 = 2;
  constexpr int64_t kF32 = 4;
  int64_t at = 0;
  auto region = [&at](int64_t bytes) {
    const int64_t offset = at;
    at = AlignSmem(at + bytes);
    return offset;
  };
  l.q = region(int64_t{block_m} * l.ld_qkv * kBf16);
  l.k = region(int64_t{block_n} * l.ld_qkv * kBf16);
  l.v = region(int64_t{block_n} * l.ld_qkv * kBf16);
  l.s = region(int64_t{block_m} * l.ld_s * kF32);
  l.p = region(int64_t{block_m} * l.ld_p * kBf16);
  l.o = region(int64_t{block_m} * l.ld_o * kF32);
  l.row_max = region(int64_t{block_m} * kF32);
  l.row_sum = region(int64_t{block_m} * kF32);
  l.total = at;
  return l;
}

StatusOr<ContextAttnGeometry> PlanContextAttention(const perf::AttnContextShape& shape,
                                                   const DeviceCaps& caps) {
  RETURN_IF_ERROR(CheckComputeCapability(caps.cc));
  RETURN_IF_ERROR(CheckAttentionDTypes(shape.dtype, shape.kv_dtype, /*fp8_kv_ok=*/false));
  RETURN_IF_ERROR(CheckHeadDim(shape.head_dim));
  RETURN_IF_ERROR(CheckGridYz(shape.heads, shape.batch));
  struct Tile {
    int m, n;
  };
  constexpr Tile kTiles[] = {{64, 64}, {64, 32}, {32, 32}};
  const int d = static_cast<int>(shape.head_dim);
  for (const Tile& t : kTiles) {
    const ContextSmemLayout layout = ContextSmemFor(d, t.m, t.n);
    if (layout.total > caps.max_smem_per_block_bytes) continue;
    ContextAttnGeometry g;
    g.head_dim = d;
    g.block_m = t.m;
    g.block_n = t.n;
    g.threads = t.m / 16 * 32;
    g.grid_x = CeilDiv(shape.q_len, t.m);
    g.grid_y = shape.heads;
    g.grid_z = shape.batch;
    g.smem = layout;
    if (g.grid_x > kMaxGridX) {
      return FailedPrecondition("q_len " + std::to_string(shape.q_len) +
                                " needs more query tiles than one launch allows");
    }
    return g;
  }
  const ContextSmemLayout smallest = ContextSmemFor(d, kTiles[2].m, kTiles[2].n);
  return FailedPrecondition("head_dim " + std::to_string(d) + " needs " +
                            std::to_string(smallest.total) +
                            " bytes of shared memory per block at the smallest tile, but the "
                            "device allows " +
                            std::to_string(caps.max_smem_per_block_bytes));
}

StatusOr<DecodeGeometry> PlanDecodeAttention(const perf::AttnDecodeShape& shape,
                                             const DeviceCaps& caps) {
  RETURN_IF_ERROR(CheckComputeCapability(caps.cc));
  RETURN_IF_ERROR(CheckAttentionDTypes(shape.dtype, shape.kv_dtype, /*fp8_kv_ok=*/true));
  RETURN_IF_ERROR(CheckHeadDim(shape.head_dim));
  RETURN_IF_ERROR(CheckGridYz(shape.heads, shape.batch));
  DecodeGeometry g;
  g.head_dim = static_cast<int>(shape.head_dim);
  g.page_tokens = kPageTokens;
  g.threads = kDecodeWarps * 32;
  g.blocks_per_seq = CeilDiv(shape.kv_len, kPageTokens);
  g.num_pages = shape.batch * g.blocks_per_seq;
  if (g.num_pages > std::numeric_limits<int32_t>::max()) {
    return FailedPrecondition("batch * ceil(kv_len / " + std::to_string(kPageTokens) +
                              ") = " + std::to_string(g.num_pages) +
                              " pages exceed the int32 page ids of the block table");
  }
  const int64_t base_blocks = shape.batch * shape.heads;
  const int64_t target_blocks = int64_t{kDecodeBlocksPerSm} * std::max(caps.sm_count, 1);
  int64_t splits = 1;
  if (base_blocks < target_blocks) {
    splits = CeilDiv(target_blocks, base_blocks);
    splits = std::min(splits, CeilDiv(shape.kv_len, kMinKeysPerSplit));
    splits = std::clamp<int64_t>(splits, 1, kMaxSplits);
  }
  // Splits hold whole pages; recount so that no split is empty.
  g.keys_per_split = RoundUp(CeilDiv(shape.kv_len, splits), kPageTokens);
  g.splits = static_cast<int>(CeilDiv(shape.kv_len, g.keys_per_split));
  g.grid_x = g.splits;
  g.grid_y = shape.heads;
  g.grid_z = shape.batch;
  // Per-warp partial output (head_dim floats) plus its running max and sum.
  g.smem_bytes = int64_t{kDecodeWarps} * (g.head_dim + 2) * 4;
  return g;
}

std::vector<int32_t> BuildBlockTable(int64_t batch, int64_t blocks_per_seq, uint64_t seed) {
  const int64_t n = batch * blocks_per_seq;
  DYNAMO_CHECK(n >= 0 && n <= std::numeric_limits<int32_t>::max());
  std::vector<int32_t> table(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) table[static_cast<size_t>(i)] = static_cast<int32_t>(i);
  RngStream rng(seed, "cuda_block_table");
  for (int64_t i = n - 1; i > 0; --i) {
    const auto j = static_cast<int64_t>(rng.Below(static_cast<uint64_t>(i + 1)));
    std::swap(table[static_cast<size_t>(i)], table[static_cast<size_t>(j)]);
  }
  return table;
}

StatusOr<CollectiveCounts> PlanCollective(const perf::CollectiveShape& shape,
                                          const DeviceCaps& caps) {
  if (!caps.nccl_available) {
    return FailedPrecondition(
        "this build has no NCCL (libnccl was not found at configure "
        "time); install libnccl-dev and reconfigure");
  }
  if (shape.gpus > caps.device_count) {
    return FailedPrecondition("gpus " + std::to_string(shape.gpus) + " but only " +
                              std::to_string(caps.device_count) +
                              " CUDA device(s) are visible; measure on a machine with " +
                              std::to_string(shape.gpus) + " GPUs or lower gpus");
  }
  switch (shape.dtype) {
    case DType::kBf16:
    case DType::kFp16:
    case DType::kFp32:
      break;
    case DType::kFp8:
      if (caps.cc.Value() < kFp8CollectiveComputeCapability) {
        return FailedPrecondition(
            "fp8 collectives need compute capability 9.0+ (NCCL fp8 "
            "reductions); this device is " +
            CcName(caps.cc));
      }
      break;
    case DType::kFp4:
      return FailedPrecondition(
          "fp4 collectives are not supported (NCCL has no fp4 type); "
          "use fp8 or bf16");
  }
  CollectiveCounts c;
  c.elem_bytes = static_cast<int64_t>(DTypeBytes(shape.dtype));
  const bool splits_buffer = shape.op != perf::Collective::kAllReduce;
  const int64_t unit = splits_buffer ? c.elem_bytes * shape.gpus : c.elem_bytes;
  if (shape.bytes % unit != 0) {
    return FailedPrecondition("bytes " + std::to_string(shape.bytes) + " is not a multiple of " +
                              std::to_string(unit) +
                              (splits_buffer ? " (element size " + std::to_string(c.elem_bytes) +
                                                   " x gpus " + std::to_string(shape.gpus) + ")"
                                             : " (element size)"));
  }
  const int64_t elems = shape.bytes / c.elem_bytes;
  switch (shape.op) {
    case perf::Collective::kAllReduce:
      c.send_count = c.recv_count = elems;
      c.send_bytes_per_rank = c.recv_bytes_per_rank = shape.bytes;
      break;
    case perf::Collective::kAllGather:  // bytes = gathered output
      c.send_count = elems / shape.gpus;
      c.recv_count = elems;
      c.send_bytes_per_rank = shape.bytes / shape.gpus;
      c.recv_bytes_per_rank = shape.bytes;
      break;
    case perf::Collective::kReduceScatter:  // bytes = input
      c.send_count = elems;
      c.recv_count = elems / shape.gpus;
      c.send_bytes_per_rank = shape.bytes;
      c.recv_bytes_per_rank = shape.bytes / shape.gpus;
      break;
    case perf::Collective::kAllToAll:  // bytes = per-rank send buffer; counts are per peer
      c.send_count = c.recv_count = elems / shape.gpus;
      c.send_bytes_per_rank = c.recv_bytes_per_rank = shape.bytes;
      break;
  }
  return c;
}

int64_t FlushBufferBytes(int64_t l2_bytes) {
  return RoundUp(std::max(2 * std::max<int64_t>(l2_bytes, 0), kMinFlushBytes), kMiB);
}

int64_t DeviceFootprintBytes(const perf::OpShape& shape, const DeviceCaps& caps) {
  const double flush = static_cast<double>(FlushBufferBytes(caps.l2_bytes));
  struct Visitor {
    const DeviceCaps& caps;
    double operator()(const perf::GemmShape& g) const {
      const double in = Bytes(g.dtype);
      const double out = Bytes(GemmOutputDType(g.dtype));
      const double m = D(g.m), n = D(g.n), k = D(g.k);
      return m * k * in + n * k * in + m * n * out + static_cast<double>(kGemmWorkspaceBytes);
    }
    double operator()(const perf::AttnContextShape& a) const {
      const double q = D(a.batch) * D(a.q_len) * D(a.heads) * D(a.head_dim) * 2;
      const double kv =
          D(a.batch) * D(a.kv_len) * D(a.kv_heads) * D(a.head_dim) * Bytes(a.kv_dtype);
      return 2 * q + 2 * kv;  // Q and O; K and V
    }
    double operator()(const perf::AttnDecodeShape& a) const {
      const int64_t blocks_per_seq = CeilDiv(a.kv_len, kPageTokens);
      int64_t splits = 1;
      if (auto g = PlanDecodeAttention(a, caps); g.ok()) splits = g->splits;
      const double bh = D(a.batch) * D(a.heads);
      const double qo = 2 * bh * D(a.head_dim) * 2;
      const double pages = D(a.batch) * D(blocks_per_seq);
      const double cache =
          2 * pages * kPageTokens * D(a.kv_heads) * D(a.head_dim) * Bytes(a.kv_dtype);
      const double table = pages * 4;
      const double partial = splits > 1 ? bh * D(splits) * D(a.head_dim + 2) * 4 : 0;
      return qo + cache + table + partial;
    }
    double operator()(const perf::MlaContextShape&) const { return 0; }
    double operator()(const perf::MlaDecodeShape&) const { return 0; }
    double operator()(const perf::CollectiveShape& c) const {
      DeviceCaps with_nccl = caps;
      with_nccl.nccl_available = true;
      with_nccl.device_count = std::max<int>(caps.device_count, static_cast<int>(c.gpus));
      if (auto counts = PlanCollective(c, with_nccl); counts.ok()) {
        return static_cast<double>(counts->send_bytes_per_rank + counts->recv_bytes_per_rank);
      }
      return 2 * static_cast<double>(c.bytes);
    }
    double operator()(const perf::TransferShape& t) const {
      const double b = static_cast<double>(t.bytes);
      switch (t.kind) {
        case perf::TransferKind::kD2D:
          return 2 * b;  // source and destination on one device
        case perf::TransferKind::kUcx:
          return 0;
        default:
          return b;  // the device side (the host side is pinned host memory)
      }
    }
  };
  return SaturatingBytes(std::visit(Visitor{caps}, shape) + flush);
}

Status CheckSupported(const perf::OpShape& shape, const DeviceCaps& caps) {
  RETURN_IF_ERROR(perf::Validate(shape));
  struct Visitor {
    const DeviceCaps& caps;
    Status operator()(const perf::GemmShape& g) const { return CheckGemmSupported(g, caps.cc); }
    Status operator()(const perf::AttnContextShape& a) const {
      return PlanContextAttention(a, caps).status();
    }
    Status operator()(const perf::AttnDecodeShape& a) const {
      return PlanDecodeAttention(a, caps).status();
    }
    Status operator()(const perf::MlaContextShape&) const { return Mla(); }
    Status operator()(const perf::MlaDecodeShape&) const { return Mla(); }
    Status operator()(const perf::CollectiveShape& c) const {
      return PlanCollective(c, caps).status();
    }
    Status operator()(const perf::TransferShape& t) const {
      if (t.kind == perf::TransferKind::kUcx) {
        return Status(StatusCode::kUnimplemented,
                      "UCX transfers are measured by the UCX transport (runtime), not by the "
                      "CUDA kernel backend");
      }
      if (t.kind == perf::TransferKind::kPeer && caps.device_count < 2) {
        return FailedPrecondition("a peer copy needs 2 CUDA devices; " +
                                  std::to_string(caps.device_count) + " visible");
      }
      return Status::Ok();
    }
    static Status Mla() {
      return Status(StatusCode::kUnimplemented,
                    "MLA kernels are not implemented in the CUDA backend (they need "
                    "FlashMLA-style kernels for 576-wide latent heads); import MLA tables "
                    "measured elsewhere");
    }
  };
  Status s = std::visit(Visitor{caps}, shape);
  if (!s.ok()) return s.WithContext(perf::Describe(shape));
  const int64_t need = DeviceFootprintBytes(shape, caps);
  const auto usable =
      static_cast<int64_t>(static_cast<double>(caps.free_memory_bytes) * kUsableMemoryFraction);
  if (need > usable) {
    return FailedPrecondition(perf::Describe(shape) + ": needs " + FormatBytes(need) +
                              " of device memory (inputs, outputs, workspace and the " +
                              FormatBytes(FlushBufferBytes(caps.l2_bytes)) +
                              " cache-flush buffer) but only " + FormatBytes(usable) +
                              " are usable (90% of the free memory); use a smaller shape");
  }
  return Status::Ok();
}

int PlanRepetitions(const MeasureOptions& options, double estimated_us) {
  int64_t reps = options.repetitions;
  if (estimated_us > 0 && options.max_total_us > 0) {
    const double by_budget = std::floor(options.max_total_us / estimated_us);
    if (by_budget < static_cast<double>(reps)) reps = static_cast<int64_t>(by_budget);
  }
  return static_cast<int>(std::max<int64_t>(reps, kMinRepetitions));
}

uint16_t FloatToBf16Bits(float value) {
  const auto bits = std::bit_cast<uint32_t>(value);
  if (std::isnan(value)) return static_cast<uint16_t>((bits >> 16) | 0x0040u);  // quiet NaN
  const uint32_t rounding = 0x7fffu + ((bits >> 16) & 1u);
  return static_cast<uint16_t>((bits + rounding) >> 16);
}

float Bf16BitsToFloat(uint16_t bits) {
  return std::bit_cast<float>(static_cast<uint32_t>(bits) << 16);
}

std::string FormatCudaVersion(int version) {
  return std::to_string(version / 1000) + "." + std::to_string((version % 1000) / 10);
}

std::string FormatLibraryVersion(int64_t version) {
  return std::to_string(version / 10000) + "." + std::to_string((version / 100) % 100) + "." +
         std::to_string(version % 100);
}

std::string FormatBytes(int64_t bytes) {
  char buf[96];
  std::snprintf(buf, sizeof(buf), "%.2f GiB (%lld bytes)",
                static_cast<double>(bytes) / static_cast<double>(int64_t{1} << 30),
                static_cast<long long>(bytes));
  return buf;
}

}  // namespace dynamo::profiler::gpu
