#include "core/hardware/gpu_spec.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "core/json.h"

namespace dynamo {
namespace {

TEST(GpuSpecTest, EveryCatalogGpuLoadsWithSourcesForEveryFigure) {
  const auto names = BundledGpuNames();
  for (const char* want : {"h100_sxm", "h200_sxm", "b200_sxm", "gb200", "a100_sxm_80g", "l40s"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), want), names.end()) << want;
  }
  for (const auto& n : names) {
    auto g = LoadGpu(n);
    ASSERT_TRUE(g.ok()) << n << ": " << g.status().message();
    EXPECT_EQ(g->name, n);
    EXPECT_GE(g->sources.size(), 8u) << n;
    for (const auto& [figure, source] : g->sources)
      EXPECT_FALSE(source.empty()) << n << " " << figure;
  }
}

TEST(GpuSpecTest, KeyFiguresAreSane) {
  auto h200 = *LoadGpu("h200_sxm");
  auto h100 = *LoadGpu("h100_sxm");
  EXPECT_GT(h200.memory_bytes, h100.memory_bytes);
  EXPECT_GT(h200.hbm_bandwidth_bytes_per_s, h100.hbm_bandwidth_bytes_per_s);
  EXPECT_DOUBLE_EQ(h200.bf16_tflops, h100.bf16_tflops);
  EXPECT_NEAR(h200.fp8_tflops / h200.bf16_tflops, 2.0, 0.01);
  EXPECT_EQ(h200.nvlink_domain_size, 8);
  EXPECT_EQ(LoadGpu("gb200")->nvlink_domain_size, 72);
  EXPECT_EQ(LoadGpu("l40s")->nvlink_bandwidth_bytes_per_s, 0);
  EXPECT_GT(LoadGpu("b200_sxm")->fp4_tflops, 0);
}

TEST(GpuSpecTest, DenseFlopsRefusesMissingTensorCores) {
  auto a100 = *LoadGpu("a100_sxm_80g");
  EXPECT_DOUBLE_EQ(*a100.DenseFlops(DType::kBf16), a100.bf16_tflops * 1e12);
  EXPECT_EQ(a100.DenseFlops(DType::kFp8).status().message(),
            "a100_sxm_80g has no fp8 tensor cores; use one of bf16");
  EXPECT_EQ(LoadGpu("h100_sxm")->DenseFlops(DType::kFp4).status().message(),
            "h100_sxm has no fp4 tensor cores; use one of bf16, fp8");
}

TEST(GpuSpecTest, FiguresWithoutSourcesAreRejected) {
  auto root = JsonDocument::Parse(R"({
    "name": "x", "architecture": "hopper",
    "memory_bytes": {"value": 8e10, "source": ""},
    "hbm_bandwidth_bytes_per_s": {"value": 3e12, "source": "s"}, "sm_count": {"value": 1, "source": "s"},
    "dense_tflops": {"bf16": {"value": 1, "source": "s"}},
    "pcie": {"bandwidth_bytes_per_s": {"value": 6e10, "source": "s"}},
    "nic": {"bandwidth_bytes_per_s": {"value": 5e10, "source": "s"}},
    "gpus_per_node": {"value": 8, "source": "s"}})",
                                  "x.json");
  ASSERT_TRUE(root.ok());
  EXPECT_EQ(GpuSpec::FromJson(*root).status().message(),
            "x.json: $.memory_bytes: empty 'source': every figure needs its public source");
}

TEST(GpuSpecTest, UnknownGpuListsTheCatalog) {
  auto g = LoadGpu("h300");
  EXPECT_EQ(g.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(g.status().message(),
            "unknown GPU 'h300'; bundled: a100_sxm_80g, b200_sxm, gb200, h100_sxm, h200_sxm, l40s; "
            "or give a path to a JSON file");
}

}  // namespace
}  // namespace dynamo
