#pragma once
// Metrics of one simulated run: a fixed-size record per request (never a list of its tokens:
// every inter-token gap goes straight into the run's ITL histogram, so memory does not grow
// with the tokens generated), per-run histograms, a per-interval time series, and the summary
// computed from them.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/stats/log_histogram.h"
#include "core/time.h"

namespace dynamo::sim {

struct RequestRecord {
  RequestId id;
  Time arrival;
  Time admitted = Time::Max();     // first scheduled on its first worker (end of queueing)
  Time first_token = Time::Max();  // TTFT = first_token - arrival
  Time finish = Time::Max();
  int32_t isl = 0;
  int32_t osl = 0;            // requested
  int32_t output = 0;         // generated so far
  int32_t cached_tokens = 0;  // prompt tokens served from the prefix cache at first admission
  int32_t preemptions = 0;
  int32_t prefill_worker = -1;  // agg worker, or the prefill worker
  int32_t decode_worker = -1;   // disaggregated (or conditional local prefill): decode worker
  Duration kv_wait;             // prefill done -> decode worker reserved the blocks
  Duration transfer;            // prefill done or blocks reserved (the later) -> KV arrived
  Duration itl_max;             // largest gap between two consecutive tokens
  Time last_token = Time::Max();
  bool rejected = false;       // could never be scheduled (too long for the KV cache)
  bool local_prefill = false;  // conditional disaggregation kept the prefill on the decode worker
  bool done() const { return finish != Time::Max(); }
};

struct TimeseriesRow {
  double t_s = 0;  // interval start
  int64_t arrivals = 0;
  int64_t completions = 0;
  int64_t output_tokens = 0;
  double in_system_avg = 0;  // time-average of requests arrived and not finished
  double running_avg = 0;    // time-average over workers of the running batch size sum
  double kv_used_frac = 0;   // mean over workers, sampled at the interval end
  double busy_frac = 0;      // fraction of worker-time spent stepping
  int64_t gpus = 0;          // GPUs held by workers (starting, active, draining) at the end
};

// One planner interval (planner.csv): what was observed, what the planner decided.
struct PlannerRow {
  double t_s = 0;  // interval end (decision time)
  int64_t arrivals = 0;
  double ttft_ms = -1, itl_ms = -1;  // observed at the planner's percentile; -1: no sample
  bool within_sla = true;
  double predicted_rps = 0, predicted_isl = 0, predicted_osl = 0;
  int prefill_replicas = 0, decode_replicas = 0;  // decided (agg: decode_replicas)
  int gpus = 0;                                   // held after the decision
  double expected_ttft_ms = 0, expected_itl_ms = 0;
};

struct Percentiles {
  double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  uint64_t count = 0;
};
Percentiles Summarize(const stats::LogHistogram& h);

struct SloSpec {
  std::optional<double> ttft_ms;
  std::optional<double> itl_ms;
  double percentile = 90;  // the percentile the verdicts use
};

struct RunSummary {
  uint64_t seed = 0;
  int64_t requests = 0;
  int64_t completed = 0;
  int64_t rejected = 0;  // could never be scheduled (longer than the KV cache can hold)
  int64_t stalled = 0;   // neither completed nor rejected when the run ended (a bug if > 0)
  int64_t kv_blocks_in_use_at_end = 0;  // summed over workers; > 0 would be a leak (a bug)
  double duration_s = 0;                // first arrival .. last completion
  int gpus = 0;
  Percentiles ttft_ms, itl_ms, tpot_ms, e2e_ms, queue_ms, transfer_ms;
  double throughput_rps = 0;
  double output_tokens_per_s = 0;
  double output_tokens_per_s_per_gpu = 0;
  double output_tokens_per_s_per_user = 0;  // 1000 / mean TPOT
  double input_tokens_per_s = 0;
  double kv_hit_rate = 0;  // cached prompt tokens / prompt tokens
  double utilization = 0;  // mean over workers of busy time / duration
  int64_t preemptions = 0;
  int64_t steps = 0;
  int64_t events = 0;
  int64_t transfers = 0;
  double transfer_gb = 0;
  // Little's law check: time-average requests in the system vs throughput x mean E2E.
  double little_l = 0;
  double little_lambda_w = 0;
  std::string perf_source;  // PerfModel::mode()
  std::string perf_lookup;  // least reliable kernel lookup: measured ... analytic
  std::string fingerprint;  // 16 hex digits over the run's decisions
  double wall_s = 0;
  // With an SLO: verdicts at SloSpec::percentile, and goodput (requests meeting both targets:
  // TTFT and their own mean ITL, per second).
  std::optional<SloSpec> slo;
  bool ttft_ok = true, itl_ok = true;
  double goodput_rps = 0;
  // GPUs held (by workers starting, serving or draining) x seconds, from time 0 to the last
  // event: the cost a planner saves.
  double gpu_seconds = 0;
  // With the planner: its intervals with requests in the system, the fraction of them whose
  // TTFT and ITL met the planner's targets at its percentile, scaling actions, mean GPUs held.
  int64_t planner_intervals = 0;
  double planner_intervals_within_sla = 0;
  int64_t scale_ups = 0, scale_downs = 0;
  double gpus_avg = 0;
  // SimOptions::stop_on_slo_miss ended the run before every request finished (not a stall).
  bool stopped_early = false;
  bool cancelled = false;  // SimOptions::cancel stopped it (then stopped_early too)
};

}  // namespace dynamo::sim
