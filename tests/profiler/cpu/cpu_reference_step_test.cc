#include "profiler/cpu/cpu_reference_step.h"

#include <gtest/gtest.h>

#include <string>

#include "core/json.h"

namespace dynamo::profiler {
namespace {

constexpr char kTinyDense[] = R"({
  "architectures": ["LlamaForCausalLM"],
  "hidden_size": 128,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "intermediate_size": 256,
  "vocab_size": 1000,
  "max_position_embeddings": 4096,
  "torch_dtype": "float32"
})";

constexpr char kTinyMoe[] = R"({
  "architectures": ["MixtralForCausalLM"],
  "hidden_size": 128,
  "num_hidden_layers": 2,
  "num_attention_heads": 4,
  "num_key_value_heads": 2,
  "intermediate_size": 256,
  "num_local_experts": 4,
  "num_experts_per_tok": 2,
  "vocab_size": 1000
})";

ModelSpec Parse(const char* text, const std::string& name) {
  auto root = JsonDocument::Parse(text, name + ".json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto model = ModelSpec::FromConfig(*root, name);
  EXPECT_TRUE(model.ok()) << model.status().message();
  return *model;
}

MeasureOptions Quick() {
  MeasureOptions o;
  o.warmup = 1;
  o.repetitions = 3;
  o.flush_cache = false;
  return o;
}

TEST(CpuReferenceStepTest, TimesAMixedStepOfATinyDenseModel) {
  const ModelSpec model = Parse(kTinyDense, "tiny");
  ReferenceBatch batch;
  batch.prefill = {{70, 100}};  // a chunk after a 30-token prefix
  batch.decode_kv_lens = {1, 16, 17, 45};
  for (int64_t layers : {0, 1}) {
    auto t = TimeReferenceStep(model, layers, batch, 2, Quick());
    ASSERT_TRUE(t.ok()) << t.status().message();
    EXPECT_EQ(t->samples, 3);
    EXPECT_GT(t->median_us, 0);
    EXPECT_LE(t->p10_us, t->median_us);
    EXPECT_LE(t->median_us, t->p90_us);
  }
}

TEST(CpuReferenceStepTest, DecodeOnlyAndPrefillOnlyStepsRun) {
  const ModelSpec model = Parse(kTinyDense, "tiny");
  MeasureOptions o = Quick();
  o.flush_cache = true;
  ReferenceBatch decode_only;
  decode_only.decode_kv_lens = {33};
  auto d = TimeReferenceStep(model, 0, decode_only, 1, o);
  ASSERT_TRUE(d.ok()) << d.status().message();
  ReferenceBatch prefill_only;
  prefill_only.prefill = {{5, 5}, {20, 64}};
  auto p = TimeReferenceStep(model, 0, prefill_only, 2, o);
  ASSERT_TRUE(p.ok()) << p.status().message();
  EXPECT_GT(d->median_us, 0);
  EXPECT_GT(p->median_us, 0);
}

TEST(CpuReferenceStepTest, RejectsMoeModels) {
  ReferenceBatch batch;
  batch.decode_kv_lens = {8};
  auto t = TimeReferenceStep(Parse(kTinyMoe, "tiny-moe"), 0, batch, 1, Quick());
  ASSERT_FALSE(t.ok());
  EXPECT_EQ(t.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(t.status().message(),
            "model tiny-moe: the CPU reference step runs dense models only, and tiny-moe is a "
            "mixture of 4 experts; use a dense model (Llama, Qwen2, Qwen3, Mistral)");
}

TEST(CpuReferenceStepTest, RejectsEmptyAndInconsistentBatches) {
  const ModelSpec model = Parse(kTinyDense, "tiny");
  auto empty = TimeReferenceStep(model, 0, ReferenceBatch{}, 1, Quick());
  ASSERT_FALSE(empty.ok());
  EXPECT_EQ(empty.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(empty.status().message(),
            "empty batch: no prefill chunk and no decode sequence; give at least one");

  ReferenceBatch short_kv;
  short_kv.prefill = {{4, 4}, {8, 4}};
  auto s = TimeReferenceStep(model, 0, short_kv, 1, Quick());
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().message(),
            "prefill[1]: kv_len 4 is less than q_len 8; kv_len counts the cached prefix plus the "
            "chunk");

  ReferenceBatch zero_decode;
  zero_decode.decode_kv_lens = {3, 0};
  auto z = TimeReferenceStep(model, 0, zero_decode, 1, Quick());
  ASSERT_FALSE(z.ok());
  EXPECT_EQ(z.status().message(), "decode_kv_lens[1]: 0 must be >= 1 (the new token's key counts)");

  ReferenceBatch too_long;
  too_long.decode_kv_lens = {5000};
  auto l = TimeReferenceStep(model, 0, too_long, 1, Quick());
  ASSERT_FALSE(l.ok());
  EXPECT_EQ(l.status().code(), StatusCode::kInvalidArgument);

  ReferenceBatch ok;
  ok.decode_kv_lens = {3};
  auto layers = TimeReferenceStep(model, 3, ok, 1, Quick());
  ASSERT_FALSE(layers.ok());
  EXPECT_EQ(layers.status().message(),
            "layers: 3 is outside [0, 2] for model tiny (0: all layers)");
}

}  // namespace
}  // namespace dynamo::profiler
