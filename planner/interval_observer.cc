#include "planner/interval_observer.h"

#include "core/check.h"

namespace dynamo::planner {

IntervalObserver::IntervalObserver(double percentile) : percentile_(percentile) {
  DYNAMO_CHECK(percentile > 0 && percentile < 100);
}

void IntervalObserver::Arrival(int64_t isl, int64_t osl) {
  ++arrivals_;
  isl_sum_ += static_cast<double>(isl);
  osl_sum_ += static_cast<double>(osl);
}

void IntervalObserver::Admitted(int64_t cached_tokens, int64_t prompt_tokens) {
  cached_tokens_ += cached_tokens;
  prompt_tokens_ += prompt_tokens;
}

stats::LogHistogram* IntervalObserver::WorkerHistogram(WorkerId worker, bool ttft) {
  const size_t i = worker.value();
  if (i >= workers_.size()) workers_.resize(i + 1);
  PerWorker& w = workers_[i];
  if (w.left) return nullptr;
  std::unique_ptr<stats::LogHistogram>& h = ttft ? w.ttft : w.itl;
  if (!h) h = std::make_unique<stats::LogHistogram>();
  return h.get();
}

void IntervalObserver::Ttft(WorkerId worker, double ms) {
  ttft_.Add(ms);
  if (stats::LogHistogram* h = WorkerHistogram(worker, /*ttft=*/true)) h->Add(ms);
}

void IntervalObserver::Itl(WorkerId worker, double ms) {
  itl_.Add(ms);
  if (stats::LogHistogram* h = WorkerHistogram(worker, /*ttft=*/false)) h->Add(ms);
}

void IntervalObserver::WorkerLeft(WorkerId worker) {
  const size_t i = worker.value();
  if (i >= workers_.size()) workers_.resize(i + 1);
  workers_[i] = PerWorker{.left = true};
}

void IntervalObserver::WorkerJoined(WorkerId worker) {
  const size_t i = worker.value();
  if (i < workers_.size()) workers_[i].left = false;
}

Observation IntervalObserver::Close(int prefill_replicas, int decode_replicas) {
  Observation o;
  o.requests = static_cast<double>(arrivals_);
  if (arrivals_ > 0) {
    o.mean_isl = isl_sum_ / static_cast<double>(arrivals_);
    o.mean_osl = osl_sum_ / static_cast<double>(arrivals_);
  }
  o.kv_hit_rate = prompt_tokens_ > 0
                      ? static_cast<double>(cached_tokens_) / static_cast<double>(prompt_tokens_)
                      : 0;
  if (ttft_.count() > 0) o.ttft_ms = ttft_.Percentile(percentile_);
  if (itl_.count() > 0) o.itl_ms = itl_.Percentile(percentile_);
  for (PerWorker& w : workers_) {
    if (w.left) continue;
    if (w.ttft && w.ttft->count() > 0) {
      o.worker_ttft_ms.push_back(w.ttft->Percentile(percentile_));
      *w.ttft = stats::LogHistogram();
    }
    if (w.itl && w.itl->count() > 0) {
      o.worker_itl_ms.push_back(w.itl->Percentile(percentile_));
      *w.itl = stats::LogHistogram();
    }
  }
  o.prefill_replicas = prefill_replicas;
  o.decode_replicas = decode_replicas;
  arrivals_ = 0;
  isl_sum_ = osl_sum_ = 0;
  prompt_tokens_ = cached_tokens_ = 0;
  ttft_ = stats::LogHistogram();
  itl_ = stats::LogHistogram();
  return o;
}

}  // namespace dynamo::planner
