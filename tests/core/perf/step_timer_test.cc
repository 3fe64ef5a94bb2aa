#include "core/perf/step_timer.h"

#include <gtest/gtest.h>

#include <cmath>

#include "core/hardware/gpu_spec.h"
#include "core/model/model_catalog.h"

namespace dynamo::perf {
namespace {

perf::StepLatencyModel Model(const char* model, int tp) {
  auto spec = LoadModel(model);
  auto gpu = LoadGpu("h200_sxm");
  auto perf = std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*gpu));
  perf::WorkerConfig wc;
  wc.parallelism.tp = tp;
  auto m = perf::StepLatencyModel::Create(*spec, wc, perf);
  EXPECT_TRUE(m.ok());
  return std::move(*m);
}

// Decode-only steps are interpolated on a grid of 16 points per octave of KV length: they must
// agree with the exact model closely, at grid points exactly.
TEST(StepTimerTest, DecodeStepsMatchTheExactModel) {
  for (auto [name, tp] : {std::pair{"llama-3.1-8b", 1}, std::pair{"llama-3.1-70b", 4}}) {
    perf::StepLatencyModel exact = Model(name, tp);
    StepTimer timer(Model(name, tp), 256);
    double worst = 0;
    for (int64_t seqs : {1, 3, 17, 64, 256}) {
      for (int64_t kv = 1; kv < 200000; kv = kv * 5 / 4 + 1) {
        perf::BatchComposition b;
        b.decode_seqs = seqs;
        b.decode_kv_tokens = seqs * kv;
        const double want = static_cast<double>(exact.EvaluateUncached(b).total.nanos());
        const double got = static_cast<double>(timer.StepTime(b).nanos());
        worst = std::max(worst, std::abs(got / want - 1));
        if (kv <= 64) {
          EXPECT_NEAR(got, want, 1.0) << name << " seqs " << seqs << " kv " << kv;
        }
      }
    }
    EXPECT_LT(worst, 0.002) << name;
  }
}

TEST(StepTimerTest, StepsWithPromptChunksAreExact) {
  perf::StepLatencyModel exact = Model("llama-3.1-8b", 1);
  StepTimer timer(Model("llama-3.1-8b", 1), 256);
  perf::BatchComposition b;
  b.prefill.push_back({3000, 5000, true});
  b.decode_seqs = 12;
  b.decode_kv_tokens = 12 * 777 + 5;
  EXPECT_EQ(timer.StepTime(b), exact.EvaluateUncached(b).total);
  EXPECT_EQ(timer.worst_source(), perf::LatencySource::kAnalytic);
}

}  // namespace
}  // namespace dynamo::perf
