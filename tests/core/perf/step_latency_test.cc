#include "core/perf/step_latency.h"

#include <gtest/gtest.h>

#include "core/model/model_catalog.h"

namespace dynamo::perf {
namespace {

std::shared_ptr<const PerfModel> Analytic(const std::string& gpu = "h100_sxm") {
  return std::make_shared<const PerfModel>(PerfModel::Analytic(LoadGpu(gpu).value()));
}

StepLatencyModel Make(const std::string& model, Parallelism p, DType w = DType::kBf16) {
  auto m = StepLatencyModel::Create(LoadModel(model).value(), {p, w, DType::kBf16}, Analytic());
  EXPECT_TRUE(m.ok()) << m.status().message();
  return std::move(m.value());
}

BatchComposition Decode(int64_t seqs, int64_t kv) { return {{}, seqs, seqs * kv}; }
BatchComposition Prefill(int64_t q, int64_t kv) { return {{{q, kv, true}}, 0, 0}; }

TEST(StepLatencyTest, GrowsWithBatchAndContext) {
  StepLatencyModel m = Make("llama-3.1-8b", {1, 1, 1});
  double last = 0;
  for (int64_t b : {1, 8, 64, 256}) {
    const double t = m.Evaluate(Decode(b, 2048)).total.seconds();
    EXPECT_GT(t, last) << b;
    last = t;
  }
  EXPECT_LT(m.Evaluate(Decode(32, 512)).total, m.Evaluate(Decode(32, 32768)).total);
  EXPECT_LT(m.Evaluate(Prefill(512, 512)).total, m.Evaluate(Prefill(4096, 4096)).total);
  // A cached prefix costs attention but saves the prompt's GEMMs.
  EXPECT_LT(m.Evaluate(Prefill(512, 4096)).total, m.Evaluate(Prefill(4096, 4096)).total);
  EXPECT_GT(m.Evaluate(Prefill(512, 4096)).breakdown.attention_us,
            m.Evaluate(Prefill(512, 512)).breakdown.attention_us);
}

TEST(StepLatencyTest, DecodeOfASmallBatchIsBoundByReadingTheWeights) {
  StepLatencyModel m = Make("llama-3.1-8b", {1, 1, 1});
  const StepCost& c = m.Evaluate(Decode(1, 1024));
  // 16 GB of bf16 weights at H100's 3.35 TB/s: >= 4.8 ms of GEMM time, well under 10 ms.
  EXPECT_GT(c.breakdown.gemm_us, 4800);
  EXPECT_LT(c.breakdown.gemm_us, 10000);
  EXPECT_GT(c.breakdown.host_us, 0);  // never a free step
  EXPECT_EQ(c.source, LatencySource::kAnalytic);
  EXPECT_EQ(c.total, c.pipeline_stage);  // pp 1
}

TEST(StepLatencyTest, TensorParallelismSplitsComputeAndAddsCommunication) {
  StepLatencyModel tp1 = Make("llama-3.1-70b", {1, 1, 1});
  StepLatencyModel tp4 = Make("llama-3.1-70b", {4, 1, 1});
  const StepCost a = tp1.Evaluate(Decode(64, 2048));
  const StepCost b = tp4.Evaluate(Decode(64, 2048));
  EXPECT_LT(b.total, a.total);
  EXPECT_NEAR(b.breakdown.gemm_us, a.breakdown.gemm_us / 4, a.breakdown.gemm_us * 0.1);
  EXPECT_EQ(a.breakdown.communication_us, 0);
  EXPECT_GT(b.breakdown.communication_us, 0);
}

TEST(StepLatencyTest, PipelineStagesSplitTheLayers) {
  StepLatencyModel pp1 = Make("llama-3.1-70b", {2, 1, 1});
  StepLatencyModel pp2 = Make("llama-3.1-70b", {2, 2, 1});
  const StepCost a = pp1.Evaluate(Prefill(2048, 2048));
  const StepCost b = pp2.Evaluate(Prefill(2048, 2048));
  // Same total work plus a hand-off; each stage does about half.
  EXPECT_GT(b.total, a.total);
  EXPECT_LT(b.pipeline_stage.seconds(), 0.6 * b.total.seconds());
}

TEST(StepLatencyTest, MoeAndMlaModelsAreCostedAndEpAddsAllToAll) {
  StepLatencyModel ds = Make("deepseek-v3", {8, 1, 1}, DType::kFp8);
  const StepCost c = ds.Evaluate(Decode(32, 4096));
  EXPECT_GT(c.breakdown.attention_us, 0);
  EXPECT_GT(c.breakdown.gemm_us, 0);
  StepLatencyModel ep = Make("qwen3-235b-a22b", {8, 1, 8}, DType::kFp8);
  StepLatencyModel no_ep = Make("qwen3-235b-a22b", {8, 1, 1}, DType::kFp8);
  EXPECT_NE(ep.Evaluate(Prefill(4096, 4096)).breakdown.communication_us,
            no_ep.Evaluate(Prefill(4096, 4096)).breakdown.communication_us);
  // Sliding-window layers (GPT-OSS) cap the attended context.
  StepLatencyModel oss = Make("gpt-oss-120b", {2, 1, 1});
  EXPECT_GT(oss.Evaluate(Decode(8, 65536)).total, oss.Evaluate(Decode(8, 1024)).total);
}

TEST(StepLatencyTest, MemoizedAnswersEqualUncachedOnes) {
  StepLatencyModel m = Make("qwen3-32b", {2, 1, 1});
  BatchComposition mixed{{{256, 1280, false}, {100, 100, true}}, 17, 17 * 900};
  const StepCost uncached = m.EvaluateUncached(mixed);
  EXPECT_EQ(m.memo_size(), 0u);
  const StepCost first = m.Evaluate(mixed);
  const StepCost second = m.Evaluate(mixed);
  EXPECT_EQ(m.memo_size(), 1u);
  EXPECT_EQ(first.total, uncached.total);
  EXPECT_EQ(second.total, uncached.total);
  // The sample flag matters (LM head rows), so it is part of the key.
  BatchComposition no_sample = mixed;
  no_sample.prefill[1].sample = false;
  EXPECT_LT(m.Evaluate(no_sample).total, first.total);
  EXPECT_EQ(m.memo_size(), 2u);
}

TEST(StepLatencyTest, RejectsParallelismTheModelCannotSplit) {
  auto m = StepLatencyModel::Create(LoadModel("llama-3.1-8b").value(),
                                    {{3, 1, 1}, DType::kBf16, DType::kBf16}, Analytic());
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("tp: 3"), std::string::npos);
}

}  // namespace
}  // namespace dynamo::perf
