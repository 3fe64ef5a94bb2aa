// StepLatency evaluations per second, cold (every composition new) and memoized (a sweep's
// repeating compositions), in analytic mode and on the imported H200 tables (when
// ../shared/data is present); and raw operator lookups per second.
#include <benchmark/benchmark.h>

#include <memory>

#include "core/model/model_catalog.h"
#include "core/perf/step_latency.h"
#include "profiler/aiconfigurator_import.h"

namespace dynamo::perf {
namespace {

std::shared_ptr<const PerfModel> AnalyticH200() {
  static auto m =
      std::make_shared<const PerfModel>(PerfModel::Analytic(LoadGpu("h200_sxm").value()));
  return m;
}

std::shared_ptr<const PerfModel> H200Tables() {
  static std::shared_ptr<const PerfModel> m = [] {
    const std::string dir =
        std::string(DYNAMO_SHARED_DATA_DIR) + "/perf-reference/aiconfigurator/h200_sxm";
    auto rows = profiler::ReadAiconfiguratorTables({dir, "h200_sxm", "vllm"}, nullptr);
    if (!rows.ok()) return std::shared_ptr<const PerfModel>();
    DeviceInfo d;
    d.name = "h200 tables";
    d.catalog_gpu = "h200_sxm";
    return std::make_shared<const PerfModel>(
        PerfModel::FromRows(d, std::move(rows.value()), {}, "h200").value());
  }();
  return m;
}

// A mixed batch as a vLLM-style scheduler forms it: one prefill chunk and a decode batch.
BatchComposition Mixed(int64_t i) {
  BatchComposition b;
  b.prefill.push_back({256 + (i % 7) * 128, 256 + (i % 7) * 128 + (i % 5) * 1024, i % 3 == 0});
  b.decode_seqs = 1 + i % 200;
  b.decode_kv_tokens = b.decode_seqs * (512 + (i * 37) % 8000);
  return b;
}

void Run(benchmark::State& state, std::shared_ptr<const PerfModel> perf, bool memoized) {
  if (!perf) {
    state.SkipWithError("shared data not present");
    return;
  }
  auto m = StepLatencyModel::Create(LoadModel("llama-3.1-70b").value(),
                                    {{4, 1, 1}, DType::kBf16, DType::kBf16}, perf)
               .value();
  int64_t i = 0;
  for (auto _ : state) {
    // Memoized: 1,000 distinct compositions asked again and again; cold: always new ones.
    const BatchComposition b = Mixed(memoized ? i % 1000 : i);
    if (memoized) {
      benchmark::DoNotOptimize(m.Evaluate(b).total);
    } else {
      benchmark::DoNotOptimize(m.EvaluateUncached(b).total);
    }
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}

void BM_StepLatencyColdAnalytic(benchmark::State& s) { Run(s, AnalyticH200(), false); }
void BM_StepLatencyMemoizedAnalytic(benchmark::State& s) { Run(s, AnalyticH200(), true); }
void BM_StepLatencyColdH200Tables(benchmark::State& s) { Run(s, H200Tables(), false); }
void BM_StepLatencyMemoizedH200Tables(benchmark::State& s) { Run(s, H200Tables(), true); }
BENCHMARK(BM_StepLatencyColdAnalytic);
BENCHMARK(BM_StepLatencyMemoizedAnalytic);
BENCHMARK(BM_StepLatencyColdH200Tables);
BENCHMARK(BM_StepLatencyMemoizedH200Tables);

void BM_GemmLookupH200Tables(benchmark::State& state) {
  auto perf = H200Tables();
  if (!perf) {
    state.SkipWithError("shared data not present");
    return;
  }
  int64_t i = 0;
  for (auto _ : state) {
    GemmShape g{DType::kBf16, 1 + (i * 7919) % 16000, 1024 + (i * 104729) % 28000, 4096};
    benchmark::DoNotOptimize(perf->Lookup(g).value().us);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_GemmLookupH200Tables);

}  // namespace
}  // namespace dynamo::perf

BENCHMARK_MAIN();
