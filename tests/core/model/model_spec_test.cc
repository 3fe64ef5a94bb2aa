#include "core/model/model_spec.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/json.h"
#include "core/model/model_catalog.h"

namespace dynamo {
namespace {

ModelSpec Load(const std::string& name) {
  auto m = LoadModel(name);
  EXPECT_TRUE(m.ok()) << m.status().message();
  return *m;
}

StatusOr<ModelSpec> FromText(const std::string& text) {
  ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(text, "config.json"));
  return ModelSpec::FromConfig(root, "test");
}

double RelErr(double got, double want) { return std::fabs(got - want) / want; }

TEST(ModelSpecTest, EveryBundledModelLoads) {
  const auto names = BundledModelNames();
  EXPECT_GE(names.size(), 7u);
  for (const auto& n : names) {
    auto m = LoadModel(n);
    EXPECT_TRUE(m.ok()) << n << ": " << m.status().message();
  }
}

// Published parameter counts (model cards / papers), within 1%.
TEST(ModelSpecTest, ParameterCountsMatchPublishedFigures) {
  struct Case {
    const char* name;
    double total, active;
  };
  for (const Case& c :
       {Case{"llama-3.1-8b", 8.03e9, 8.03e9}, Case{"llama-3.1-70b", 70.6e9, 70.6e9},
        Case{"qwen3-32b", 32.8e9, 32.8e9}, Case{"mixtral-8x7b", 46.7e9, 12.9e9},
        Case{"qwen3-235b-a22b", 235e9, 22e9}, Case{"qwen2.5-7b", 7.61e9, 7.61e9},
        Case{"qwen2.5-0.5b", 0.494e9, 0.494e9}, Case{"mistral-7b", 7.25e9, 7.25e9}}) {
    const ParamCounts p = Load(c.name).Params();
    EXPECT_LT(RelErr(p.total, c.total), 0.01) << c.name << " total " << p.total;
    EXPECT_LT(RelErr(p.active, c.active), 0.01) << c.name << " active " << p.active;
  }
}

TEST(ModelSpecTest, DeepSeekAndGptOssFollowTheirVendorsActiveConvention) {
  const ParamCounts ds = Load("deepseek-v3").Params();
  EXPECT_LT(RelErr(ds.total, 671e9), 0.01) << ds.total;
  // DeepSeek's "37B activated" excludes the embedding table: 36.63B here, and 37B is a rounded
  // figure (the same convention gives DeepSeek-V2 20.85B for its published 21B).
  EXPECT_LT(RelErr(ds.active_excl_embedding, 37e9), 0.011) << ds.active_excl_embedding;
  EXPECT_EQ(ds.active - ds.active_excl_embedding, ds.embedding);
  const ParamCounts oss = Load("gpt-oss-120b").Params();
  EXPECT_LT(RelErr(oss.total, 116.8e9), 0.01) << oss.total;
  EXPECT_LT(RelErr(oss.active_excl_embedding, 5.13e9), 0.01) << oss.active_excl_embedding;
}

TEST(ModelSpecTest, PartsAddUpToTheTotal) {
  for (const auto& n : BundledModelNames()) {
    const ParamCounts p = Load(n).Params();
    EXPECT_EQ(p.total, p.embedding + p.lm_head + p.attention + p.dense_mlp + p.routed_experts +
                           p.shared_experts + p.routers + p.norms)
        << n;
    EXPECT_LE(p.active, p.total) << n;
  }
}

TEST(ModelSpecTest, MoeLayerLayouts) {
  const ModelSpec ds = Load("deepseek-v3");
  EXPECT_FALSE(ds.IsMoeLayer(2));  // first_k_dense_replace = 3
  EXPECT_TRUE(ds.IsMoeLayer(3));
  EXPECT_EQ(ds.num_moe_layers(), 58);
  ASSERT_TRUE(ds.mla().has_value());
  EXPECT_EQ(ds.moe()->num_shared_experts, 1);
  EXPECT_EQ(Load("qwen3-235b-a22b").num_moe_layers(), 94);
  EXPECT_EQ(Load("mixtral-8x7b").num_moe_layers(), 32);
  EXPECT_EQ(Load("llama-3.1-8b").num_moe_layers(), 0);
}

TEST(ModelSpecTest, KvBytesPerToken) {
  // 2 (K and V) x layers x kv_heads x head_dim x 2 bytes.
  EXPECT_EQ(Load("llama-3.1-8b").KvBytesPerToken(DType::kBf16), 2 * 32 * 8 * 128 * 2);
  EXPECT_EQ(Load("llama-3.1-70b").KvBytesPerToken(DType::kBf16), 2 * 80 * 8 * 128 * 2);
  EXPECT_EQ(Load("llama-3.1-70b").KvBytesPerToken(DType::kFp8), 2 * 80 * 8 * 128);
  EXPECT_EQ(Load("qwen3-32b").KvBytesPerToken(DType::kBf16), 2 * 64 * 8 * 128 * 2);
  // MLA: compressed latent (512) + rope key (64) per layer.
  EXPECT_EQ(Load("deepseek-v3").KvBytesPerToken(DType::kBf16), 61 * (512 + 64) * 2);
  // GPT-OSS: only the 18 full-attention layers grow with the sequence; the 18 sliding layers
  // hold at most 128 tokens.
  const ModelSpec oss = Load("gpt-oss-120b");
  EXPECT_EQ(oss.KvBytesPerToken(DType::kBf16), 18 * 2 * 8 * 64 * 2);
  EXPECT_EQ(oss.SlidingWindowKvBytes(DType::kBf16), 18 * 2 * 8 * 64 * 2 * 128);
}

TEST(ModelSpecTest, KvBytesPerGpuSplitsHeadsAndReplicatesBeyondThem) {
  const ModelSpec m = Load("llama-3.1-70b");  // 8 KV heads, 80 layers
  const int64_t whole = m.KvBytesPerToken(DType::kBf16);
  EXPECT_EQ(m.KvBytesPerTokenPerGpu(DType::kBf16, {1, 1, 1}), whole);
  EXPECT_EQ(m.KvBytesPerTokenPerGpu(DType::kBf16, {8, 1, 1}), whole / 8);
  EXPECT_EQ(m.KvBytesPerTokenPerGpu(DType::kBf16, {16, 1, 1}), whole / 8);  // replicated
  EXPECT_EQ(m.KvBytesPerTokenPerGpu(DType::kBf16, {8, 2, 1}), whole / 16);
  const ModelSpec ds = Load("deepseek-v3");  // MLA latent is replicated across TP
  EXPECT_EQ(ds.KvBytesPerTokenPerGpu(DType::kBf16, {8, 1, 1}), 61 * 576 * 2);
}

TEST(ModelSpecTest, WeightBytesPerGpu) {
  const ModelSpec m = Load("llama-3.1-8b");
  const ParamCounts p = m.Params();
  const int64_t tp1 = m.WeightBytesPerGpu({1, 1, 1}, DType::kBf16);
  EXPECT_EQ(tp1, 2 * p.total);
  const int64_t tp2 = m.WeightBytesPerGpu({2, 1, 1}, DType::kBf16);
  EXPECT_LT(RelErr(2.0 * tp2, tp1), 0.001);  // only norms are replicated
  // fp8 stores linear layers in one byte; embedding and lm_head stay bf16.
  const int64_t fp8 = m.WeightBytesPerGpu({1, 1, 1}, DType::kFp8);
  EXPECT_EQ(fp8,
            p.total - p.embedding - p.lm_head - p.norms + 2 * (p.embedding + p.lm_head + p.norms));
  // Pipeline: the largest stage holds half the layers plus the embedding (or the lm_head).
  const int64_t pp2 = m.WeightBytesPerGpu({1, 2, 1}, DType::kBf16);
  EXPECT_GT(pp2, tp1 / 2);
  EXPECT_LT(pp2, tp1 / 2 + 2 * p.embedding);
  // DeepSeek-V3 in fp8 on 8 GPUs is ~84 GB per GPU (671B / 8 x 1 byte, plus bf16 parts).
  const int64_t ds = Load("deepseek-v3").WeightBytesPerGpu({8, 1, 8}, DType::kFp8);
  EXPECT_GT(ds, 80e9);
  EXPECT_LT(ds, 90e9);
}

TEST(ModelSpecTest, FlopsPerToken) {
  const ModelSpec m = Load("llama-3.1-8b");
  const ParamCounts p = m.Params();
  EXPECT_DOUBLE_EQ(m.MatmulFlopsPerToken(), 2.0 * (p.active - p.embedding - p.norms));
  // Attention: 2 x heads x (qk_dim + v_dim) x context per layer.
  EXPECT_DOUBLE_EQ(m.AttentionFlopsPerToken(1000), 32 * 2.0 * 32 * (128 + 128) * 1000);
  const ModelSpec oss = Load("gpt-oss-120b");  // sliding layers see at most 128 tokens
  EXPECT_DOUBLE_EQ(oss.AttentionFlopsPerToken(1000),
                   18 * 2.0 * 64 * 128 * 1000 + 18 * 2.0 * 64 * 128 * 128);
}

TEST(ModelSpecTest, ParallelismChecksExplainTheFix) {
  const ModelSpec m = Load("llama-3.1-70b");
  EXPECT_TRUE(m.CheckParallelism({8, 1, 1}).ok());
  EXPECT_TRUE(m.CheckParallelism({16, 1, 1}).ok());
  EXPECT_EQ(m.CheckParallelism({3, 1, 1}).message(),
            "tp: 3 does not divide 64 attention heads of llama-3.1-70b; use one of 1, 2, 4, 8, 16, "
            "32, 64");
  EXPECT_EQ(m.CheckParallelism({1, 1, 2}).message(),
            "ep: 2 needs a mixture-of-experts model; llama-3.1-70b is dense, use ep 1");
  EXPECT_EQ(m.CheckParallelism({1, 81, 1}).message(),
            "pp: 81 exceeds the 80 layers of llama-3.1-70b");
  EXPECT_EQ(m.CheckParallelism({0, 1, 1}).message(), "tp: 0 must be >= 1");
  const ModelSpec moe = Load("mixtral-8x7b");
  EXPECT_TRUE(moe.CheckParallelism({8, 1, 8}).ok());
  EXPECT_EQ(moe.CheckParallelism({4, 1, 8}).message(),
            "ep: 8 must divide tp 4 (experts are spread over the tensor-parallel group)");
  EXPECT_EQ(moe.CheckParallelism({8, 1, 3}).message(),
            "ep: 3 does not divide the 8 experts of mixtral-8x7b; use one of 1, 2, 4, 8");
}

TEST(ModelSpecTest, BadConfigsGetPreciseErrors) {
  EXPECT_EQ(FromText(R"({"architectures": ["BertModel"]})").status().message(),
            "config.json: $.architectures[0]: unsupported architecture \"BertModel\"; supported: "
            "LlamaForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, MistralForCausalLM, "
            "MixtralForCausalLM, Qwen3MoeForCausalLM, DeepseekV3ForCausalLM, GptOssForCausalLM");
  EXPECT_EQ(FromText(R"({"model_type": "llama", "num_hidden_layers": 2})").status().message(),
            "config.json: $: missing required field 'hidden_size'");
  EXPECT_EQ(FromText(R"({"model_type": "llama", "hidden_size": -5})").status().message(),
            "config.json: $.hidden_size: -5 is out of range; must be in [1, 1048576]");
  EXPECT_EQ(FromText(R"({"model_type": "llama", "hidden_size": 64, "num_hidden_layers": 2,
                         "num_attention_heads": 8, "num_key_value_heads": 3, "vocab_size": 10,
                         "intermediate_size": 128})")
                .status()
                .message(),
            "config.json: $: num_key_value_heads 3 does not divide num_attention_heads 8");
  EXPECT_EQ(FromText("[1, 2]").status().message(),
            "config.json: $: expected a config.json object, got [1,2]");
  EXPECT_EQ(LoadModel("llama-9").status().code(), StatusCode::kNotFound);
}

TEST(ModelSpecTest, NativeDtypeComesFromTheQuantizationConfig) {
  EXPECT_EQ(Load("deepseek-v3").native_dtype(), DType::kFp8);
  EXPECT_EQ(Load("gpt-oss-120b").native_dtype(), DType::kFp4);
  EXPECT_EQ(Load("llama-3.1-8b").native_dtype(), DType::kBf16);
}

TEST(ModelSpecTest, ShortNamesAreCaseInsensitiveAndPathsWork) {
  EXPECT_TRUE(LoadModel("Llama-3.1-8B").ok());
  auto by_path = LoadModel(std::string(DYNAMO_SOURCE_DIR) + "/data/models/qwen3-32b");
  ASSERT_TRUE(by_path.ok()) << by_path.status().message();
  EXPECT_EQ(by_path->architecture(), Architecture::kQwen3);
}

}  // namespace
}  // namespace dynamo
