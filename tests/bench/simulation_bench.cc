// Whole-simulation throughput: the Mooncake conversation trace (12,031 requests) on 8
// aggregated Llama-3.1-8B H200 workers, analytic performance model. Reports simulated requests,
// events, steps and output tokens per wall second; one iteration = one full run.
#include <benchmark/benchmark.h>

#include <memory>

#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/plan/plan.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/workload.h"
#include "sim/simulation.h"

namespace dynamo::sim {
namespace {

Plan AggPlan(int replicas) {
  auto root = JsonDocument::Parse(
      R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
          "workers": [{"role": "agg", "replicas": )" +
          std::to_string(replicas) + R"(, "tp": 1}]})",
      "bench_plan.json");
  return *ParsePlan(*root);
}

void RunSim(benchmark::State& state, const Plan& plan, const Workload& wl) {
  auto gpu = LoadGpu("h200_sxm");
  auto perf = std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*gpu));
  SimOptions opt;
  opt.seed = 1;
  opt.keep_requests = false;
  int64_t requests = 0, events = 0, steps = 0;
  double tokens = 0;
  for (auto _ : state) {
    auto r = Simulate(plan, wl, perf, opt);
    if (!r.ok()) {
      state.SkipWithError(r.status().message().c_str());
      return;
    }
    requests += r->summary.completed;
    events += r->summary.events;
    steps += r->summary.steps;
    tokens += r->summary.output_tokens_per_s * r->summary.duration_s;
  }
  state.SetItemsProcessed(requests);
  state.counters["events/s"] =
      benchmark::Counter(static_cast<double>(events), benchmark::Counter::kIsRate);
  state.counters["steps/s"] =
      benchmark::Counter(static_cast<double>(steps), benchmark::Counter::kIsRate);
  state.counters["tokens/s"] = benchmark::Counter(tokens, benchmark::Counter::kIsRate);
}

void BM_MooncakeConversation8Workers(benchmark::State& state) {
  auto wl = LoadWorkload(std::string(DYNAMO_SHARED_DATA_DIR) +
                         "/traces/mooncake/conversation_trace.jsonl");
  if (!wl.ok()) {
    state.SkipWithError("Mooncake trace not found under ../shared/data");
    return;
  }
  RunSim(state, AggPlan(8), *wl);
}
BENCHMARK(BM_MooncakeConversation8Workers)->Unit(benchmark::kMillisecond)->MinTime(2.0);

// The bundled default workload (2,000 chat requests at 4 req/s) on 2 workers.
void BM_DefaultWorkload2Workers(benchmark::State& state) {
  auto wl = LoadWorkload("default");
  RunSim(state, AggPlan(2), *wl);
}
BENCHMARK(BM_DefaultWorkload2Workers)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dynamo::sim

BENCHMARK_MAIN();
