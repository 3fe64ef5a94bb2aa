#include "configurator/engine_flags.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "core/json.h"

namespace dynamo::configurator {
namespace {

using ::testing::Contains;
using ::testing::ElementsAre;
using ::testing::Not;

Plan MustLoad(const std::string& ref) {
  auto plan = LoadPlan(ref);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

Plan MustParse(const std::string& json) {
  auto root = JsonDocument::Parse(json, "plan.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto plan = ParsePlan(*root);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

// The value after `flag`, or "<absent>".
std::string ValueOf(const std::vector<std::string>& flags, const std::string& flag) {
  auto it = std::find(flags.begin(), flags.end(), flag);
  if (it == flags.end() || it + 1 == flags.end()) return "<absent>";
  return *(it + 1);
}

// An fp8 MoE plan with expert parallelism, no prefix caching, no chunked prefill,
// disaggregated.
Plan MoePlan() {
  return MustParse(R"({
    "model": "qwen3-235b-a22b", "system": {"gpu": "h200_sxm", "nodes": 2},
    "dtype": "fp8", "kv_dtype": "fp8",
    "workers": [
      {"role": "prefill", "tp": 8, "ep": 8, "max_num_seqs": 16, "max_num_batched_tokens": 16384,
       "block_size": 64, "gpu_memory_utilization": 0.85, "enable_prefix_caching": false,
       "enable_chunked_prefill": false},
      {"role": "decode", "tp": 8, "ep": 4, "max_num_seqs": 128}
    ]})");
}

TEST(EngineFlagsTest, VllmAggregated) {
  const Plan plan = MustLoad("llama70b_agg");
  EXPECT_THAT(EngineFlags(plan, plan.workers[0], Backend::kVllm),
              ElementsAre("--model", "meta-llama/Llama-3.1-70B-Instruct", "--tensor-parallel-size",
                          "4", "--pipeline-parallel-size", "1", "--max-num-seqs", "256",
                          "--max-num-batched-tokens", "8192", "--block-size", "16",
                          "--gpu-memory-utilization", "0.9", "--enable-prefix-caching",
                          "--enable-chunked-prefill"));
}

TEST(EngineFlagsTest, VllmDisaggregatedRoles) {
  const Plan plan = MustLoad("llama70b_disagg");
  const auto prefill = EngineFlags(plan, plan.workers[0], Backend::kVllm, "my/model");
  const auto decode = EngineFlags(plan, plan.workers[1], Backend::kVllm, "my/model");
  EXPECT_EQ(ValueOf(prefill, "--model"), "my/model");
  EXPECT_THAT(prefill, Contains("--is-prefill-worker"));
  EXPECT_THAT(decode, Not(Contains("--is-prefill-worker")));
  const std::string nixl = R"({"kv_connector":"NixlConnector","kv_role":"kv_both"})";
  EXPECT_EQ(ValueOf(prefill, "--kv-transfer-config"), nixl);
  EXPECT_EQ(ValueOf(decode, "--kv-transfer-config"), nixl);
  EXPECT_EQ(ValueOf(prefill, "--max-num-batched-tokens"), "16384");
  EXPECT_EQ(ValueOf(decode, "--tensor-parallel-size"), "4");
}

TEST(EngineFlagsTest, VllmMoeFp8AndSwitchesOff) {
  const Plan plan = MoePlan();
  const auto f = EngineFlags(plan, plan.workers[0], Backend::kVllm);
  EXPECT_EQ(ValueOf(f, "--model"), "Qwen/Qwen3-235B-A22B");
  EXPECT_THAT(f, Contains("--enable-expert-parallel"));
  EXPECT_THAT(f, Contains("--no-enable-prefix-caching"));
  EXPECT_THAT(f, Contains("--no-enable-chunked-prefill"));
  EXPECT_EQ(ValueOf(f, "--quantization"), "fp8");
  EXPECT_EQ(ValueOf(f, "--kv-cache-dtype"), "fp8");
  EXPECT_EQ(ValueOf(f, "--block-size"), "64");
  EXPECT_EQ(ValueOf(f, "--gpu-memory-utilization"), "0.85");
  // Dense plans never enable expert parallelism.
  const Plan dense = MustLoad("llama70b_agg");
  EXPECT_THAT(EngineFlags(dense, dense.workers[0], Backend::kVllm),
              Not(Contains("--enable-expert-parallel")));
}

TEST(EngineFlagsTest, Sglang) {
  const Plan plan = MustLoad("llama70b_disagg");
  const auto p = EngineFlags(plan, plan.workers[0], Backend::kSglang);
  EXPECT_EQ(p[0], "--model-path");
  EXPECT_EQ(ValueOf(p, "--tp-size"), "2");
  EXPECT_EQ(ValueOf(p, "--pp-size"), "1");
  EXPECT_EQ(ValueOf(p, "--max-running-requests"), "32");
  EXPECT_EQ(ValueOf(p, "--chunked-prefill-size"), "16384");
  EXPECT_EQ(ValueOf(p, "--page-size"), "16");
  EXPECT_EQ(ValueOf(p, "--disaggregation-mode"), "prefill");
  EXPECT_EQ(ValueOf(p, "--disaggregation-transfer-backend"), "nixl");
  EXPECT_THAT(p, Not(Contains("--disable-radix-cache")));
  EXPECT_EQ(ValueOf(EngineFlags(plan, plan.workers[1], Backend::kSglang), "--disaggregation-mode"),
            "decode");
  const Plan moe = MoePlan();
  const auto m = EngineFlags(moe, moe.workers[0], Backend::kSglang);
  EXPECT_EQ(ValueOf(m, "--ep-size"), "8");
  EXPECT_EQ(ValueOf(m, "--chunked-prefill-size"), "-1");
  EXPECT_THAT(m, Contains("--disable-radix-cache"));
  EXPECT_EQ(ValueOf(m, "--kv-cache-dtype"), "fp8_e4m3");
  EXPECT_EQ(ValueOf(m, "--quantization"), "fp8");
  EXPECT_EQ(ValueOf(EngineFlags(moe, moe.workers[1], Backend::kSglang), "--ep-size"), "4");
}

TEST(EngineFlagsTest, Trtllm) {
  const Plan plan = MustLoad("llama70b_agg");
  const auto a = EngineFlags(plan, plan.workers[0], Backend::kTrtllm);
  EXPECT_EQ(ValueOf(a, "--model"), "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(ValueOf(a, "--tensor-parallel-size"), "4");
  EXPECT_EQ(ValueOf(a, "--max-batch-size"), "256");
  EXPECT_EQ(ValueOf(a, "--max-num-tokens"), "8192");
  EXPECT_EQ(ValueOf(a, "--kv-block-size"), "16");
  EXPECT_EQ(ValueOf(a, "--override-engine-args"),
            R"({"enable_chunked_prefill":true,"kv_cache_config":{"enable_block_reuse":true}})");
  EXPECT_EQ(ValueOf(a, "--disaggregation-mode"), "<absent>");
  const Plan moe = MoePlan();
  const auto p = EngineFlags(moe, moe.workers[0], Backend::kTrtllm);
  EXPECT_EQ(ValueOf(p, "--expert-parallel-size"), "8");
  EXPECT_EQ(ValueOf(p, "--disaggregation-mode"), "prefill");
  EXPECT_EQ(ValueOf(p, "--override-engine-args"),
            R"({"enable_chunked_prefill":false,"kv_cache_config":{"enable_block_reuse":false,)"
            R"("dtype":"fp8"},"cache_transceiver_config":{"backend":"NIXL"}})");
}

// The memory fractions give each engine the KV capacity of the plan's memory model.
TEST(EngineFlagsTest, MemoryFractions) {
  const Plan plan = MustLoad("llama70b_agg");
  const WorkerPoolSpec& w = plan.workers[0];
  const perf::MemoryPlan& m = w.memory;
  ASSERT_GT(m.gpu_bytes, 0);
  EXPECT_DOUBLE_EQ(EngineMemoryFraction(w, Backend::kVllm), 0.9);
  const double sglang = EngineMemoryFraction(w, Backend::kSglang);
  EXPECT_NEAR(sglang,
              static_cast<double>(m.weight_bytes + m.kv_bytes + m.sliding_window_bytes) /
                  static_cast<double>(m.gpu_bytes),
              0.005);
  EXPECT_LT(sglang, 0.9);  // below vLLM's: activations and runtime are outside the static pool
  const double trt = EngineMemoryFraction(w, Backend::kTrtllm);
  EXPECT_GT(trt, 0.5);
  EXPECT_LE(trt, 1.0);
  // Without a memory plan: the pool's gpu_memory_utilization.
  WorkerPoolSpec bare;
  bare.gpu_memory_utilization = 0.8;
  EXPECT_DOUBLE_EQ(EngineMemoryFraction(bare, Backend::kSglang), 0.8);
}

TEST(EngineFlagsTest, BackendNames) {
  for (Backend b : {Backend::kVllm, Backend::kSglang, Backend::kTrtllm}) {
    auto parsed = ParseBackend(BackendName(b));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, b);
  }
  EXPECT_EQ(BackendModule(Backend::kTrtllm), "dynamo.trtllm");
  EXPECT_EQ(ParseBackend("tgi").status().message(),
            "--backend: \"tgi\" is not a backend; use vllm, sglang or trtllm");
}

}  // namespace
}  // namespace dynamo::configurator
