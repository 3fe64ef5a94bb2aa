#include "configurator/load_search.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "sim/simulation.h"

namespace dynamo::configurator {
namespace {

double AtPercentile(const sim::Percentiles& p, double q) {
  if (q <= 50) return p.p50;
  if (q <= 90) return p.p90;
  return p.p99;
}

}  // namespace

StatusOr<Probe> SimulateAt(const Plan& plan, const LoadSource& source,
                           std::shared_ptr<const perf::PerfModel> perf, const sim::SloSpec& slo,
                           uint64_t seed, double load, int64_t requests, bool stop_early,
                           const std::atomic<bool>* cancel) {
  ASSIGN_OR_RETURN(Workload wl, source.Make(load, requests));
  sim::SimOptions opt;
  opt.cancel = cancel;
  opt.seed = seed;
  opt.slo = slo;
  opt.keep_requests = false;
  opt.timeseries_interval = Duration::Seconds(1e6);  // one row: the sweep reads the summary only
  opt.stop_on_slo_miss = stop_early;
  ASSIGN_OR_RETURN(sim::SimResult r, sim::Simulate(plan, wl, std::move(perf), opt));
  const sim::RunSummary& s = r.summary;
  Probe p;
  p.requests = static_cast<int64_t>(wl.requests.size());
  p.pass = s.ttft_ok && s.itl_ok && !s.stopped_early && s.completed > 0 && s.rejected == 0 &&
           s.stalled == 0;
  LoadPoint& lp = p.point;
  lp.load = load;
  lp.rate_rps = source.closed_loop() ? s.throughput_rps : source.base() * load;
  lp.ttft_ms = AtPercentile(s.ttft_ms, slo.percentile);
  lp.itl_ms = AtPercentile(s.itl_ms, slo.percentile);
  lp.ttft_p50_ms = s.ttft_ms.p50;
  lp.itl_p50_ms = s.itl_ms.p50;
  lp.throughput_rps = s.throughput_rps;
  lp.output_tokens_per_s = s.output_tokens_per_s;
  lp.tokens_per_s_per_gpu = s.output_tokens_per_s_per_gpu;
  lp.tokens_per_s_per_user = s.output_tokens_per_s_per_user;
  lp.goodput_rps = s.goodput_rps;
  lp.kv_hit_rate = s.kv_hit_rate;
  lp.fingerprint = s.fingerprint;
  return p;
}

namespace {

class Search {
 public:
  Search(const Plan& plan, const LoadSource& source, std::shared_ptr<const perf::PerfModel> perf,
         const LoadSearchConfig& c)
      : plan_(plan), source_(source), perf_(std::move(perf)), c_(c) {}

  StatusOr<LoadSearchResult> Run();

 private:
  double Round(double load) const {
    if (!source_.closed_loop()) return load;
    // A whole number of requests in flight, at least one.
    return std::max(1.0, std::round(load * source_.base())) / source_.base();
  }
  // Midpoint in log space; nullopt when the bracket cannot be split further.
  std::optional<double> Mid(double lo, double hi) const {
    const double m = Round(std::sqrt(lo * hi));
    if (m <= lo || m >= hi) return std::nullopt;
    return m;
  }
  StatusOr<Probe> At(double load, bool full) {
    const int64_t n = full ? c_.full_requests : c_.short_requests;
    ASSIGN_OR_RETURN(Probe p,
                     SimulateAt(plan_, source_, perf_, c_.slo, c_.seed, load, n, true, c_.cancel));
    if (full && !p.pass) full_failed_.push_back(load);
    ++out_.simulations;
    if (full) ++out_.full_simulations;
    out_.requests_simulated += p.requests;
    if (!out_.lightest || load < out_.lightest->load) out_.lightest = p.point;
    return p;
  }

  const Plan& plan_;
  const LoadSource& source_;
  std::shared_ptr<const perf::PerfModel> perf_;
  const LoadSearchConfig& c_;
  // The next load below `a` when stepping down: / 1.25, and at least one request in flight
  // fewer for closed loops (rounding alone would return `a`).
  double StepDown(double a) const {
    if (!source_.closed_loop()) return a / 1.25;
    const double c = std::round(a * source_.base());
    return std::max(1.0, std::min(c - 1, std::round(c / 1.25))) / source_.base();
  }

  LoadSearchResult out_;
  std::vector<double> full_failed_;  // loads that failed at full length
};

StatusOr<LoadSearchResult> Search::Run() {
  // Short phase: a bracket [lo passes, hi fails] (hi absent when even the top passes).
  double lo = 0;
  std::optional<double> hi;
  LoadPoint short_best;
  double top = Round(c_.top_load);
  ASSIGN_OR_RETURN(Probe p, At(top, false));
  if (p.pass) {
    lo = top;
    short_best = p.point;
    for (int i = 0; i < c_.max_extensions; ++i) {
      const double up = Round(lo * 2);
      ASSIGN_OR_RETURN(Probe q, At(up, false));
      if (!q.pass) {
        hi = up;
        break;
      }
      lo = up;
      short_best = q.point;
    }
  } else {
    hi = top;
    double bottom = Round(top / c_.span);
    for (int tries = 0; tries < 2 && lo == 0; ++tries) {
      if (bottom >= *hi) break;
      ASSIGN_OR_RETURN(Probe q, At(bottom, false));
      if (q.pass) {
        lo = bottom;
        short_best = q.point;
      } else {
        hi = bottom;
        bottom = Round(bottom / 8);
      }
    }
    if (lo == 0) return std::move(out_);  // misses the SLA even at light load
  }
  for (int i = 0; i < c_.short_steps && hi; ++i) {
    auto mid = Mid(lo, *hi);
    if (!mid) break;
    ASSIGN_OR_RETURN(Probe q, At(*mid, false));
    if (q.pass) {
      lo = *mid;
      short_best = q.point;
    } else {
      hi = *mid;
    }
  }
  if (c_.after_short) {
    if (auto why = c_.after_short(hi.value_or(lo), short_best)) {
      out_.stopped = *why;
      return std::move(out_);
    }
  }
  // Full phase: confirm the bottom (step down while it fails), then narrow.
  double a = lo;
  std::optional<Probe> best;
  for (int i = 0; i < 5; ++i) {
    ASSIGN_OR_RETURN(Probe q, At(a, true));
    if (q.pass) {
      best = q;
      break;
    }
    hi = a;
    const double down = StepDown(a);
    if (down >= a) break;
    a = down;
  }
  if (!best) return std::move(out_);

  for (int i = 0; i < c_.full_steps && hi && best; ++i) {
    auto mid = Mid(a, *hi);
    if (!mid) break;
    ASSIGN_OR_RETURN(Probe q, At(*mid, true));
    if (q.pass) {
      a = *mid;
      best = q;
    } else {
      hi = *mid;
    }
  }
  // A demand: the bisection may end just below it without a full run there (a failing full
  // run at or below it settles the question).
  if (c_.must_reach && best->point.load < *c_.must_reach &&
      std::none_of(full_failed_.begin(), full_failed_.end(),
                   [&](double f) { return f <= *c_.must_reach; })) {
    ASSIGN_OR_RETURN(Probe q, At(*c_.must_reach, true));
    if (q.pass) best = q;
  }
  out_.best = best->point;
  return std::move(out_);
}

}  // namespace

StatusOr<LoadSearchResult> SearchMaxLoad(const Plan& plan, const LoadSource& source,
                                         std::shared_ptr<const perf::PerfModel> perf,
                                         const LoadSearchConfig& config) {
  Search s(plan, source, std::move(perf), config);
  return s.Run();
}

}  // namespace dynamo::configurator
