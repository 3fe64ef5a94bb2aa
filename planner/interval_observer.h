#pragma once
// IntervalObserver: what a driver measures during one planner interval, turned into the
// planner's Observation. The simulator and dynamo-run feed it the same events (an arrival, a
// prompt admitted, a first token, an inter-token gap, a worker leaving), so that both hand the
// SlaPlanner the same figures for the same traffic.
//
// Quantiles come from LogHistogram (within 1% of the nearest-rank value), overall and per worker,
// at the planner's percentile. Sans-I/O: no clock, no threads; the driver calls Close at the end
// of each interval. Not thread-safe; one observer per planner.
//
// Workers are dense ids (WorkerId::value() indexes a vector: keep them small). A worker is
// reported per worker from its first sample until WorkerLeft; a worker that left (draining,
// exited) counts in the overall quantiles only, until WorkerJoined.

#include <cstdint>
#include <memory>
#include <vector>

#include "core/ids.h"
#include "core/stats/log_histogram.h"
#include "planner/sla_planner.h"

namespace dynamo::planner {

class IntervalObserver {
 public:
  // `percentile` in percent, in (0, 100) (plan.planner.percentile: 90 is p90); CHECKed.
  explicit IntervalObserver(double percentile);

  // A request arrived with `isl` prompt tokens and `osl` output tokens.
  void Arrival(int64_t isl, int64_t osl);
  // A prompt of `prompt_tokens` was admitted by a worker that held `cached_tokens` of it.
  void Admitted(int64_t cached_tokens, int64_t prompt_tokens);
  // A first token `ms` after the request's arrival, produced by `worker`. Precondition: ms >= 0.
  void Ttft(WorkerId worker, double ms);
  // A gap of `ms` between consecutive tokens of a request on `worker`. Precondition: ms >= 0.
  void Itl(WorkerId worker, double ms);
  // `worker` no longer counts per worker (it is draining or gone): this interval's samples of it
  // are dropped from the per-worker lists; its later samples count in the overall quantiles only.
  void WorkerLeft(WorkerId worker);
  // `worker` counts per worker again (an id reused after WorkerLeft); no-op otherwise.
  void WorkerJoined(WorkerId worker);

  // Ends the interval: the Observation of everything since the last Close (or construction),
  // with the replica counts the driver has now (ready + starting, not draining; aggregated:
  // prefill 0, decode = the aggregated pool). TTFT and ITL at the percentile, nullopt without
  // samples; per-worker lists in ascending worker id, for workers with samples that have not
  // left. Then starts a new interval (every count and histogram empty).
  Observation Close(int prefill_replicas, int decode_replicas);

  // The interval so far.
  int64_t arrivals() const { return arrivals_; }
  uint64_t ttft_samples() const { return ttft_.count(); }
  uint64_t itl_samples() const { return itl_.count(); }
  double percentile() const { return percentile_; }

 private:
  struct PerWorker {
    bool left = false;
    // Allocated on the first sample (a histogram holds ~11 KiB of buckets).
    std::unique_ptr<stats::LogHistogram> ttft, itl;
  };
  // Null when the worker left.
  stats::LogHistogram* WorkerHistogram(WorkerId worker, bool ttft);

  double percentile_;
  int64_t arrivals_ = 0;
  double isl_sum_ = 0, osl_sum_ = 0;
  int64_t prompt_tokens_ = 0, cached_tokens_ = 0;
  stats::LogHistogram ttft_, itl_;
  std::vector<PerWorker> workers_;  // [worker id]
};

}  // namespace dynamo::planner
