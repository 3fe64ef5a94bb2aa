// Simulator core hot paths: event queue push+pop (hold model), LogHistogram::Add, and the
// network model starting and completing transfers. Items are events, samples and transfers.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <vector>

#include "core/hardware/gpu_spec.h"
#include "core/rng.h"
#include "core/stats/log_histogram.h"
#include "core/topology/cluster_topology.h"
#include "sim/event_queue.h"
#include "sim/network_model.h"

namespace dynamo::sim {
namespace {

// A typical payload: an event kind and an id (the Entry is 24 bytes).
struct BenchEvent {
  uint32_t kind;
  uint32_t id;
};

// Random values drawn up front so the timed loops measure the structure, not the generator.
std::vector<int64_t> Delays(size_t n, double mean_ns) {
  RngStream rng(1, "sim_core_bench_delays");
  std::vector<int64_t> out(n);
  for (auto& d : out) d = static_cast<int64_t>(rng.Exponential(1.0 / mean_ns));
  return out;
}

// Hold model: the queue keeps `pending` events; each iteration pops the earliest and pushes
// one at now + a random delay. One item = one push + one pop.
void BM_EventQueueHold(benchmark::State& state) {
  const auto pending = static_cast<size_t>(state.range(0));
  const std::vector<int64_t> delays = Delays(1 << 16, 1e6);
  EventQueue<BenchEvent> q;
  q.Reserve(pending + 1);
  for (size_t i = 0; i < pending; ++i) {
    q.Push(Time::FromNanos(delays[i % delays.size()]), BenchEvent{0, static_cast<uint32_t>(i)});
  }
  size_t k = 0;
  for (auto _ : state) {
    const auto e = q.Pop();
    q.Push(e.time + Duration::Nanos(delays[k++ & (delays.size() - 1)]),
           BenchEvent{e.payload.kind + 1, e.payload.id});
  }
  benchmark::DoNotOptimize(q.Top());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_EventQueueHold)->Arg(1'000)->Arg(10'000)->Arg(100'000);

void BM_LogHistogramAdd(benchmark::State& state) {
  RngStream rng(2, "sim_core_bench_latencies");
  std::vector<double> samples(1 << 16);
  for (auto& s : samples) s = rng.LogNormal(4.0, 1.5);  // latencies in ms
  stats::LogHistogram h;
  size_t k = 0;
  for (auto _ : state) h.Add(samples[k++ & (samples.size() - 1)]);
  benchmark::DoNotOptimize(h.count());
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_LogHistogramAdd);

// ~16 single-flow transfers in flight among 2 x 8 H200 GPUs (NVLink and NIC paths); each
// completion starts a new one. One item = one transfer started and completed.
void BM_NetworkModelTransfers(benchmark::State& state) {
  auto gpu = LoadGpu("h200_sxm");
  auto spec = gpu.ok() ? ClusterSpec::ForGpu(*gpu, 2) : StatusOr<ClusterSpec>(gpu.status());
  auto topology =
      spec.ok() ? ClusterTopology::Build(*spec) : StatusOr<ClusterTopology>(spec.status());
  if (!topology.ok()) {
    state.SkipWithError(topology.status().message().c_str());
    return;
  }
  const int concurrent = static_cast<int>(state.range(0));
  RngStream rng(3, "sim_core_bench_transfers");
  std::vector<FlowSpec> flows(1 << 12);
  for (auto& f : flows) {
    const auto src = static_cast<uint32_t>(rng.Below(16));
    const auto dst = static_cast<uint32_t>((src + 1 + rng.Below(15)) % 16);  // never src
    f = FlowSpec{GpuId(src), GpuId(dst), rng.UniformInt(1 << 20, 1 << 28)};
  }
  NetworkModel net(*topology);
  size_t k = 0;
  for (int i = 0; i < concurrent; ++i) net.Start(Time::Zero(), {&flows[k++ % flows.size()], 1});
  std::vector<TransferId> done;
  int64_t completed = 0;
  for (auto _ : state) {
    // One iteration: advance to the next event, refill what completed.
    const Time t = net.NextEventTime();
    done.clear();
    net.AdvanceTo(t, done);
    for (size_t i = 0; i < done.size(); ++i) {
      net.Start(t, {&flows[k++ & (flows.size() - 1)], 1});
    }
    completed += static_cast<int64_t>(done.size());
  }
  state.SetItemsProcessed(completed);
  state.counters["events"] =
      benchmark::Counter(static_cast<double>(state.iterations()), benchmark::Counter::kIsRate);
}
BENCHMARK(BM_NetworkModelTransfers)->Arg(16)->Arg(128);

}  // namespace
}  // namespace dynamo::sim

BENCHMARK_MAIN();
