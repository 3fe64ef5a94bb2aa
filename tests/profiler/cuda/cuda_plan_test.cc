// Host-side decisions of the CUDA backend; runs without a GPU.
#include "profiler/cuda/cuda_plan.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/hardware/gpu_spec.h"

namespace dynamo::profiler::gpu {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kMiB = int64_t{1} << 20;
constexpr int64_t kGiB = int64_t{1} << 30;

// sharedMemPerBlockOptin of real parts.
constexpr int64_t kH100Smem = 232448;  // 227 KiB
constexpr int64_t kA100Smem = 166912;  // 163 KiB
constexpr int64_t kL40sSmem = 101376;  // 99 KiB

DeviceCaps H200() {
  DeviceCaps c;
  c.cc = {9, 0};
  c.device_count = 1;
  c.sm_count = 132;
  c.max_smem_per_block_bytes = kH100Smem;
  c.l2_bytes = 60 * kMiB;
  c.free_memory_bytes = 140 * kGiB;
  c.nccl_available = true;
  return c;
}

DeviceCaps A100() {
  DeviceCaps c = H200();
  c.cc = {8, 0};
  c.sm_count = 108;
  c.max_smem_per_block_bytes = kA100Smem;
  c.l2_bytes = 40 * kMiB;
  c.free_memory_bytes = 79 * kGiB;
  return c;
}

DeviceCaps L40s() {
  DeviceCaps c = H200();
  c.cc = {8, 9};
  c.sm_count = 142;
  c.max_smem_per_block_bytes = kL40sSmem;
  c.l2_bytes = 96 * kMiB;
  c.free_memory_bytes = 44 * kGiB;
  return c;
}

// ---- Device names ----------------------------------------------------------------------------

TEST(CatalogGpuForDeviceName, MapsTheCatalogParts) {
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA H200"), "h200_sxm");
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA H100 80GB HBM3"), "h100_sxm");
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA B200"), "b200_sxm");
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA A100-SXM4-80GB"), "a100_sxm_80g");
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA L40S"), "l40s");
  EXPECT_EQ(CatalogGpuForDeviceName("NVIDIA GB200"), "gb200");
}

TEST(CatalogGpuForDeviceName, ToleratesCaseAndSurroundingSpace) {
  EXPECT_EQ(CatalogGpuForDeviceName("  nvidia h200 \n"), "h200_sxm");
}

TEST(CatalogGpuForDeviceName, OtherVariantsStayUnmapped) {
  for (const char* name : {"NVIDIA H100 PCIe", "NVIDIA H200 NVL", "NVIDIA A100-SXM4-40GB",
                           "NVIDIA A100 80GB PCIe", "Tesla T4", "NVIDIA H20", ""}) {
    EXPECT_EQ(CatalogGpuForDeviceName(name), "") << name;
  }
}

TEST(CatalogGpuForDeviceName, EveryMappedNameIsInTheCatalog) {
  for (const char* name : {"NVIDIA H200", "NVIDIA H100 80GB HBM3", "NVIDIA B200",
                           "NVIDIA A100-SXM4-80GB", "NVIDIA L40S", "NVIDIA GB200"}) {
    const std::string catalog = CatalogGpuForDeviceName(name);
    StatusOr<GpuSpec> spec = LoadGpu(catalog);
    ASSERT_TRUE(spec.ok()) << catalog << ": " << spec.status().message();
    EXPECT_EQ(spec->name, catalog);
  }
}

// ---- GEMM dtypes -----------------------------------------------------------------------------

perf::GemmShape Gemm(DType d, int64_t m = 4096, int64_t n = 4096, int64_t k = 4096) {
  perf::GemmShape g;
  g.dtype = d;
  g.m = m;
  g.n = n;
  g.k = k;
  return g;
}

TEST(CheckGemmSupported, Bf16Fp16AndTf32RunOnAmpereAndLater) {
  for (ComputeCapability cc : {ComputeCapability{8, 0}, {8, 9}, {9, 0}, {10, 0}}) {
    for (DType d : {DType::kBf16, DType::kFp16, DType::kFp32}) {
      EXPECT_TRUE(CheckGemmSupported(Gemm(d), cc).ok()) << DTypeName(d) << " sm_" << cc.Value();
    }
  }
}

TEST(CheckGemmSupported, PreAmpereIsRejectedWithTheReason) {
  const Status s = CheckGemmSupported(Gemm(DType::kBf16), {7, 5});
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr("8.0"));
  EXPECT_THAT(s.message(), HasSubstr("sm_75"));
}

TEST(CheckGemmSupported, Fp8NeedsSm89) {
  for (ComputeCapability cc : {ComputeCapability{8, 0}, {8, 6}}) {
    const Status s = CheckGemmSupported(Gemm(DType::kFp8), cc);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.message(), HasSubstr("8.9"));
  }
  for (ComputeCapability cc : {ComputeCapability{8, 9}, {9, 0}, {10, 0}}) {
    EXPECT_TRUE(CheckGemmSupported(Gemm(DType::kFp8), cc).ok()) << cc.Value();
  }
}

TEST(CheckGemmSupported, Fp8NeedsAlignedKAndN) {
  EXPECT_TRUE(CheckGemmSupported(Gemm(DType::kFp8, /*m=*/1, 4096, 4096), {9, 0}).ok());
  const Status bad_k = CheckGemmSupported(Gemm(DType::kFp8, 16, 4096, 100), {9, 0});
  EXPECT_THAT(bad_k.message(), HasSubstr("multiples of 16"));
  EXPECT_THAT(bad_k.message(), HasSubstr("k=100"));
  EXPECT_FALSE(CheckGemmSupported(Gemm(DType::kFp8, 16, 4100, 4096), {9, 0}).ok());
}

TEST(CheckGemmSupported, Fp4IsNotSupportedAnywhere) {
  for (ComputeCapability cc : {ComputeCapability{9, 0}, {10, 0}}) {
    const Status s = CheckGemmSupported(Gemm(DType::kFp4), cc);
    EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
    EXPECT_THAT(s.message(), HasSubstr("fp4"));
  }
}

TEST(GemmOutputDType, Fp8WritesBf16) {
  EXPECT_EQ(GemmOutputDType(DType::kFp8), DType::kBf16);
  EXPECT_EQ(GemmOutputDType(DType::kBf16), DType::kBf16);
  EXPECT_EQ(GemmOutputDType(DType::kFp16), DType::kFp16);
  EXPECT_EQ(GemmOutputDType(DType::kFp32), DType::kFp32);
}

// ---- Context attention geometry --------------------------------------------------------------

perf::AttnContextShape Context(int64_t head_dim, int64_t q_len = 1000, int64_t kv_len = 3000,
                               int64_t heads = 32, int64_t kv_heads = 8, int64_t batch = 2) {
  perf::AttnContextShape a;
  a.batch = batch;
  a.q_len = q_len;
  a.kv_len = kv_len;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.head_dim = head_dim;
  return a;
}

void ExpectLayoutConsistent(const ContextAttnGeometry& g) {
  const ContextSmemLayout& l = g.smem;
  // WMMA: bf16 leading dimensions in multiples of 8 elements, fp32 in multiples of 4.
  EXPECT_EQ(l.ld_qkv % 8, 0);
  EXPECT_EQ(l.ld_p % 8, 0);
  EXPECT_EQ(l.ld_s % 4, 0);
  EXPECT_EQ(l.ld_o % 4, 0);
  EXPECT_GE(l.ld_qkv, g.head_dim);
  EXPECT_GE(l.ld_o, g.head_dim);
  EXPECT_GE(l.ld_s, g.block_n);
  EXPECT_GE(l.ld_p, g.block_n);
  // Regions in order, aligned, each large enough for its rows.
  struct Region {
    int64_t offset, bytes;
  };
  const Region regions[] = {
      {l.q, int64_t{g.block_m} * l.ld_qkv * 2}, {l.k, int64_t{g.block_n} * l.ld_qkv * 2},
      {l.v, int64_t{g.block_n} * l.ld_qkv * 2}, {l.s, int64_t{g.block_m} * l.ld_s * 4},
      {l.p, int64_t{g.block_m} * l.ld_p * 2},   {l.o, int64_t{g.block_m} * l.ld_o * 4},
      {l.row_max, int64_t{g.block_m} * 4},      {l.row_sum, int64_t{g.block_m} * 4},
  };
  int64_t end = 0;
  for (const Region& r : regions) {
    EXPECT_EQ(r.offset % kSmemAlign, 0);
    EXPECT_GE(r.offset, end) << "regions overlap";
    end = r.offset + r.bytes;
  }
  EXPECT_GE(l.total, end);
  EXPECT_EQ(g.threads, g.block_m / 16 * 32);
  EXPECT_EQ(g.block_m % 16, 0);
  EXPECT_EQ(g.block_n % 32, 0);
}

TEST(PlanContextAttention, GeometryIsConsistentForEveryHeadDimAndDevice) {
  for (const DeviceCaps& caps : {H200(), A100(), L40s()}) {
    for (int d : kAttnHeadDims) {
      for (int64_t q_len : {1, 63, 64, 65, 1000, 8192}) {
        const perf::AttnContextShape shape = Context(d, q_len, q_len + 500);
        StatusOr<ContextAttnGeometry> g = PlanContextAttention(shape, caps);
        ASSERT_TRUE(g.ok()) << g.status().message();
        EXPECT_EQ(g->head_dim, d);
        EXPECT_LE(g->smem.total, caps.max_smem_per_block_bytes);
        // The grid covers every query tile, and no tile is empty.
        EXPECT_GE(g->grid_x * g->block_m, q_len);
        EXPECT_LT((g->grid_x - 1) * g->block_m, q_len);
        EXPECT_EQ(g->grid_y, shape.heads);
        EXPECT_EQ(g->grid_z, shape.batch);
        ExpectLayoutConsistent(*g);
      }
    }
  }
}

TEST(PlanContextAttention, PicksTheLargestTileThatFits) {
  auto tile = [](int d, const DeviceCaps& caps) {
    StatusOr<ContextAttnGeometry> g = PlanContextAttention(Context(d), caps);
    EXPECT_TRUE(g.ok()) << g.status().message();
    return g.ok() ? std::make_pair(g->block_m, g->block_n) : std::make_pair(0, 0);
  };
  EXPECT_EQ(tile(128, H200()), std::make_pair(64, 64));
  EXPECT_EQ(tile(256, H200()), std::make_pair(64, 64));
  EXPECT_EQ(tile(128, A100()), std::make_pair(64, 64));
  EXPECT_EQ(tile(256, A100()), std::make_pair(64, 32));
  EXPECT_EQ(tile(128, L40s()), std::make_pair(64, 32));
  EXPECT_EQ(tile(256, L40s()), std::make_pair(32, 32));
}

TEST(PlanContextAttention, ReportsTheSharedMemoryShortfall) {
  DeviceCaps caps = H200();
  caps.max_smem_per_block_bytes = 48 * 1024;
  const Status s = PlanContextAttention(Context(256), caps).status();
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(std::to_string(ContextSmemFor(256, 32, 32).total)));
  EXPECT_THAT(s.message(), HasSubstr("49152"));
}

TEST(PlanContextAttention, RejectsUnsupportedHeadDimsAndDtypes) {
  const Status d96 = PlanContextAttention(Context(96), H200()).status();
  EXPECT_THAT(d96.message(), HasSubstr("head_dim 96"));
  EXPECT_THAT(d96.message(), HasSubstr("64, 128 or 256"));

  perf::AttnContextShape fp8_kv = Context(128);
  fp8_kv.kv_dtype = DType::kFp8;
  EXPECT_THAT(PlanContextAttention(fp8_kv, H200()).status().message(),
              HasSubstr("attn_decode only"));

  perf::AttnContextShape fp16 = Context(128);
  fp16.dtype = DType::kFp16;
  EXPECT_THAT(PlanContextAttention(fp16, H200()).status().message(), HasSubstr("bf16"));

  EXPECT_FALSE(PlanContextAttention(Context(128, 10, 10, 70000, 1), H200()).ok());
  DeviceCaps turing = H200();
  turing.cc = {7, 5};
  EXPECT_THAT(PlanContextAttention(Context(128), turing).status().message(), HasSubstr("8.0"));
}

// ---- Decode attention geometry and page tables -----------------------------------------------

perf::AttnDecodeShape Decode(int64_t batch, int64_t kv_len, int64_t heads = 32,
                             int64_t kv_heads = 8, int64_t head_dim = 128) {
  perf::AttnDecodeShape a;
  a.batch = batch;
  a.kv_len = kv_len;
  a.heads = heads;
  a.kv_heads = kv_heads;
  a.head_dim = head_dim;
  return a;
}

TEST(PlanDecodeAttention, SplitsCoverEveryKeyWithoutEmptySplits) {
  for (int64_t batch : {1, 2, 8, 64, 512}) {
    for (int64_t kv_len : {1, 15, 16, 17, 255, 256, 1000, 4096, 131072}) {
      StatusOr<DecodeGeometry> g = PlanDecodeAttention(Decode(batch, kv_len), H200());
      ASSERT_TRUE(g.ok()) << g.status().message();
      EXPECT_GE(g->splits, 1);
      EXPECT_LE(g->splits, kMaxSplits);
      EXPECT_EQ(g->keys_per_split % kPageTokens, 0);
      EXPECT_GE(g->splits * g->keys_per_split, kv_len) << batch << " " << kv_len;
      EXPECT_LT((g->splits - 1) * g->keys_per_split, kv_len) << batch << " " << kv_len;
      EXPECT_EQ(g->blocks_per_seq, (kv_len + kPageTokens - 1) / kPageTokens);
      EXPECT_EQ(g->num_pages, batch * g->blocks_per_seq);
      EXPECT_EQ(g->grid_x, g->splits);
      EXPECT_EQ(g->threads, kDecodeWarps * 32);
    }
  }
}

TEST(PlanDecodeAttention, SplitsOnlyWhenTheGridIsSmall) {
  // 512 x 32 blocks already fill 132 SMs.
  EXPECT_EQ(PlanDecodeAttention(Decode(512, 8192), H200())->splits, 1);
  // One sequence of 32 heads with a long context: split up to 2 blocks per SM.
  const DecodeGeometry g = *PlanDecodeAttention(Decode(1, 131072), H200());
  EXPECT_GE(g.splits * 32, 2 * 132);
  // Short contexts keep at least kMinKeysPerSplit keys per split.
  EXPECT_EQ(PlanDecodeAttention(Decode(1, 200), H200())->splits, 1);
  EXPECT_GE(PlanDecodeAttention(Decode(1, 1024), H200())->keys_per_split, kMinKeysPerSplit);
}

TEST(PlanDecodeAttention, KvDtypes) {
  perf::AttnDecodeShape fp8 = Decode(4, 1024);
  fp8.kv_dtype = DType::kFp8;
  EXPECT_TRUE(PlanDecodeAttention(fp8, A100()).ok());
  perf::AttnDecodeShape fp4 = fp8;
  fp4.kv_dtype = DType::kFp4;
  EXPECT_THAT(PlanDecodeAttention(fp4, H200()).status().message(), HasSubstr("fp4"));
  EXPECT_THAT(PlanDecodeAttention(Decode(1, 10, 8, 8, 80), H200()).status().message(),
              HasSubstr("head_dim 80"));
}

TEST(BuildBlockTable, DistinctPagesCoveringEverySequence) {
  const int64_t batch = 7;
  const int64_t kv_len = 1001;
  const int64_t blocks = (kv_len + kPageTokens - 1) / kPageTokens;
  const std::vector<int32_t> table = BuildBlockTable(batch, blocks, 42);
  ASSERT_EQ(static_cast<int64_t>(table.size()), batch * blocks);
  std::set<int32_t> seen(table.begin(), table.end());
  EXPECT_EQ(static_cast<int64_t>(seen.size()), batch * blocks) << "duplicate page ids";
  EXPECT_EQ(*seen.begin(), 0);
  EXPECT_EQ(*seen.rbegin(), batch * blocks - 1);
  // Scattered, not the identity.
  int64_t in_place = 0;
  for (size_t i = 0; i < table.size(); ++i) in_place += table[i] == static_cast<int32_t>(i);
  EXPECT_LT(in_place, static_cast<int64_t>(table.size()) / 4);
}

TEST(BuildBlockTable, DeterministicPerSeed) {
  EXPECT_EQ(BuildBlockTable(3, 50, 7), BuildBlockTable(3, 50, 7));
  EXPECT_NE(BuildBlockTable(3, 50, 7), BuildBlockTable(3, 50, 8));
  EXPECT_TRUE(BuildBlockTable(0, 5, 1).empty());
  EXPECT_EQ(BuildBlockTable(1, 1, 1), std::vector<int32_t>{0});
}

// ---- Collectives -----------------------------------------------------------------------------

perf::CollectiveShape Coll(perf::Collective op, int64_t gpus, int64_t bytes,
                           DType d = DType::kBf16) {
  perf::CollectiveShape c;
  c.op = op;
  c.gpus = gpus;
  c.bytes = bytes;
  c.dtype = d;
  return c;
}

DeviceCaps EightGpus() {
  DeviceCaps c = H200();
  c.device_count = 8;
  return c;
}

TEST(PlanCollective, CountsFollowNcclTestsSizes) {
  const int64_t bytes = 64 * kMiB;
  const CollectiveCounts ar =
      *PlanCollective(Coll(perf::Collective::kAllReduce, 8, bytes), EightGpus());
  EXPECT_EQ(ar.elem_bytes, 2);
  EXPECT_EQ(ar.send_count, bytes / 2);
  EXPECT_EQ(ar.recv_count, bytes / 2);
  EXPECT_EQ(ar.send_bytes_per_rank, bytes);
  EXPECT_EQ(ar.recv_bytes_per_rank, bytes);

  const CollectiveCounts ag =
      *PlanCollective(Coll(perf::Collective::kAllGather, 8, bytes), EightGpus());
  EXPECT_EQ(ag.send_count, bytes / 2 / 8);
  EXPECT_EQ(ag.recv_count, bytes / 2);
  EXPECT_EQ(ag.send_bytes_per_rank, bytes / 8);
  EXPECT_EQ(ag.recv_bytes_per_rank, bytes);

  const CollectiveCounts rs =
      *PlanCollective(Coll(perf::Collective::kReduceScatter, 8, bytes, DType::kFp32), EightGpus());
  EXPECT_EQ(rs.elem_bytes, 4);
  EXPECT_EQ(rs.send_count, bytes / 4);
  EXPECT_EQ(rs.recv_count, bytes / 4 / 8);
  EXPECT_EQ(rs.recv_bytes_per_rank, bytes / 8);

  const CollectiveCounts a2a =
      *PlanCollective(Coll(perf::Collective::kAllToAll, 4, bytes), EightGpus());
  EXPECT_EQ(a2a.send_count, bytes / 2 / 4);  // per peer
  EXPECT_EQ(a2a.send_count * a2a.elem_bytes * 4, a2a.send_bytes_per_rank);
  EXPECT_EQ(a2a.recv_bytes_per_rank, bytes);
}

TEST(PlanCollective, GroupChecks) {
  const Status too_many =
      PlanCollective(Coll(perf::Collective::kAllReduce, 4, 1024), H200()).status();
  EXPECT_EQ(too_many.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(too_many.message(), HasSubstr("gpus 4 but only 1"));

  DeviceCaps no_nccl = EightGpus();
  no_nccl.nccl_available = false;
  EXPECT_THAT(
      PlanCollective(Coll(perf::Collective::kAllReduce, 2, 1024), no_nccl).status().message(),
      HasSubstr("NCCL"));

  EXPECT_THAT(
      PlanCollective(Coll(perf::Collective::kAllReduce, 2, 1023), EightGpus()).status().message(),
      HasSubstr("not a multiple of 2"));
  EXPECT_THAT(
      PlanCollective(Coll(perf::Collective::kAllGather, 8, 1000), EightGpus()).status().message(),
      HasSubstr("not a multiple of 16"));
}

TEST(PlanCollective, Dtypes) {
  DeviceCaps ampere = A100();
  ampere.device_count = 8;
  EXPECT_THAT(PlanCollective(Coll(perf::Collective::kAllReduce, 2, 1024, DType::kFp8), ampere)
                  .status()
                  .message(),
              HasSubstr("9.0"));
  EXPECT_TRUE(
      PlanCollective(Coll(perf::Collective::kAllReduce, 2, 1024, DType::kFp8), EightGpus()).ok());
  EXPECT_FALSE(
      PlanCollective(Coll(perf::Collective::kAllReduce, 2, 1024, DType::kFp4), EightGpus()).ok());
}

// ---- Memory ----------------------------------------------------------------------------------

TEST(FlushBufferBytes, TwiceTheL2RoundedToMiB) {
  EXPECT_EQ(FlushBufferBytes(50 * kMiB), 100 * kMiB);
  EXPECT_EQ(FlushBufferBytes(40 * kMiB + 1), 81 * kMiB);
  EXPECT_EQ(FlushBufferBytes(0), 8 * kMiB);
  EXPECT_EQ(FlushBufferBytes(1 * kMiB), 8 * kMiB);
  for (int64_t l2 : {6 * kMiB, 40 * kMiB, 50 * kMiB, 60 * kMiB, 96 * kMiB, 126 * kMiB}) {
    EXPECT_GT(FlushBufferBytes(l2), l2);
    EXPECT_EQ(FlushBufferBytes(l2) % kMiB, 0);
  }
}

TEST(DeviceFootprintBytes, Arithmetic) {
  const DeviceCaps caps = H200();  // flush buffer 120 MiB
  const int64_t flush = 120 * kMiB;
  EXPECT_EQ(DeviceFootprintBytes(Gemm(DType::kBf16, 1024, 2048, 4096), caps),
            1024 * 4096 * 2 + 2048 * 4096 * 2 + 1024 * 2048 * 2 + kGemmWorkspaceBytes + flush);
  EXPECT_EQ(DeviceFootprintBytes(Gemm(DType::kFp8, 1024, 2048, 4096), caps),
            1024 * 4096 + 2048 * 4096 + 1024 * 2048 * 2 + kGemmWorkspaceBytes + flush);

  // Q and O [2][1000][32][128] bf16, K and V [2][3000][8][128] bf16.
  EXPECT_EQ(DeviceFootprintBytes(Context(128), caps),
            2 * (2 * 1000 * 32 * 128 * 2) + 2 * (2 * 3000 * 8 * 128 * 2) + flush);

  // 512 sequences need no split: Q, O, two caches of whole pages, the block table.
  const int64_t pages = 512 * ((1000 + 15) / 16);
  EXPECT_EQ(DeviceFootprintBytes(Decode(512, 1000), caps),
            2 * (512 * 32 * 128 * 2) + 2 * (pages * 16 * 8 * 128 * 2) + pages * 4 + flush);

  EXPECT_EQ(DeviceFootprintBytes(Coll(perf::Collective::kAllGather, 8, 64 * kMiB), EightGpus()),
            64 * kMiB / 8 + 64 * kMiB + flush);
  perf::TransferShape d2d;
  d2d.kind = perf::TransferKind::kD2D;
  d2d.bytes = kGiB;
  EXPECT_EQ(DeviceFootprintBytes(d2d, caps), 2 * kGiB + flush);
  perf::TransferShape h2d = d2d;
  h2d.kind = perf::TransferKind::kH2D;
  EXPECT_EQ(DeviceFootprintBytes(h2d, caps), kGiB + flush);
}

TEST(DeviceFootprintBytes, HugeShapesSaturateInsteadOfOverflowing) {
  EXPECT_EQ(
      DeviceFootprintBytes(Gemm(DType::kFp32, int64_t{1} << 40, int64_t{1} << 40, 1 << 20), H200()),
      std::numeric_limits<int64_t>::max());
}

// ---- Supports --------------------------------------------------------------------------------

TEST(CheckSupported, RefusesShapesThatDoNotFitWithTheByteFigure) {
  DeviceCaps caps = H200();
  caps.free_memory_bytes = kGiB;
  const perf::GemmShape g = Gemm(DType::kBf16, 16384, 16384, 16384);  // 1.5 GiB + workspace
  const Status s = CheckSupported(g, caps);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_THAT(s.message(), HasSubstr(std::to_string(DeviceFootprintBytes(g, caps)) + " bytes"));
  EXPECT_THAT(s.message(), HasSubstr("gemm bf16"));
  EXPECT_THAT(s.message(), HasSubstr("usable"));
  caps.free_memory_bytes = 4 * kGiB;
  EXPECT_TRUE(CheckSupported(g, caps).ok());
}

TEST(CheckSupported, ReasonsNameTheShape) {
  const Status s = CheckSupported(Gemm(DType::kFp8), A100());
  EXPECT_THAT(s.message(), HasSubstr("gemm fp8"));
  EXPECT_THAT(s.message(), HasSubstr("8.9"));
  EXPECT_EQ(CheckSupported(perf::MlaDecodeShape{}, H200()).code(), StatusCode::kUnimplemented);
  EXPECT_EQ(CheckSupported(perf::MlaContextShape{}, H200()).code(), StatusCode::kUnimplemented);

  perf::TransferShape ucx;
  ucx.kind = perf::TransferKind::kUcx;
  ucx.transport = "rc";
  ucx.bytes = 1024;
  EXPECT_THAT(CheckSupported(ucx, H200()).message(), HasSubstr("UCX transport"));
  perf::TransferShape peer = ucx;
  peer.kind = perf::TransferKind::kPeer;
  EXPECT_THAT(CheckSupported(peer, H200()).message(), HasSubstr("2 CUDA devices"));
  EXPECT_TRUE(CheckSupported(peer, EightGpus()).ok());
  EXPECT_FALSE(CheckSupported(Coll(perf::Collective::kAllReduce, 2, 1024), H200()).ok());
  EXPECT_TRUE(CheckSupported(Coll(perf::Collective::kAllReduce, 2, 1024), EightGpus()).ok());
}

TEST(CheckSupported, InvalidShapesFailValidation) {
  EXPECT_EQ(CheckSupported(Gemm(DType::kBf16, 0, 1, 1), H200()).code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(CheckSupported(Context(128, 100, 50), H200()).code(), StatusCode::kInvalidArgument);
}

// ---- Repetitions, versions, bf16 -------------------------------------------------------------

TEST(PlanRepetitions, BudgetAndFloor) {
  MeasureOptions o;
  o.repetitions = 10;
  o.max_total_us = 1000;
  EXPECT_EQ(PlanRepetitions(o, 10), 10);   // 100 fit
  EXPECT_EQ(PlanRepetitions(o, 200), 5);   // 5 fit
  EXPECT_EQ(PlanRepetitions(o, 5000), 3);  // none fit: the floor
  EXPECT_EQ(PlanRepetitions(o, 0), 10);    // unknown estimate
  o.repetitions = 1;
  EXPECT_EQ(PlanRepetitions(o, 1), kMinRepetitions);
  o.repetitions = 100;
  o.max_total_us = 0;  // no budget
  EXPECT_EQ(PlanRepetitions(o, 1e9), 100);
}

TEST(Formatting, Versions) {
  EXPECT_EQ(FormatCudaVersion(13000), "13.0");
  EXPECT_EQ(FormatCudaVersion(12080), "12.8");
  EXPECT_EQ(FormatLibraryVersion(22809), "2.28.9");
  EXPECT_EQ(FormatLibraryVersion(130100), "13.1.0");
  EXPECT_EQ(FormatBytes(3 * kGiB / 2), "1.50 GiB (1610612736 bytes)");
}

TEST(Bf16, RoundsToNearestEven) {
  for (float v : {0.f, 1.f, -2.5f, 3.140625f, std::ldexp(1.f, -70), 65536.f}) {
    EXPECT_EQ(Bf16BitsToFloat(FloatToBf16Bits(v)), v) << v;  // representable in bf16
  }
  // 1 + 2^-8 is halfway between 1 and 1 + 2^-7: ties to the even mantissa (1).
  EXPECT_EQ(Bf16BitsToFloat(FloatToBf16Bits(1.f + std::ldexp(1.f, -8))), 1.f);
  EXPECT_EQ(Bf16BitsToFloat(FloatToBf16Bits(1.f + 3 * std::ldexp(1.f, -8))),
            1.f + std::ldexp(1.f, -6));
  EXPECT_TRUE(std::isnan(Bf16BitsToFloat(FloatToBf16Bits(std::nanf("")))));
  EXPECT_TRUE(std::isinf(Bf16BitsToFloat(FloatToBf16Bits(INFINITY))));
  // Relative error of rounding is at most half an ulp: 2^-8 (8 significant bits).
  for (float v = 0.001f; v < 1000.f; v *= 1.37f) {
    EXPECT_LE(std::fabs(Bf16BitsToFloat(FloatToBf16Bits(v)) - v), v * std::ldexp(1.f, -8));
  }
}

}  // namespace
}  // namespace dynamo::profiler::gpu
