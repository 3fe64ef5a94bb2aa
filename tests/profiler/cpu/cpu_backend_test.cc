#include "profiler/cpu/cpu_backend.h"

#include <gtest/gtest.h>

#include <cmath>
#include <string>

namespace dynamo::profiler {
namespace {

// Tiny shapes and budgets: these tests check the measuring logic, not the machine.
MeasureOptions Quick() {
  MeasureOptions o;
  o.warmup = 1;
  o.repetitions = 5;
  o.flush_cache = false;
  return o;
}

std::unique_ptr<KernelBackend> Make(int threads = 2) {
  auto b = MakeCpuBackend({.threads = threads});
  EXPECT_TRUE(b.ok()) << b.status().message();
  return std::move(b).value();
}

std::string Refusal(const KernelBackend& backend, const perf::OpShape& shape) {
  std::string why;
  EXPECT_FALSE(backend.Supports(shape, &why)) << perf::Describe(shape);
  return why;
}

TEST(CpuBackendTest, DeviceDescribesTheCpu) {
  const auto backend = Make(2);
  const DeviceInfo& d = backend->device();
  EXPECT_EQ(d.kind, "cpu");
  EXPECT_EQ(d.threads, 2);
  EXPECT_FALSE(d.cpu_model.empty());
  EXPECT_EQ(d.name, "cpu:" + d.cpu_model + ":2t");
  EXPECT_GT(d.memory_bytes, 0);
  EXPECT_EQ(d.library_versions.rfind("Eigen ", 0), 0u) << d.library_versions;
  EXPECT_EQ(d.peak_flops_fp32, 0);
  EXPECT_GT(Make(0)->device().threads, 0);  // 0: every hardware thread
}

TEST(CpuBackendTest, NegativeThreadsAreRejected) {
  auto b = MakeCpuBackend({.threads = -1});
  ASSERT_FALSE(b.ok());
  EXPECT_EQ(b.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(b.status().message(), "threads: -1 must be >= 0 (0: every hardware thread)");
}

TEST(CpuBackendTest, SupportsFp32KernelsAndExplainsTheRest) {
  const auto backend = Make();
  std::string why;
  EXPECT_TRUE(
      backend->Supports(perf::GemmShape{.dtype = DType::kFp32, .m = 8, .n = 8, .k = 8}, &why));
  EXPECT_TRUE(why.empty());
  EXPECT_TRUE(backend->Supports(
      perf::AttnContextShape{.dtype = DType::kFp32, .kv_dtype = DType::kFp32}, nullptr));
  EXPECT_TRUE(backend->Supports(
      perf::AttnDecodeShape{.dtype = DType::kFp32, .kv_dtype = DType::kFp32}, nullptr));
  EXPECT_TRUE(backend->Supports(perf::TransferShape{.kind = perf::TransferKind::kD2D, .bytes = 64},
                                nullptr));

  EXPECT_EQ(Refusal(*backend, perf::GemmShape{.dtype = DType::kFp8}),
            "the CPU backend computes fp32 only (got fp8); use --dtype fp32");
  EXPECT_EQ(Refusal(*backend, perf::AttnContextShape{.dtype = DType::kBf16}),
            "the CPU backend computes fp32 only (got bf16); use --dtype fp32");
  EXPECT_EQ(
      Refusal(*backend, perf::AttnDecodeShape{.dtype = DType::kFp32, .kv_dtype = DType::kFp8}),
      "the CPU backend stores the KV cache in fp32 only (got fp8); use --kv-dtype fp32");
  EXPECT_EQ(Refusal(*backend, perf::CollectiveShape{.gpus = 2, .bytes = 1024}),
            "allreduce over 2 GPUs: collectives need more than one GPU; the CPU backend has one "
            "process");
  EXPECT_EQ(Refusal(*backend, perf::TransferShape{.kind = perf::TransferKind::kH2D, .bytes = 64}),
            "no device on the CPU backend: h2d needs a GPU; the CPU backend measures d2d (a host "
            "memory copy) only");
  EXPECT_NE(Refusal(*backend, perf::MlaDecodeShape{.dtype = DType::kFp32}).find("no MLA kernels"),
            std::string::npos);
  // Invalid shapes are refused with Validate's reason.
  EXPECT_NE(Refusal(*backend, perf::GemmShape{.dtype = DType::kFp32, .m = 0}).find("m"),
            std::string::npos);
}

TEST(CpuBackendTest, RefusesShapesOverTheMemoryCap) {
  const auto backend = Make();
  auto* cpu = dynamic_cast<CpuBackend*>(backend.get());
  ASSERT_NE(cpu, nullptr);
  // Three square fp32 matrices of side s take 12 s^2 bytes; pick s just over the cap.
  const auto side =
      static_cast<int64_t>(std::sqrt(static_cast<double>(cpu->memory_cap_bytes()) / 12.0)) + 8;
  const std::string why =
      Refusal(*backend, perf::GemmShape{.dtype = DType::kFp32, .m = side, .n = side, .k = side});
  EXPECT_NE(why.find("bytes"), std::string::npos) << why;
  EXPECT_NE(why.find(std::to_string(cpu->memory_cap_bytes())), std::string::npos) << why;
  // Absurd sizes must not overflow into "fits".
  EXPECT_FALSE(backend->Supports(perf::AttnDecodeShape{.dtype = DType::kFp32,
                                                       .kv_dtype = DType::kFp32,
                                                       .batch = int64_t{1} << 40,
                                                       .kv_len = int64_t{1} << 40},
                                 nullptr));
}

TEST(CpuBackendTest, MeasureGemmGivesOrderedStatisticsThatGrowWithM) {
  const auto backend = Make();
  MeasureOptions o = Quick();
  o.repetitions = 7;
  auto small =
      backend->Measure(perf::GemmShape{.dtype = DType::kFp32, .m = 64, .n = 256, .k = 256}, o);
  auto large =
      backend->Measure(perf::GemmShape{.dtype = DType::kFp32, .m = 1024, .n = 256, .k = 256}, o);
  ASSERT_TRUE(small.ok()) << small.status().message();
  ASSERT_TRUE(large.ok()) << large.status().message();
  for (const perf::Timing& t : {*small, *large}) {
    EXPECT_GE(t.samples, 3);
    EXPECT_LE(t.samples, 7);
    EXPECT_GT(t.p10_us, 0);
    EXPECT_LE(t.p10_us, t.median_us);
    EXPECT_LE(t.median_us, t.p90_us);
  }
  // 16x the work.
  EXPECT_GT(large->median_us, small->median_us);
}

TEST(CpuBackendTest, MeasureStopsAtTheTimeBudgetButTakesThreeSamples) {
  const auto backend = Make();
  MeasureOptions o = Quick();
  o.repetitions = 1000;
  o.max_total_us = 1e-3;  // exceeded by the first call
  auto t = backend->Measure(perf::GemmShape{.dtype = DType::kFp32, .m = 32, .n = 32, .k = 32}, o);
  ASSERT_TRUE(t.ok()) << t.status().message();
  EXPECT_EQ(t->samples, 3);
}

TEST(CpuBackendTest, MeasuresAttentionAndCopiesWithCacheFlush) {
  const auto backend = Make();
  MeasureOptions o = Quick();
  o.repetitions = 3;
  o.flush_cache = true;
  const perf::OpShape shapes[] = {
      perf::AttnContextShape{.dtype = DType::kFp32,
                             .kv_dtype = DType::kFp32,
                             .batch = 2,
                             .q_len = 70,
                             .kv_len = 100,
                             .heads = 4,
                             .kv_heads = 2,
                             .head_dim = 32},
      perf::AttnDecodeShape{.dtype = DType::kFp32,
                            .kv_dtype = DType::kFp32,
                            .batch = 3,
                            .kv_len = 37,
                            .heads = 8,
                            .kv_heads = 1,
                            .head_dim = 64},
      perf::TransferShape{.kind = perf::TransferKind::kD2D, .bytes = 3 << 20},
  };
  for (const perf::OpShape& s : shapes) {
    auto t = backend->Measure(s, o);
    ASSERT_TRUE(t.ok()) << perf::Describe(s) << ": " << t.status().message();
    EXPECT_EQ(t->samples, 3) << perf::Describe(s);
    EXPECT_GT(t->median_us, 0) << perf::Describe(s);
  }
}

TEST(CpuBackendTest, MeasureRejectsInvalidAndUnsupportedShapes) {
  const auto backend = Make();
  auto invalid = backend->Measure(
      perf::AttnContextShape{
          .dtype = DType::kFp32, .kv_dtype = DType::kFp32, .q_len = 8, .kv_len = 4},
      Quick());
  ASSERT_FALSE(invalid.ok());
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(invalid.status().message().find("kv_len"), std::string::npos)
      << invalid.status().message();

  auto bf16 = backend->Measure(perf::GemmShape{.dtype = DType::kBf16}, Quick());
  ASSERT_FALSE(bf16.ok());
  EXPECT_EQ(bf16.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(bf16.status().message().find("fp32 only"), std::string::npos);
}

TEST(CpuBackendTest, HostOverheadHasLaunchAndSync) {
  const auto backend = Make();
  auto samples = backend->MeasureHostOverhead(Quick());
  ASSERT_TRUE(samples.ok()) << samples.status().message();
  bool launch = false, sync = false;
  for (const HostOverheadSample& s : *samples) {
    EXPECT_GT(s.timing.median_us, 0) << perf::HostOverheadName(s.kind);
    EXPECT_LE(s.timing.p10_us, s.timing.median_us);
    EXPECT_LE(s.timing.median_us, s.timing.p90_us);
    launch |= s.kind == perf::HostOverheadKind::kLaunch;
    sync |= s.kind == perf::HostOverheadKind::kSync;
  }
  EXPECT_TRUE(launch);
  EXPECT_TRUE(sync);
}

}  // namespace
}  // namespace dynamo::profiler
