// Trace parsing and workload generation throughput (lines or requests per second).
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>

#include "core/file_io.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/trace_reader.h"
#include "core/workload/workload.h"

namespace dynamo {
namespace {

std::string SharedTrace(const std::string& rel) {
  auto text = ReadFile(std::string(DYNAMO_SHARED_DATA_DIR) + "/traces/" + rel);
  return text.ok() ? *text : std::string();
}

// A Mooncake-format text of n lines, built here so the benchmark runs without shared data.
std::string SyntheticMooncake(int n) {
  std::ostringstream s;
  for (int i = 0; i < n; ++i) {
    const int isl = 6000 + (i % 7) * 100;
    s << "{\"timestamp\": " << i * 300 << ", \"input_length\": " << isl
      << ", \"output_length\": " << 100 + i % 400 << ", \"hash_ids\": [";
    for (int b = 0; b < (isl + 511) / 512; ++b) s << (b ? ", " : "") << i * 13 + b;
    s << "]}\n";
  }
  return s.str();
}

// Parses `text` with `read` once per iteration; items are requests (trace lines).
template <typename Reader>
void RunReader(benchmark::State& state, const std::string& text, Reader read) {
  if (text.empty()) {
    state.SkipWithError("trace not found under ../shared/data");
    return;
  }
  int64_t lines = 0;
  for (auto _ : state) {
    auto w = read(text, "bench", TraceOptions{});
    if (!w.ok()) {
      state.SkipWithError(w.status().message().c_str());
      return;
    }
    benchmark::DoNotOptimize(w);
    lines += static_cast<int64_t>(w->requests.size());
  }
  state.SetItemsProcessed(lines);
  state.SetBytesProcessed(static_cast<int64_t>(text.size()) * state.iterations());
}

void RunMooncake(benchmark::State& state, const std::string& text) {
  RunReader(state, text, ReadMooncakeTrace);
}

void BM_MooncakeConversationTrace(benchmark::State& state) {
  static const std::string text = SharedTrace("mooncake/conversation_trace.jsonl");
  RunMooncake(state, text);
}
BENCHMARK(BM_MooncakeConversationTrace)->Unit(benchmark::kMillisecond);

void BM_MooncakeSyntheticText(benchmark::State& state) {
  static const std::string text = SyntheticMooncake(10000);
  RunMooncake(state, text);
}
BENCHMARK(BM_MooncakeSyntheticText)->Unit(benchmark::kMillisecond);

void BM_AzureConversationTrace(benchmark::State& state) {
  static const std::string text = SharedTrace("azure2023/AzureLLMInferenceTrace_conv.csv");
  RunReader(state, text, ReadAzureTrace);
}
BENCHMARK(BM_AzureConversationTrace)->Unit(benchmark::kMillisecond);

void BM_GenerateDefaultWorkload(benchmark::State& state) {
  int64_t requests = 0;
  for (auto _ : state) {
    auto w = LoadWorkload("default");
    benchmark::DoNotOptimize(w);
    requests += static_cast<int64_t>(w->requests.size());
  }
  state.SetItemsProcessed(requests);
}
BENCHMARK(BM_GenerateDefaultWorkload)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dynamo

BENCHMARK_MAIN();
