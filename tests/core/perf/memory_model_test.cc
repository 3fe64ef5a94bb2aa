#include "core/perf/memory_model.h"

#include <gtest/gtest.h>

#include "core/model/model_catalog.h"

namespace dynamo::perf {
namespace {

constexpr double kGiB = 1 << 30;

TEST(MemoryModelTest, Llama8bOnH100) {
  const ModelSpec m = LoadModel("llama-3.1-8b").value();
  const GpuSpec g = LoadGpu("h100_sxm").value();
  auto plan = PlanMemory(m, g, {{1, 1, 1}, DType::kBf16, DType::kBf16, 0.9, 16, 8192, 256});
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  const MemoryPlan& p = plan.value();
  EXPECT_NEAR(p.weight_bytes / kGiB, 14.96, 0.1);  // 8.03B params in bf16
  EXPECT_GT(p.activation_bytes, 0);
  // Every byte of the budget is accounted for (up to one block of rounding).
  EXPECT_LE(p.weight_bytes + p.activation_bytes + p.runtime_bytes + p.kv_bytes, p.budget_bytes);
  EXPECT_GT(
      p.weight_bytes + p.activation_bytes + p.runtime_bytes + p.kv_bytes + p.kv_bytes_per_block,
      p.budget_bytes);
  // 128 KiB of KV per token (32 layers x 8 KV heads x 128 x 2 x 2 bytes).
  EXPECT_EQ(p.kv_bytes_per_block, 16 * 131072);
  EXPECT_EQ(p.kv_tokens(), p.kv_blocks * 16);
  EXPECT_GT(p.kv_tokens(), 300000);  // ~50 GiB of KV
  EXPECT_LT(p.kv_tokens(), 450000);
}

TEST(MemoryModelTest, MoreParallelismOrFp8KvGivesMoreKvTokens) {
  const ModelSpec m = LoadModel("llama-3.1-70b").value();
  const GpuSpec g = LoadGpu("h200_sxm").value();
  MemoryConfig c{{2, 1, 1}, DType::kBf16, DType::kBf16, 0.9, 16, 8192, 256};
  const int64_t tp2 = PlanMemory(m, g, c).value().kv_tokens();
  c.parallelism.tp = 4;
  const int64_t tp4 = PlanMemory(m, g, c).value().kv_tokens();
  c.kv_dtype = DType::kFp8;
  const int64_t tp4_fp8 = PlanMemory(m, g, c).value().kv_tokens();
  EXPECT_GT(tp4, 2 * tp2);  // half the weights per GPU and half the KV per token
  EXPECT_NEAR(static_cast<double>(tp4_fp8) / static_cast<double>(tp4), 2.0, 0.01);
}

TEST(MemoryModelTest, DoesNotFitSaysWhyAndTheFix) {
  const ModelSpec m = LoadModel("llama-3.1-70b").value();
  const GpuSpec g = LoadGpu("h100_sxm").value();
  auto plan = PlanMemory(m, g, {{1, 1, 1}, DType::kBf16, DType::kBf16, 0.9, 16, 8192, 256});
  ASSERT_FALSE(plan.ok());
  const std::string& msg = plan.status().message();
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(msg.find("does not fit on h100_sxm with tp 1"), std::string::npos) << msg;
  EXPECT_NE(msg.find("weights 131."), std::string::npos) << msg;
  EXPECT_NE(msg.find("use tp >= 2"), std::string::npos) << msg;
  EXPECT_NE(msg.find("fp8 weights"), std::string::npos) << msg;
}

TEST(MemoryModelTest, RejectsBadKnobs) {
  const ModelSpec m = LoadModel("llama-3.1-8b").value();
  const GpuSpec g = LoadGpu("h100_sxm").value();
  EXPECT_EQ(
      PlanMemory(m, g, {{1, 1, 1}, DType::kBf16, DType::kBf16, 1.5, 16, 8192, 256}).status().code(),
      StatusCode::kInvalidArgument);
  EXPECT_EQ(
      PlanMemory(m, g, {{1, 1, 1}, DType::kBf16, DType::kBf16, 0.9, 0, 8192, 256}).status().code(),
      StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace dynamo::perf
