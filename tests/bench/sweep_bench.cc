// The sweep's speed on the reference space: Llama-3.1-70B on 16 H200, ISL 2,048 /
// OSL 256, TTFT p90 <= 1 s, ITL p90 <= 50 ms, 1,000 requests per full simulation, every core.
//   BM_SweepBruteForce: every feasible topology searched with full simulations at several loads
//     (no pruning): topologies/s and simulations/s.
//   BM_SweepPruned: the default sweep (analytic bounds, short simulations first).
//   BM_OneFullSimulation: one 1,000-request simulation of a tp4 x 2 aggregated plan.
// One iteration each (a sweep takes tens of seconds on two cores); counters carry the figures.
#include <benchmark/benchmark.h>

#include <memory>

#include "configurator/load_search.h"
#include "configurator/load_source.h"
#include "configurator/search_space.h"
#include "configurator/sweep.h"
#include "core/hardware/gpu_spec.h"
#include "core/perf/perf_model.h"

namespace dynamo::configurator {
namespace {

SweepInputs Reference() {
  SweepInputs in;
  in.model = "llama-3.1-70b";
  in.gpu = "h200_sxm";
  in.gpus = 16;
  in.isl = 2048;
  in.osl = 256;
  in.ttft_ms = 1000;
  in.itl_ms = 50;
  in.requests = 1000;
  in.seed = 1;
  return in;
}

std::shared_ptr<const perf::PerfModel> Perf() {
  return std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*LoadGpu("h200_sxm")));
}

void RunSweepBench(benchmark::State& state, bool prune) {
  SweepOptions opt;
  opt.prune = prune;
  SweepCounts counts;
  double wall = 0;
  for (auto _ : state) {
    auto run = RunSweep(Reference(), Perf(), opt);
    if (!run.ok()) {
      state.SkipWithError(run.status().message().c_str());
      return;
    }
    counts = run->outcome.counts;
    wall = run->outcome.wall_s;
  }
  const int64_t searched = counts.passed + counts.sla_missed + counts.below_demand;
  state.counters["candidates"] = static_cast<double>(counts.enumerated);
  state.counters["searched"] = static_cast<double>(searched);
  state.counters["pruned"] = static_cast<double>(counts.pruned);
  state.counters["sims"] = static_cast<double>(counts.simulations);
  state.counters["full_sims"] = static_cast<double>(counts.full_simulations);
  state.counters["wall_s"] = wall;
  state.counters["topologies/s"] = static_cast<double>(searched) / wall;
  state.counters["sims/s"] = static_cast<double>(counts.simulations) / wall;
  state.counters["requests/s"] = static_cast<double>(counts.requests_simulated) / wall;
}

void BM_SweepBruteForce(benchmark::State& state) { RunSweepBench(state, false); }
void BM_SweepPruned(benchmark::State& state) { RunSweepBench(state, true); }
BENCHMARK(BM_SweepBruteForce)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();
BENCHMARK(BM_SweepPruned)->Iterations(1)->Unit(benchmark::kSecond)->UseRealTime();

void BM_OneFullSimulation(benchmark::State& state) {
  const SweepInputs in = Reference();
  auto base = MakeBasePlan(in);
  auto source = LoadSource::Create(in);
  Candidate c;
  c.pools = {PoolChoice{WorkerRole::kAggregated, 2, 4, 1, 1, 256, 8192}};
  const Plan plan = BuildPlan(*base, c);
  const auto perf = Perf();
  sim::SloSpec slo;
  slo.ttft_ms = in.ttft_ms;
  slo.itl_ms = in.itl_ms;
  for (auto _ : state) {
    auto p = SimulateAt(plan, *source, perf, slo, 1, 6.0, 1000, false);
    benchmark::DoNotOptimize(p);
  }
  state.SetItemsProcessed(state.iterations());
  state.counters["requests/s"] = benchmark::Counter(
      1000.0 * static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_OneFullSimulation)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dynamo::configurator

BENCHMARK_MAIN();
