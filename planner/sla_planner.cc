#include "planner/sla_planner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <string>
#include <utility>

namespace dynamo::planner {
namespace {

constexpr double kInf = std::numeric_limits<double>::infinity();
// Prefix caching never makes a prompt free: at most this fraction of it is cached.
constexpr double kMaxKvHitRate = 0.95;
// Correction factors (observed / expected latency) are clamped and smoothed.
constexpr double kMinCorrection = 0.5;
constexpr double kMaxCorrection = 3.0;
constexpr double kCorrectionSmoothing = 0.5;  // weight of the newest factor
// Bisection steps over a worker's arrival rate: 2^-64 of the range, far below any decision.
constexpr int kBisectionSteps = 64;
// Guards against absurd forecasts (a trend run away): prompts longer than this are capped.
constexpr double kMaxPromptTokens = 16.0 * 1024 * 1024;
constexpr int kMaxReplicasCap = 1'000'000;
// ceil() of a ratio that is an integer up to rounding must not round up.
constexpr double kCeilSlack = 1e-9;

// Least fixed point of B = ceil(tokens_per_s x itl_ms(B) / 1000), iterated from B = 1: the ITL
// grows with B, so B never decreases. 0 when B would pass `limit` or the ITL is infinite.
template <class ItlMs>
int64_t BatchFixedPoint(int limit, double tokens_per_s, ItlMs itl_ms) {
  int64_t batch = 1;
  for (int iter = 0; iter <= limit; ++iter) {
    const double ms = itl_ms(batch);
    if (!std::isfinite(ms)) return 0;
    const double need = std::ceil(tokens_per_s * ms * 1e-3 - kCeilSlack);
    if (need > limit) return 0;
    if (need <= static_cast<double>(batch)) return batch;
    batch = static_cast<int64_t>(need);
  }
  return 0;
}

std::string Num(double v) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

double Clamp(double v, double lo, double hi) { return std::min(std::max(v, lo), hi); }

double EffectiveIsl(double isl, double hit_rate) {
  return std::max(0.0, isl) * (1.0 - Clamp(hit_rate, 0.0, kMaxKvHitRate));
}

// Whole tokens of a (mean) prompt or context length: at least 1, rounded up.
int64_t WholeTokens(double tokens) {
  return static_cast<int64_t>(std::ceil(Clamp(tokens, 1.0, kMaxPromptTokens)));
}

const char* PoolName(PlannerMode mode, int pool) {
  if (mode == PlannerMode::kAggregated) return "aggregated";
  return pool == 0 ? "prefill" : "decode";
}

std::string Workers(int count, const char* role, int gpus_per_worker) {
  const std::string head = count == 1 ? "one " + std::string(role) + " worker"
                                      : std::to_string(count) + " " + role + " workers";
  return head + " (" + std::to_string(count * gpus_per_worker) + " GPUs)";
}

void UpdateFactor(double& factor, const std::optional<double>& observed, double expected) {
  if (!observed || !std::isfinite(*observed) || !std::isfinite(expected) || expected <= 0) return;
  const double raw = Clamp(*observed / expected, kMinCorrection, kMaxCorrection);
  factor = (1 - kCorrectionSmoothing) * factor + kCorrectionSmoothing * raw;
}

Status ValidateConfig(const SlaPlannerConfig& c) {
  if (!(c.ttft_ms > 0) || !std::isfinite(c.ttft_ms)) {
    return InvalidArgument("planner.ttft_ms: " + Num(c.ttft_ms) +
                           " must be a positive number of milliseconds; use e.g. 500");
  }
  if (!(c.itl_ms > 0) || !std::isfinite(c.itl_ms)) {
    return InvalidArgument("planner.itl_ms: " + Num(c.itl_ms) +
                           " must be a positive number of milliseconds; use e.g. 30");
  }
  if (!(c.percentile > 0 && c.percentile < 1)) {
    return InvalidArgument("planner.percentile: " + Num(c.percentile) +
                           " must be in (0, 1); use e.g. 0.9 for p90");
  }
  if (c.interval <= Duration::Zero()) {
    return InvalidArgument("planner.interval: " + Num(c.interval.seconds()) +
                           " s must be > 0; use e.g. 60 s");
  }
  if (!(c.scale_down_margin > 0 && c.scale_down_margin <= 1)) {
    return InvalidArgument("planner.scale_down_margin: " + Num(c.scale_down_margin) +
                           " must be in (0, 1]; use e.g. 0.8");
  }
  if (!(c.max_scale_down_fraction > 0 && c.max_scale_down_fraction <= 1)) {
    return InvalidArgument("planner.max_scale_down_fraction: " + Num(c.max_scale_down_fraction) +
                           " must be in (0, 1]; use e.g. 0.25");
  }
  if (c.lookahead_intervals < 1) {
    return InvalidArgument("planner.lookahead_intervals: " + std::to_string(c.lookahead_intervals) +
                           " must be >= 1");
  }
  if (!(c.headroom_sigma >= 0) || !std::isfinite(c.headroom_sigma)) {
    return InvalidArgument("planner.headroom_sigma: " + Num(c.headroom_sigma) +
                           " must be >= 0; use 0 to provision for the forecast alone");
  }
  if (c.predictor.window < 1) {
    return InvalidArgument("planner.predictor.window: " + std::to_string(c.predictor.window) +
                           " must be >= 1");
  }
  if (c.max_gpus < 0) {
    return InvalidArgument("planner.max_gpus: " + std::to_string(c.max_gpus) +
                           " must be >= 0 (0: no budget)");
  }
  return Status::Ok();
}

Status ValidatePool(PlannerMode mode, int index, const PoolModel& p) {
  const std::string where =
      "planner.pools[" + std::to_string(index) + "] (" + PoolName(mode, index) + ").";
  if (p.gpus_per_worker < 1) {
    return InvalidArgument(where + "gpus_per_worker: " + std::to_string(p.gpus_per_worker) +
                           " must be >= 1");
  }
  if (p.max_num_seqs < 1) {
    return InvalidArgument(where + "max_num_seqs: " + std::to_string(p.max_num_seqs) +
                           " must be >= 1");
  }
  if (p.max_num_batched_tokens < 1) {
    return InvalidArgument(where + "max_num_batched_tokens: " +
                           std::to_string(p.max_num_batched_tokens) + " must be >= 1");
  }
  if (p.kv_capacity_tokens < 0) {
    return InvalidArgument(where + "kv_capacity_tokens: " + std::to_string(p.kv_capacity_tokens) +
                           " must be >= 0 (0: not limited)");
  }
  if (p.min_replicas < 1) {
    return InvalidArgument(where + "min_replicas: " + std::to_string(p.min_replicas) +
                           " must be >= 1");
  }
  if (p.max_replicas != 0 && p.max_replicas < p.min_replicas) {
    return InvalidArgument(where + "max_replicas: " + std::to_string(p.max_replicas) +
                           " is below min_replicas " + std::to_string(p.min_replicas) +
                           "; use 0 (budget only) or >= " + std::to_string(p.min_replicas));
  }
  return Status::Ok();
}

}  // namespace

StatusOr<SlaPlanner> SlaPlanner::Create(const SlaPlannerConfig& config,
                                        std::vector<PoolModel> pools) {
  const bool agg = config.mode == PlannerMode::kAggregated;
  const size_t want = agg ? 1 : 2;
  if (pools.size() != want) {
    return InvalidArgument("planner.pools: " + std::to_string(pools.size()) + " given for " +
                           (agg ? "aggregated" : "disaggregated") + " mode; pass " +
                           (agg ? "exactly one (the aggregated pool)" : "two: {prefill, decode}"));
  }
  RETURN_IF_ERROR(ValidateConfig(config));
  int min_gpus = 0;
  for (size_t i = 0; i < pools.size(); ++i) {
    RETURN_IF_ERROR(ValidatePool(config.mode, static_cast<int>(i), pools[i]));
    min_gpus += pools[i].min_replicas * pools[i].gpus_per_worker;
  }
  if (config.max_gpus > 0 && config.max_gpus < min_gpus) {
    std::string held;
    for (size_t i = 0; i < pools.size(); ++i) {
      if (i > 0) held += " and ";
      held += Workers(pools[i].min_replicas, PoolName(config.mode, static_cast<int>(i)),
                      pools[i].gpus_per_worker);
    }
    return InvalidArgument("planner.max_gpus: " + std::to_string(config.max_gpus) +
                           " cannot hold " + held + "; use >= " + std::to_string(min_gpus));
  }
  return SlaPlanner(config, std::move(pools));
}

SlaPlanner::SlaPlanner(const SlaPlannerConfig& config, std::vector<PoolModel> pools)
    : config_(config),
      pools_(std::move(pools)),
      requests_(config.predictor),
      isl_(config.predictor),
      osl_(config.predictor),
      hit_(config.predictor),
      tokens_per_s_(pools_.size(), 0.0) {}

// ---------------------------------------------------------------------------------------------
// Load

void SlaPlanner::WarmUp(std::span<const IntervalLoad> history) {
  for (const IntervalLoad& l : history) {
    requests_.Observe(l.requests);
    // An interval without arrivals says nothing about prompt lengths.
    if (l.requests > 0) {
      isl_.Observe(l.mean_isl);
      osl_.Observe(l.mean_osl);
    }
  }
  for (LoadPredictor* p : {&requests_, &isl_, &osl_, &hit_}) p->ResetIdleSkip();
}

void SlaPlanner::ObserveLoad(const Observation& obs) {
  requests_.Observe(obs.requests);
  if (obs.requests > 0) {
    isl_.Observe(obs.mean_isl);
    osl_.Observe(obs.mean_osl);
    hit_.Observe(obs.kv_hit_rate);
  }
}

SlaPlanner::Forecast SlaPlanner::PredictLoad() {
  // Replicas started now serve from `lookahead` intervals on, and the next interval must be
  // covered too: size for the larger of the two forecasts.
  const double next = requests_.Predict(1);
  const double ahead = requests_.Predict(config_.lookahead_intervals);
  const double requests =
      std::max(next, ahead) + config_.headroom_sigma * requests_.ForecastStddev();
  Forecast f;
  f.rps = requests / config_.interval.seconds();
  f.isl = isl_.Predict(1);
  f.osl = osl_.Predict(1);
  f.hit = Clamp(hit_.Predict(1), 0.0, kMaxKvHitRate);
  return f;
}

// ---------------------------------------------------------------------------------------------
// Decision

ScalingDecision SlaPlanner::Tick(Time now, const Observation& obs) {
  DYNAMO_CHECK(!last_tick_ || now >= *last_tick_);
  last_tick_ = now;
  ObserveLoad(obs);
  UpdateCorrections(obs);
  const Forecast load = PredictLoad();

  ScalingDecision d;
  d.predicted_rps = load.rps;
  d.predicted_isl = load.isl;
  d.predicted_osl = load.osl;
  d.ttft_correction = ttft_factor_;
  d.itl_correction = itl_factor_;
  // Planning targets: a pool that runs slower than the model (factor > 1) is planned against a
  // proportionally tighter target.
  const double ttft_target = config_.ttft_ms / ttft_factor_;
  const double itl_target = config_.itl_ms / itl_factor_;
  const double isl_eff = EffectiveIsl(load.isl, load.hit);

  int prefill = 0;
  int decode = 0;
  if (config_.mode == PlannerMode::kAggregated) {
    const double worker = AggWorkerRps(isl_eff, load.isl, load.osl, ttft_target, itl_target);
    d.sla_feasible = worker > 0;
    decode = LimitScaleDown(0, SizePool(0, load.rps, worker), obs.decode_replicas, obs);
  } else {
    const double p_worker = PrefillWorkerRps(0, isl_eff, ttft_target);
    const double d_worker = DecodeWorkerRps(1, load.isl, load.osl, itl_target);
    d.sla_feasible = p_worker > 0 && d_worker > 0;
    prefill = LimitScaleDown(0, SizePool(0, load.rps, p_worker), obs.prefill_replicas, obs);
    decode = LimitScaleDown(1, SizePool(1, load.rps, d_worker), obs.decode_replicas, obs);
  }
  d.budget_limited = FitBudget(prefill, decode);
  d.prefill_replicas = prefill;
  d.decode_replicas = decode;

  const Latency expected = ModelLatency(prefill, decode, load);
  d.expected_ttft_ms = expected.ttft_ms * ttft_factor_;
  d.expected_itl_ms = expected.itl_ms * itl_factor_;
  return d;
}

void SlaPlanner::UpdateCorrections(const Observation& obs) {
  if (!config_.correction || !(obs.requests > 0)) return;
  Forecast observed;
  observed.rps = obs.requests / config_.interval.seconds();
  observed.isl = obs.mean_isl;
  observed.osl = obs.mean_osl;
  observed.hit = obs.kv_hit_rate;
  if (config_.mode == PlannerMode::kAggregated) {
    if (obs.decode_replicas <= 0) return;
    const Latency e = ModelLatency(0, obs.decode_replicas, observed);
    UpdateFactor(ttft_factor_, obs.ttft_ms, e.ttft_ms);
    UpdateFactor(itl_factor_, obs.itl_ms, e.itl_ms);
    return;
  }
  // Each pool's expectation needs only its own replica count.
  if (obs.prefill_replicas > 0) {
    const Latency e = ModelLatency(obs.prefill_replicas, 0, observed);
    UpdateFactor(ttft_factor_, obs.ttft_ms, e.ttft_ms);
  }
  if (obs.decode_replicas > 0) {
    const Latency e = ModelLatency(0, obs.decode_replicas, observed);
    UpdateFactor(itl_factor_, obs.itl_ms, e.itl_ms);
  }
}

int SlaPlanner::SizePool(int pool, double demand_rps, double worker_rps) const {
  const PoolModel& p = pools_[pool];
  int n = p.min_replicas;
  if (demand_rps > 0 && worker_rps > 0) {
    const double need = std::ceil(demand_rps / worker_rps - kCeilSlack);
    n = std::max(n, static_cast<int>(std::min(need, static_cast<double>(kMaxReplicasCap))));
  }
  if (p.max_replicas > 0) n = std::min(n, p.max_replicas);
  return n;
}

int SlaPlanner::LimitScaleDown(int pool, int desired, int current, const Observation& obs) const {
  const PoolModel& p = pools_[pool];
  int n = desired;
  if (current > 0 && desired < current) {
    const bool agg = config_.mode == PlannerMode::kAggregated;
    bool inside = true;
    auto check = [&](const std::optional<double>& pool_value, const std::vector<double>& workers,
                     double target) {
      const double limit = config_.scale_down_margin * target;
      if (pool_value && *pool_value > limit) inside = false;
      for (double v : workers) {
        if (v > limit) inside = false;
      }
    };
    if (agg || pool == 0) check(obs.ttft_ms, obs.worker_ttft_ms, config_.ttft_ms);
    if (agg || pool == 1) check(obs.itl_ms, obs.worker_itl_ms, config_.itl_ms);
    if (!inside) {
      n = current;
    } else {
      const int max_step =
          std::max(1, static_cast<int>(std::floor(config_.max_scale_down_fraction * current)));
      n = std::max(desired, current - max_step);
    }
  }
  if (p.max_replicas > 0) n = std::min(n, p.max_replicas);
  return std::max(n, p.min_replicas);
}

bool SlaPlanner::FitBudget(int& prefill, int& decode) const {
  const int budget = config_.max_gpus;
  if (budget <= 0) return false;
  if (config_.mode == PlannerMode::kAggregated) {
    const PoolModel& a = pools_[0];
    if (decode * a.gpus_per_worker <= budget) return false;
    decode = std::max(a.min_replicas, budget / a.gpus_per_worker);
    return true;
  }
  const PoolModel& p = pools_[0];
  const PoolModel& d = pools_[1];
  const int64_t required = static_cast<int64_t>(prefill) * p.gpus_per_worker +
                           static_cast<int64_t>(decode) * d.gpus_per_worker;
  if (required <= budget) return false;
  // Both pools shrink by budget / required; prefill keeps room for decode's minimum, and decode
  // takes the rest (never more than it asked for).
  const double scale = static_cast<double>(budget) / static_cast<double>(required);
  const int prefill_cap = (budget - d.min_replicas * d.gpus_per_worker) / p.gpus_per_worker;
  const int new_prefill = std::clamp(static_cast<int>(std::floor(prefill * scale)), p.min_replicas,
                                     std::max(p.min_replicas, prefill_cap));
  const int rest = (budget - new_prefill * p.gpus_per_worker) / d.gpus_per_worker;
  prefill = new_prefill;
  decode = std::max(d.min_replicas, std::min(decode, rest));
  return true;
}

SlaPlanner::Latency SlaPlanner::ModelLatency(int prefill, int decode, const Forecast& load) {
  const double isl_eff = EffectiveIsl(load.isl, load.hit);
  Latency l;
  if (config_.mode == PlannerMode::kAggregated) {
    if (decode <= 0) return {kInf, kInf};
    return AggLatency(MakePrefillQueue(0, isl_eff), load.rps / decode, load.isl, load.osl);
  }
  if (prefill > 0) l.ttft_ms = PrefillTtftMs(MakePrefillQueue(0, isl_eff), load.rps / prefill);
  if (decode > 0) {
    const double osl = std::max(1.0, load.osl);
    l.itl_ms = DecodeItlMs(1, load.rps / decode, std::max(0.0, load.isl) + osl / 2, osl);
  }
  return l;
}

// ---------------------------------------------------------------------------------------------
// Capacity model

double SlaPlanner::StepMs(int pool, const perf::BatchComposition& batch) {
  return pools_[pool].step.Evaluate(batch).total.millis();
}

double SlaPlanner::DecodeStepMs(int pool, int64_t batch, double ctx) {
  perf::BatchComposition b;
  b.decode_seqs = batch;
  b.decode_kv_tokens = batch * WholeTokens(ctx);
  return StepMs(pool, b);
}

int SlaPlanner::DecodeBatchLimit(int pool, double ctx) const {
  const PoolModel& p = pools_[pool];
  int64_t limit = p.max_num_seqs;
  if (p.kv_capacity_tokens > 0) limit = std::min(limit, p.kv_capacity_tokens / WholeTokens(ctx));
  return static_cast<int>(limit);
}

double SlaPlanner::PrefillServiceMs(int pool, double isl) {
  DYNAMO_CHECK(pool >= 0 && pool < static_cast<int>(pools_.size()));
  const int64_t chunk = pools_[pool].max_num_batched_tokens;
  const int64_t tokens = WholeTokens(isl);
  double ms = 0;
  perf::BatchComposition b;
  for (int64_t done = 0; done < tokens;) {
    const int64_t q = std::min(chunk, tokens - done);
    done += q;
    b.prefill.assign(1, perf::PrefillChunk{q, done, done == tokens});
    ms += StepMs(pool, b);
  }
  return ms;
}

double SlaPlanner::PrefillTokensPerSecond(int pool) {
  DYNAMO_CHECK(pool >= 0 && pool < static_cast<int>(pools_.size()));
  double& memo = tokens_per_s_[pool];
  if (memo == 0) {
    const int64_t chunk = pools_[pool].max_num_batched_tokens;
    perf::BatchComposition b;
    b.prefill.push_back({chunk, chunk, true});
    memo = static_cast<double>(chunk) / (StepMs(pool, b) * 1e-3);
  }
  return memo;
}

int SlaPlanner::DecodeBatchFor(int pool, double ctx, double itl_ms) {
  DYNAMO_CHECK(pool >= 0 && pool < static_cast<int>(pools_.size()));
  int hi = DecodeBatchLimit(pool, ctx);
  if (hi < 1 || DecodeStepMs(pool, 1, ctx) > itl_ms) return 0;
  int lo = 1;  // invariant: step(lo) <= itl_ms
  while (lo < hi) {
    const int mid = lo + (hi - lo + 1) / 2;
    if (DecodeStepMs(pool, mid, ctx) <= itl_ms) {
      lo = mid;
    } else {
      hi = mid - 1;
    }
  }
  return lo;
}

SlaPlanner::PrefillQueue SlaPlanner::MakePrefillQueue(int pool, double isl_eff) {
  PrefillQueue q;
  q.isl_eff = Clamp(isl_eff, 1.0, kMaxPromptTokens);
  q.mu = PrefillTokensPerSecond(pool);
  q.service_ms = PrefillServiceMs(pool, q.isl_eff);
  return q;
}

double SlaPlanner::PrefillTtftMs(const PrefillQueue& q, double lambda) const {
  const double rho = lambda * q.isl_eff / q.mu;
  if (rho >= 1) return kInf;
  // M/D/1 waiting time, exponential tail: P(W > t) ~= rho exp(-2 (1 - rho) t / S). Its mean,
  // rho S / (2 (1 - rho)), is the exact M/D/1 mean (Pollaczek-Khinchine).
  const double s_ms = q.isl_eff / q.mu * 1e3;
  const double tail = 1 - config_.percentile;
  const double wait_ms = rho <= tail ? 0.0 : s_ms / (2 * (1 - rho)) * std::log(rho / tail);
  return q.service_ms + wait_ms;
}

double SlaPlanner::DecodeItlMs(int pool, double lambda, double ctx, double osl) {
  const int limit = DecodeBatchLimit(pool, ctx);
  if (limit < 1) return kInf;
  const int64_t batch =
      BatchFixedPoint(limit, lambda * osl, [&](int64_t b) { return DecodeStepMs(pool, b, ctx); });
  return batch > 0 ? DecodeStepMs(pool, batch, ctx) : kInf;
}

double SlaPlanner::PrefillWorkerRps(int pool, double isl_eff, double ttft_ms) {
  const PrefillQueue q = MakePrefillQueue(pool, isl_eff);
  if (PrefillTtftMs(q, 0) > ttft_ms) return 0;
  double lo = 0;
  double hi = q.mu / q.isl_eff;  // rho = 1
  for (int i = 0; i < kBisectionSteps; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (PrefillTtftMs(q, mid) <= ttft_ms) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

double SlaPlanner::DecodeWorkerRps(int pool, double isl, double osl, double itl_ms) {
  osl = std::max(1.0, osl);
  const double ctx = std::max(0.0, isl) + osl / 2;
  const int batch = DecodeBatchFor(pool, ctx, itl_ms);
  if (batch == 0) return 0;
  return batch / (osl * DecodeStepMs(pool, batch, ctx) * 1e-3);
}

SlaPlanner::Latency SlaPlanner::AggLatency(const PrefillQueue& q, double lambda, double isl,
                                           double osl) {
  osl = std::max(1.0, osl);
  const double ctx = std::max(0.0, isl) + osl / 2;
  const int limit = DecodeBatchLimit(0, ctx);
  if (limit < 1) return {kInf, kInf};
  // Chunked prefill rides in the decode steps: every prompt needs ceil(isl_eff / MBT) steps that
  // carry a chunk (a mixed step, as long as the chunk's compute), the other steps are decode
  // only. Every running sequence gets one token per step, so the ITL distribution is a mix of
  // two step times: mixed steps are a fraction phi of all steps. The ITL quantile is the decode
  // step while phi stays within the tail (1 - percentile), else the mixed step: prefill
  // interference is what breaks an aggregated pool's ITL, long before its mean ITL does.
  const PoolModel& pool = pools_[0];
  const int64_t chunk = std::min<int64_t>(pool.max_num_batched_tokens, WholeTokens(q.isl_eff));
  const double chunks_per_prompt =
      std::ceil(q.isl_eff / static_cast<double>(pool.max_num_batched_tokens) - kCeilSlack);
  const double mixed_per_s = lambda * chunks_per_prompt;
  auto mixed_ms = [&](int64_t batch) {
    perf::BatchComposition b;
    b.decode_seqs = batch;
    b.decode_kv_tokens = batch * WholeTokens(ctx);
    b.prefill.push_back(perf::PrefillChunk{chunk, chunk, true});
    return StepMs(0, b);
  };
  // Decode-only steps per second: the time mixed steps leave, in decode steps.
  auto decode_per_s = [&](int64_t batch) {
    const double busy_mixed = mixed_per_s * mixed_ms(batch) * 1e-3;  // s/s in mixed steps
    return busy_mixed >= 1 ? -1.0 : (1 - busy_mixed) / (DecodeStepMs(0, batch, ctx) * 1e-3);
  };
  const int64_t batch = BatchFixedPoint(limit, lambda * osl, [&](int64_t b) {
    const double d = decode_per_s(b);
    return d < 0 ? kInf : 1e3 / (d + mixed_per_s);  // mean ITL
  });
  if (batch == 0) return {kInf, kInf};
  const double dec_ms = DecodeStepMs(0, batch, ctx);
  const double d = decode_per_s(batch);
  const double phi = mixed_per_s / (d + mixed_per_s);
  Latency l;
  l.itl_ms = phi <= 1 - config_.percentile ? dec_ms : mixed_ms(batch);
  // A new prompt also waits for the step in flight (about one decode step), whose decode tokens
  // then ride along with its chunks.
  l.ttft_ms = PrefillTtftMs(q, lambda) + dec_ms;
  return l;
}

double SlaPlanner::AggWorkerRps(double isl_eff, double isl, double osl, double ttft_ms,
                                double itl_ms) {
  const PrefillQueue q = MakePrefillQueue(0, isl_eff);
  auto meets = [&](double lambda) {
    const Latency l = AggLatency(q, lambda, isl, osl);
    return l.ttft_ms <= ttft_ms && l.itl_ms <= itl_ms;
  };
  if (!meets(0)) return 0;
  double lo = 0;
  double hi = q.mu / q.isl_eff;  // prefill alone fills the worker
  for (int i = 0; i < kBisectionSteps; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (meets(mid)) {
      lo = mid;
    } else {
      hi = mid;
    }
  }
  return lo;
}

}  // namespace dynamo::planner
