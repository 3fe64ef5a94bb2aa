#pragma once
// SlaPlanner: the sans-I/O core that sizes worker pools so that the TTFT and ITL targets hold at
// a percentile. Every planner interval the driver (simulator or runtime) hands it the interval it
// measured; the planner forecasts the next intervals' load (LoadPredictor per series), turns it
// into replicas per pool with a capacity model built on the step-latency model the simulator
// itself uses, corrects the targets by observed / expected latency, limits scale-down, and fits
// the GPU budget.
//
// Where it differs from Dynamo's planner (which sizes ceil(demand / per-engine capacity) without
// queueing):
//  - prefill capacity includes the queueing delay: M/D/1 waiting-time quantile at the SLA
//    percentile on top of the chunked prefill time, so a pool is not run at rho -> 1;
//  - the aggregated pool's ITL quantile accounts for the steps that carry prefill chunks (long
//    mixed steps), which break an aggregated pool's p90 ITL long before its mean ITL;
//  - forecasts look ahead by the scale-up lead time, with optional sigma x stddev headroom;
//  - scale-down needs every worker inside a margin of the target and is limited per tick.
//
// Pools: aggregated mode has one pool (index 0); disaggregated mode has prefill (index 0) and
// decode (index 1). The driver owns time; the planner reads no clock, does no I/O and is
// deterministic. Not thread-safe (the step models memoize); one planner per driver.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "core/perf/step_latency.h"
#include "core/status.h"
#include "core/time.h"
#include "planner/load_predictor.h"

namespace dynamo::planner {

enum class PlannerMode : uint8_t { kAggregated, kDisaggregated };

// One pool of identical workers.
struct PoolModel {
  perf::StepLatencyModel step;  // owned copy (Evaluate memoizes; not thread-safe)
  int gpus_per_worker = 1;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int64_t kv_capacity_tokens = 0;  // KV blocks x block size of one worker; 0: not limited
  int min_replicas = 1;            // >= 1
  int max_replicas = 0;            // 0: limited by the GPU budget only
};

struct SlaPlannerConfig {
  PlannerMode mode = PlannerMode::kAggregated;
  double ttft_ms = 500, itl_ms = 30;
  // The SLA is on this quantile, in (0, 1): it sets the TTFT queueing quantile; ITL is the
  // steady step time (its spread is left to the correction).
  double percentile = 0.9;
  Duration interval = Duration::Seconds(60);
  PredictorConfig predictor;       // for every series
  int max_gpus = 0;                // GPU budget (0: none); must fit min_replicas of every pool
  double scale_down_margin = 0.8;  // scale down only when every worker observes <= margin x target
  double max_scale_down_fraction = 0.25;  // remove at most max(1, this x current) replicas per tick
  bool correction = true;                 // correct targets by observed / expected latency
  int lookahead_intervals = 1;  // forecast horizon (the driver sets 1 + ceil(startup / interval))
  double headroom_sigma = 0.0;  // provision for forecast + sigma x ForecastStddev (request series)
};

// One finished interval, measured by the driver.
struct Observation {
  double requests = 0;  // arrivals in the interval
  double mean_isl = 0, mean_osl = 0;
  double kv_hit_rate = 0;                 // cached fraction of prompt tokens
  std::optional<double> ttft_ms, itl_ms;  // observed at the SLA percentile; nullopt: no samples
  std::vector<double> worker_ttft_ms, worker_itl_ms;  // per worker (same percentile); may be empty
  int prefill_replicas = 0;  // current (ready + starting, not draining); agg: unused
  int decode_replicas = 0;   // disagg decode pool; agg: the aggregated pool. 0: unknown
};

struct ScalingDecision {
  int prefill_replicas = 0;  // agg: 0
  int decode_replicas = 0;   // agg: the aggregated pool
  // The load sized for: requests per second including the headroom, mean ISL and OSL.
  double predicted_rps = 0, predicted_isl = 0, predicted_osl = 0;
  // Model estimate at the decided replicas and predicted load, times the correction factors;
  // +infinity when those replicas cannot carry the load (budget, limits or an infeasible SLA).
  double expected_ttft_ms = 0, expected_itl_ms = 0;
  bool sla_feasible = true;  // false: even one worker cannot meet the targets (best effort: min)
  bool budget_limited = false;
  double ttft_correction = 1, itl_correction = 1;  // smoothed observed / expected factors
};

class SlaPlanner {
 public:
  // pools: aggregated -> 1 pool; disaggregated -> {prefill, decode}. InvalidArgument (naming the
  // field, the value and a fix) for a wrong pool count, bad targets, percentile, interval,
  // margins, pool limits, or a GPU budget that cannot hold min_replicas of every pool.
  static StatusOr<SlaPlanner> Create(const SlaPlannerConfig& config, std::vector<PoolModel> pools);

  // Feeds a trace's per-interval load to the predictors, then makes them skip leading zeros
  // again (live traffic starts idle).
  void WarmUp(std::span<const IntervalLoad> history);
  // One planner interval: `obs` is the interval that just ended at `now` (non-decreasing across
  // calls).
  ScalingDecision Tick(Time now, const Observation& obs);

  // Capacity model (deterministic; exposed for tests and reports). `pool` indexes the pools given
  // to Create.
  // One prompt of `isl` new tokens alone on an idle worker, chunked by max_num_batched_tokens.
  double PrefillServiceMs(int pool, double isl);
  // Prefill tokens per second of a worker running full chunks.
  double PrefillTokensPerSecond(int pool);
  // Largest B with step(B decodes at KV context ctx) <= itl_ms (binary search), bounded by
  // max_num_seqs and kv_capacity_tokens / ctx; 0 if none.
  int DecodeBatchFor(int pool, double ctx, double itl_ms);
  // Largest arrival rate (requests/s) one worker sustains with the TTFT quantile <= ttft_ms: the
  // prompt's own service plus the M/D/1 waiting-time quantile; 0 when even an idle worker misses.
  double PrefillWorkerRps(int pool, double isl_eff, double ttft_ms);
  // Little's law at the largest batch meeting itl_ms: B / (osl x step(B)); 0 if none.
  double DecodeWorkerRps(int pool, double isl, double osl, double itl_ms);
  // Pool 0 serving both phases: the largest rate meeting both targets; 0 if none. TTFT is the
  // prefill quantile plus the decode step in flight; the ITL quantile is the decode step while
  // the fraction of steps carrying a prefill chunk stays within the tail (1 - percentile), else
  // the mixed step; the batch is the fixed point B = lambda x osl x mean ITL.
  double AggWorkerRps(double isl_eff, double isl, double osl, double ttft_ms, double itl_ms);

  const SlaPlannerConfig& config() const { return config_; }
  const std::vector<PoolModel>& pools() const { return pools_; }

 private:
  struct Forecast {
    double rps = 0, isl = 0, osl = 0, hit = 0;
  };
  struct Latency {
    double ttft_ms = 0, itl_ms = 0;  // +infinity when the load does not fit
  };
  struct PrefillQueue {     // one worker's prefill as an M/D/1 queue of prompts
    double service_ms = 0;  // one prompt alone (chunked)
    double mu = 0;          // tokens per second at full chunks
    double isl_eff = 0;     // new tokens per prompt
  };

  SlaPlanner(const SlaPlannerConfig& config, std::vector<PoolModel> pools);

  void ObserveLoad(const Observation& obs);
  Forecast PredictLoad();
  void UpdateCorrections(const Observation& obs);
  // Replicas of `pool` for `demand_rps` at `worker_rps` per worker, within [min, max].
  int SizePool(int pool, double demand_rps, double worker_rps) const;
  // Applies the scale-down rules to `desired` given the current count and observations.
  int LimitScaleDown(int pool, int desired, int current, const Observation& obs) const;
  // Cuts the counts to the GPU budget (Dynamo's rule); true when it had to.
  bool FitBudget(int& prefill, int& decode) const;

  double StepMs(int pool, const perf::BatchComposition& batch);
  double DecodeStepMs(int pool, int64_t batch, double ctx);
  int DecodeBatchLimit(int pool, double ctx) const;
  PrefillQueue MakePrefillQueue(int pool, double isl_eff);
  // TTFT quantile at `lambda` requests/s: the prompt's service plus the M/D/1 waiting-time
  // quantile.
  double PrefillTtftMs(const PrefillQueue& q, double lambda) const;
  // Decode-only ITL at `lambda` requests/s: the step at the fixed point B = lambda x osl x ITL.
  double DecodeItlMs(int pool, double lambda, double ctx, double osl);
  // Pool 0 serving both phases at `lambda` requests/s.
  Latency AggLatency(const PrefillQueue& q, double lambda, double isl, double osl);
  // At `prefill` / `decode` replicas (agg: decode only) and the forecast load; raw model.
  Latency ModelLatency(int prefill, int decode, const Forecast& load);

  SlaPlannerConfig config_;
  std::vector<PoolModel> pools_;
  LoadPredictor requests_, isl_, osl_, hit_;
  double ttft_factor_ = 1, itl_factor_ = 1;
  std::vector<double> tokens_per_s_;  // per pool, 0 until computed
  std::optional<Time> last_tick_;
};

}  // namespace dynamo::planner
