#include "sim/simulation.h"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>
#include <string>

#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/rng.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/workload.h"
#include "sim/report.h"
#include "tests/core/test_util.h"
#include "tests/sim/sim_test_util.h"

namespace dynamo::sim {
namespace {

using testing_util::MakePlan;
using testing_util::MakeWorkload;

std::shared_ptr<const perf::PerfModel> Analytic(const std::string& gpu = "h200_sxm") {
  auto spec = LoadGpu(gpu);
  EXPECT_TRUE(spec.ok());
  return std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(*spec));
}

SimResult RunSim(const Plan& plan, const Workload& wl, uint64_t seed = 1, SloSpec slo = {}) {
  SimOptions opt;
  opt.seed = seed;
  opt.slo = slo;
  auto r = Simulate(plan, wl, Analytic(plan.gpu.name), opt);
  EXPECT_TRUE(r.ok()) << r.status().message();
  return std::move(*r);
}

// Checked on every run: every request completes or is rejected exactly once, with the tokens
// it asked for; Little's law holds; the time series accounts for every arrival and completion.
void ExpectConsistent(const SimResult& r, const Workload& wl) {
  const RunSummary& s = r.summary;
  EXPECT_EQ(s.requests, static_cast<int64_t>(wl.requests.size()));
  EXPECT_EQ(s.completed + s.rejected, s.requests);
  EXPECT_EQ(s.stalled, 0);
  ASSERT_EQ(r.requests.size(), wl.requests.size());
  int64_t completed = 0, rejected = 0, tokens = 0;
  for (const RequestRecord& rec : r.requests) {
    ASSERT_FALSE(rec.done() && rec.rejected) << "request " << rec.id.value();
    if (rec.rejected) {
      ++rejected;
      continue;
    }
    ASSERT_TRUE(rec.done()) << "request " << rec.id.value();
    ++completed;
    EXPECT_EQ(rec.output, std::max(1, rec.osl)) << "request " << rec.id.value();
    EXPECT_LE(rec.arrival, rec.first_token);
    EXPECT_LE(rec.first_token, rec.finish);
    tokens += rec.output;
  }
  EXPECT_EQ(completed, s.completed);
  EXPECT_EQ(rejected, s.rejected);
  EXPECT_EQ(s.kv_blocks_in_use_at_end, 0);  // every block of every worker released
  if (s.completed > 0) {
    // Little's law: the time-average number in the system equals throughput x mean time in it.
    // The histogram mean is exact (it keeps the exact sum).
    EXPECT_NEAR(s.little_l, s.little_lambda_w, 1e-9 * std::max(1.0, s.little_l));
  }
  int64_t ts_arrivals = 0, ts_completions = 0, ts_tokens = 0;
  for (const TimeseriesRow& row : r.timeseries) {
    ts_arrivals += row.arrivals;
    ts_completions += row.completions;
    ts_tokens += row.output_tokens;
  }
  EXPECT_EQ(ts_arrivals, s.requests);
  EXPECT_EQ(ts_completions, s.completed);
  EXPECT_EQ(ts_tokens, tokens);
}

constexpr char kAgg1Default[] = R"({
  "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
  "workers": [{"role": "agg", "replicas": 1, "tp": 1}]})";

constexpr char kAgg1[] = R"({
  "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "nodes": 1},
  "workers": [{"role": "agg", "replicas": 1, "tp": 1, "max_num_seqs": 1,
               "enable_prefix_caching": false}]})";

// A workload of `n` requests with fixed lengths and Poisson arrivals at `rate`, built directly.
Workload PoissonFixed(int64_t n, double rate, int32_t isl, int32_t osl, uint64_t seed) {
  Workload wl;
  RngStream rng(seed, "arrivals");
  double t = 0;
  for (int64_t i = 0; i < n; ++i) {
    t += rng.Exponential(rate);
    Request r;
    r.id = RequestId(static_cast<uint64_t>(i));
    r.arrival = Time::FromNanos(std::llround(t * 1e9));
    r.isl = isl;
    r.osl = osl;
    wl.requests.push_back(r);
  }
  wl.seed = seed;
  return wl;
}

// M/D/1: one worker serving one request at a time, constant service time S (fixed lengths, no
// prefix reuse), Poisson arrivals. The mean wait in queue is the Pollaczek-Khinchine value
// rho S / (2 (1 - rho)).
TEST(SimulationQueueingTest, MeanQueueingDelayMatchesPollaczekKhinchine) {
  const Plan plan = MakePlan(kAgg1);
  // The service time: one request alone.
  const Workload one = PoissonFixed(1, 1.0, 512, 4, 3);
  const SimResult alone = RunSim(plan, one);
  const double service_s = alone.summary.e2e_ms.mean * 1e-3;
  ASSERT_GT(service_s, 0);
  for (double rho : {0.3, 0.5, 0.7}) {
    SCOPED_TRACE("rho " + std::to_string(rho));
    const Workload wl = PoissonFixed(60000, rho / service_s, 512, 4, 11);
    const SimResult r = RunSim(plan, wl);
    ExpectConsistent(r, wl);
    // Every request's own service time is S exactly (deterministic steps).
    for (size_t i = 0; i < 50; ++i) {
      const RequestRecord& rec = r.requests[i];
      EXPECT_NEAR((rec.finish - rec.admitted).seconds(), service_s, 1e-9);
    }
    // The exact mean wait (not the histogram's) from the per-request records.
    double wait_sum = 0;
    for (const RequestRecord& rec : r.requests) wait_sum += (rec.admitted - rec.arrival).seconds();
    const double wait = wait_sum / static_cast<double>(r.requests.size());
    const double pk = rho * service_s / (2 * (1 - rho));
    std::printf("rho %.1f: mean wait %.6f s, Pollaczek-Khinchine %.6f s (ratio %.4f)\n", rho, wait,
                pk, wait / pk);
    EXPECT_NEAR(wait / pk, 1.0, 0.03) << "simulated " << wait << " s, P-K " << pk << " s";
    // The histogram agrees with the exact mean.
    EXPECT_NEAR(r.summary.queue_ms.mean * 1e-3, wait, 1e-6 * service_s);
  }
}

TEST(SimulationTest, SameSeedSameResultDifferentSeedDifferentFingerprint) {
  const Plan plan = MakePlan(R"({
    "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 2, "tp": 1}],
    "router": {"policy": "random"}})");
  const std::string spec = R"({"requests": 300, "seed": 5,
    "arrival": {"process": "poisson", "rate_rps": 8},
    "isl": {"dist": "uniform", "min": 100, "max": 3000},
    "osl": {"dist": "uniform", "min": 10, "max": 300},
    "prefix": {"groups": 4, "shared_tokens": 256}})";
  const Workload wl = MakeWorkload(spec);
  const SimResult a = RunSim(plan, wl, 7);
  const SimResult b = RunSim(plan, wl, 7);
  const SimResult c = RunSim(plan, wl, 8);  // same workload, another router stream
  ExpectConsistent(a, wl);
  RunSummary sa = a.summary, sb = b.summary;
  sa.wall_s = sb.wall_s = 0;
  EXPECT_EQ(SummaryJson(sa, -1), SummaryJson(sb, -1));
  EXPECT_EQ(RequestsCsv(a.requests), RequestsCsv(b.requests));
  EXPECT_EQ(TimeseriesCsv(a.timeseries), TimeseriesCsv(b.timeseries));
  EXPECT_NE(a.summary.fingerprint, c.summary.fingerprint);
}

TEST(SimulationTest, PrefixReuseShowsInHitRate) {
  const Plan plan = MakePlan(kAgg1Default);
  const Workload wl = MakeWorkload(R"({"requests": 400, "seed": 2,
    "arrival": {"process": "poisson", "rate_rps": 4},
    "isl": {"dist": "fixed", "value": 2048}, "osl": {"dist": "fixed", "value": 16},
    "prefix": {"groups": 2, "shared_tokens": 1024}})");
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  // Half of every prompt is one of two shared prefixes: after the first two requests, 1024 of
  // 2048 tokens hit (block-aligned), so the rate approaches 0.5.
  EXPECT_GT(r.summary.kv_hit_rate, 0.49);
  EXPECT_LE(r.summary.kv_hit_rate, 0.5);
  Plan no_cache = plan;
  no_cache.workers[0].enable_prefix_caching = false;
  const SimResult n = RunSim(no_cache, wl);
  EXPECT_EQ(n.summary.kv_hit_rate, 0);
  EXPECT_LT(r.summary.ttft_ms.mean, n.summary.ttft_ms.mean);
}

TEST(SimulationTest, RequestLongerThanTheKvCacheIsRejectedAndCounted) {
  Plan plan = MakePlan(kAgg1Default);
  const int64_t capacity = plan.workers[0].memory.kv_tokens();
  Workload wl = PoissonFixed(20, 2.0, 1000, 50, 4);
  wl.requests[7].isl = static_cast<int32_t>(capacity);  // prompt + output exceed the cache
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.rejected, 1);
  EXPECT_TRUE(r.requests[7].rejected);
  EXPECT_EQ(r.summary.completed, 19);
}

TEST(SimulationTest, PreemptionWhenTheKvCacheIsSmallStillCompletesEveryRequest) {
  Plan plan = MakePlan(R"({
    "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 1, "tp": 1, "max_num_seqs": 64}]})");
  plan.workers[0].memory.kv_blocks = 400;  // 6,400 tokens: far less than the batch wants
  const Workload wl = PoissonFixed(200, 50.0, 600, 300, 9);
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.completed, 200);
  EXPECT_GT(r.summary.preemptions, 0);
}

TEST(SimulationTest, ClosedLoopKeepsConcurrencyInFlight) {
  const Plan plan = MakePlan(kAgg1Default);
  const Workload wl = MakeWorkload(R"({"requests": 200, "seed": 3,
    "arrival": {"process": "concurrency", "concurrency": 8},
    "isl": {"dist": "fixed", "value": 512}, "osl": {"dist": "fixed", "value": 64}})");
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  // Little: L = 8 while the loop is full; the tail drains, so slightly less on average.
  EXPECT_GT(r.summary.little_l, 7.0);
  EXPECT_LE(r.summary.little_l, 8.0 + 1e-9);
}

constexpr char kDisagg[] = R"({
  "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "nodes": 1},
  "workers": [{"role": "prefill", "replicas": 2, "tp": 1},
              {"role": "decode", "replicas": 2, "tp": 1}]})";
constexpr char kAgg4[] = R"({
  "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "nodes": 1},
  "workers": [{"role": "agg", "replicas": 4, "tp": 1}]})";

TEST(SimulationDisaggTest, KvMovesFromPrefillToDecodeWorker) {
  const Plan plan = MakePlan(kDisagg);
  const Workload wl = PoissonFixed(50, 2.0, 3000, 40, 21);
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.transfers, 50);
  const double bytes = 50.0 * 3000 * static_cast<double>(plan.model.KvBytesPerToken(plan.kv_dtype));
  EXPECT_NEAR(r.summary.transfer_gb, bytes * 1e-9, 1e-9);
  for (const RequestRecord& rec : r.requests) {
    EXPECT_GE(rec.prefill_worker, 0);
    EXPECT_LT(rec.prefill_worker, 2);  // workers 0-1 are the prefill pool
    EXPECT_GE(rec.decode_worker, 2);
    // One request's KV alone on NVLink: bytes / (450 GB/s) plus two ~1 us hops.
    EXPECT_GT(rec.transfer.millis(), 0);
  }
  EXPECT_GT(r.summary.transfer_ms.p50, 0);
}

TEST(SimulationDisaggTest, SingleTransferTakesBytesOverBandwidthPlusLatency) {
  const Plan plan = MakePlan(kDisagg);
  const Workload wl = PoissonFixed(1, 1.0, 4096, 8, 2);
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  const double bytes = 4096.0 * static_cast<double>(plan.model.KvBytesPerToken(plan.kv_dtype));
  // NVLink through the NVSwitch: the GPU's own link bandwidth; two hops of latency.
  const double expect_s =
      bytes / plan.cluster.nvlink_bandwidth + 2 * plan.cluster.nvlink_latency.seconds();
  EXPECT_NEAR(r.requests[0].transfer.seconds(), expect_s, 2e-9);
}

TEST(SimulationDisaggTest, ConditionalDisaggregationKeepsShortPromptsOnTheDecodeWorker) {
  Plan plan = MakePlan(kDisagg);
  plan.disagg.conditional = true;
  plan.disagg.max_local_prefill_tokens = 1000;
  Workload wl = PoissonFixed(40, 2.0, 3000, 20, 5);
  for (size_t i = 0; i < wl.requests.size(); i += 2) wl.requests[i].isl = 200;
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.transfers, 20);
  for (const RequestRecord& rec : r.requests) {
    EXPECT_EQ(rec.local_prefill, rec.isl == 200) << rec.id.value();
  }
}

TEST(SimulationDisaggTest, LayerwiseStreamingShortensTheHandOff) {
  Plan plan = MakePlan(kDisagg);
  const Workload wl = PoissonFixed(30, 1.0, 16000, 8, 8);
  const SimResult plain = RunSim(plan, wl);
  plan.disagg.layerwise_streaming = true;
  const SimResult streamed = RunSim(plan, wl);
  ExpectConsistent(plain, wl);
  ExpectConsistent(streamed, wl);
  // Streaming moves the earlier chunks' KV while later chunks compute: less left after prefill.
  EXPECT_LT(streamed.summary.transfer_ms.mean, 0.5 * plain.summary.transfer_ms.mean);
  EXPECT_NEAR(streamed.summary.transfer_gb, plain.summary.transfer_gb, 1e-9);
  // What users see: the gap before the second token (the largest gap here) shrinks.
  auto mean_itl_max = [](const SimResult& r) {
    double sum = 0;
    for (const RequestRecord& rec : r.requests) sum += rec.itl_max.millis();
    return sum / static_cast<double>(r.requests.size());
  };
  EXPECT_LT(mean_itl_max(streamed), mean_itl_max(plain));
}

TEST(SimulationDisaggTest, RequestNoDecodeWorkerCanHoldIsRejectedBeforePrefill) {
  Plan plan = MakePlan(kDisagg);
  const int64_t blocks = 300;  // 4,800 tokens per decode worker; prefill workers keep theirs
  plan.workers[1].memory.kv_blocks = blocks;
  Workload wl = PoissonFixed(60, 2.0, 1000, 100, 12);
  int64_t too_long = 0;
  for (size_t i = 0; i < wl.requests.size(); i += 3) {
    wl.requests[i].isl = 6000;
    ++too_long;
  }
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.rejected, too_long);
  // Rejected at arrival: no prefill ran, so no first token and no transfer for them.
  EXPECT_EQ(r.summary.ttft_ms.count, static_cast<uint64_t>(r.summary.completed));
  EXPECT_EQ(r.summary.transfers, r.summary.completed);
  for (const RequestRecord& rec : r.requests) {
    EXPECT_EQ(rec.rejected, rec.isl == 6000);
    if (rec.rejected) {
      EXPECT_EQ(rec.first_token, Time::Max());
    }
  }
}

TEST(SimulationDisaggTest, SingleTokenAnswersFinishOnThePrefillWorker) {
  const Plan plan = MakePlan(kDisagg);
  Workload wl = PoissonFixed(40, 4.0, 2000, 30, 13);
  for (size_t i = 0; i < wl.requests.size(); i += 2) wl.requests[i].osl = 1;
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  EXPECT_EQ(r.summary.transfers, 20);
  for (const RequestRecord& rec : r.requests) {
    if (rec.osl == 1) {
      EXPECT_EQ(rec.decode_worker, -1);
      EXPECT_EQ(rec.finish, rec.first_token);
    } else {
      EXPECT_GE(rec.decode_worker, 2);
    }
  }
}

TEST(SimulationDisaggTest, ConditionalDisaggregationUsesTheDecodeWorkersCache) {
  Plan plan = MakePlan(kDisagg);
  plan.disagg.conditional = true;
  plan.disagg.max_local_prefill_tokens = 500;
  // Every prompt is a 2,896-token shared prefix plus 104 tokens of its own. Once a decode worker
  // holds the prefix (from a transfer), the uncached part is 104 tokens: prefilled locally.
  const Workload wl = MakeWorkload(R"({"requests": 60, "seed": 6,
    "arrival": {"process": "poisson", "rate_rps": 2},
    "isl": {"dist": "fixed", "value": 3000}, "osl": {"dist": "fixed", "value": 20},
    "prefix": {"groups": 1, "shared_tokens": 2896}})");
  const SimResult r = RunSim(plan, wl);
  ExpectConsistent(r, wl);
  int64_t local = 0;
  for (const RequestRecord& rec : r.requests) local += rec.local_prefill ? 1 : 0;
  // At most the first request routed to each of the two decode workers moves its KV.
  EXPECT_GE(r.summary.transfers, 1);
  EXPECT_LE(r.summary.transfers, 2);
  EXPECT_EQ(local + r.summary.transfers, 60);
}

// The directions the literature reports (DistServe, Splitwise): with heavy prefill traffic,
// aggregated workers interleave prompt chunks with decode steps and ITL suffers; separate
// decode workers keep ITL low. With light prompts there is little interference to remove.
TEST(SimulationDisaggTest, DisaggregationLowersItlUnderPrefillInterference) {
  const Plan agg = MakePlan(kAgg4);
  const Plan disagg = MakePlan(kDisagg);
  const Workload prefill_heavy = MakeWorkload(R"({"requests": 600, "seed": 4,
    "arrival": {"process": "poisson", "rate_rps": 6},
    "isl": {"dist": "fixed", "value": 8000}, "osl": {"dist": "fixed", "value": 128}})");
  const Workload decode_heavy = MakeWorkload(R"({"requests": 600, "seed": 4,
    "arrival": {"process": "poisson", "rate_rps": 6},
    "isl": {"dist": "fixed", "value": 128}, "osl": {"dist": "fixed", "value": 1024}})");
  const SimResult ap = RunSim(agg, prefill_heavy), dp = RunSim(disagg, prefill_heavy);
  const SimResult ad = RunSim(agg, decode_heavy), dd = RunSim(disagg, decode_heavy);
  for (const SimResult* r : {&ap, &dp}) ExpectConsistent(*r, prefill_heavy);
  for (const SimResult* r : {&ad, &dd}) ExpectConsistent(*r, decode_heavy);
  // Prefill-heavy: on aggregated workers a decode step that shares the batch with an 8,000-token
  // prompt takes as long as the prompt; the tail of ITL and the per-request TPOT show it. The
  // decode workers of the disaggregated plan never see a prompt.
  EXPECT_LT(dp.summary.itl_ms.p99, 0.2 * ap.summary.itl_ms.p99)
      << "agg " << ap.summary.itl_ms.p99 << " ms, disagg " << dp.summary.itl_ms.p99 << " ms";
  EXPECT_LT(dp.summary.tpot_ms.p90, 0.8 * ap.summary.tpot_ms.p90)
      << "agg " << ap.summary.tpot_ms.p90 << " ms, disagg " << dp.summary.tpot_ms.p90 << " ms";
  // Decode-heavy: nothing to remove, and half the GPUs decode: aggregation is at least as good.
  EXPECT_GE(dd.summary.itl_ms.p90, ad.summary.itl_ms.p90)
      << "agg " << ad.summary.itl_ms.p90 << " ms, disagg " << dd.summary.itl_ms.p90 << " ms";
  EXPECT_GE(dd.summary.tpot_ms.mean, ad.summary.tpot_ms.mean);
}

TEST(SimulationTest, SloVerdictsAndGoodput) {
  const Plan plan = MakePlan(kAgg4);
  const Workload wl = PoissonFixed(400, 10.0, 2000, 100, 6);
  SloSpec loose;
  loose.ttft_ms = 1e6;
  loose.itl_ms = 1e6;
  const SimResult ok = RunSim(plan, wl, 1, loose);
  EXPECT_TRUE(ok.summary.ttft_ok);
  EXPECT_TRUE(ok.summary.itl_ok);
  EXPECT_NEAR(ok.summary.goodput_rps, ok.summary.throughput_rps, 1e-12);
  SloSpec tight;
  tight.ttft_ms = 0.001;
  tight.itl_ms = 0.001;
  const SimResult bad = RunSim(plan, wl, 1, tight);
  EXPECT_FALSE(bad.summary.ttft_ok);
  EXPECT_FALSE(bad.summary.itl_ok);
  EXPECT_EQ(bad.summary.goodput_rps, 0);
}

TEST(SimulationTest, MooncakeConversationTraceOnEightWorkers) {
  const std::string trace = testing::SharedData("traces/mooncake/conversation_trace.jsonl");
  SKIP_WITHOUT(trace);
  WorkloadOverrides o;
  o.first = 2000;
  auto wl = LoadWorkload(trace, o);
  ASSERT_TRUE(wl.ok()) << wl.status().message();
  const Plan plan = MakePlan(R"({
    "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 8, "tp": 1}]})");
  const SimResult r = RunSim(plan, *wl);
  ExpectConsistent(r, *wl);
  // Conversations resend earlier turns: a large share of prompt tokens hit the cache even with
  // round robin.
  EXPECT_GT(r.summary.kv_hit_rate, 0.05);
}

// The KV-aware router on the real multi-turn trace: routing a conversation's next turn to the
// worker that cached its history raises the hit rate and lowers TTFT against round robin.
TEST(SimulationTest, KvRouterBeatsRoundRobinOnTheMooncakeConversationTrace) {
  const std::string trace = testing::SharedData("traces/mooncake/conversation_trace.jsonl");
  SKIP_WITHOUT(trace);
  auto wl = LoadWorkload(trace, WorkloadOverrides{});
  ASSERT_TRUE(wl.ok()) << wl.status().message();
  auto run = [&](const std::string& policy) {
    const Plan plan = MakePlan(R"({
      "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
      "workers": [{"role": "agg", "replicas": 8, "tp": 1}],
      "router": {"policy": ")" +
                               policy + R"("}})");
    SimResult r = RunSim(plan, *wl);
    ExpectConsistent(r, *wl);
    std::printf("%-12s KV hit rate %.4f, TTFT mean %.1f ms, p90 %.1f ms\n", policy.c_str(),
                r.summary.kv_hit_rate, r.summary.ttft_ms.mean, r.summary.ttft_ms.p90);
    return r.summary;
  };
  const RunSummary rr = run("round_robin");
  const RunSummary kv = run("kv");
  EXPECT_GT(kv.kv_hit_rate, rr.kv_hit_rate * 1.5);
  EXPECT_LT(kv.ttft_ms.mean, rr.ttft_ms.mean * 0.9);
}

}  // namespace
}  // namespace dynamo::sim

namespace dynamo::sim {
namespace {

// stop_on_slo_miss: an overloaded run stops early with the verdict the full run reaches; a run
// that meets the SLO is unaffected (same fingerprint, same figures).
TEST(SimulationEarlyStopTest, StopsOnACertainMissAndNeverChangesAPass) {
  const Plan plan = testing_util::MakePlan(R"({
    "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "replicas": 1, "tp": 1}]})");
  auto perf = std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(plan.gpu));
  auto run = [&](double rate, bool stop) {
    const Workload wl = testing_util::MakeWorkload(
        R"({"requests": 600, "seed": 3, "arrival": {"process": "poisson", "rate_rps": )" +
        std::to_string(rate) +
        R"(}, "isl": {"dist": "fixed", "value": 2048}, "osl": {"dist": "fixed", "value": 128}})");
    SimOptions opt;
    opt.seed = 3;
    opt.slo.ttft_ms = 300;
    opt.slo.itl_ms = 40;
    opt.stop_on_slo_miss = stop;
    auto r = Simulate(plan, wl, perf, opt);
    EXPECT_TRUE(r.ok());
    return r->summary;
  };
  const RunSummary full = run(60, false);  // far beyond one worker's capacity
  const RunSummary early = run(60, true);
  EXPECT_FALSE(full.ttft_ok && full.itl_ok);
  EXPECT_TRUE(early.stopped_early);
  EXPECT_FALSE(early.ttft_ok && early.itl_ok);
  EXPECT_EQ(early.ttft_ok, full.ttft_ok);
  EXPECT_EQ(early.stalled, 0);
  EXPECT_LT(early.events, full.events / 2) << "should stop well before the end";

  const RunSummary light = run(1, false);
  const RunSummary light_stop = run(1, true);
  ASSERT_TRUE(light.ttft_ok && light.itl_ok);
  EXPECT_FALSE(light_stop.stopped_early);
  EXPECT_EQ(light.fingerprint, light_stop.fingerprint);
  EXPECT_EQ(light.ttft_ms.p90, light_stop.ttft_ms.p90);
}

}  // namespace
}  // namespace dynamo::sim
