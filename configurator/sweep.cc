#include "configurator/sweep.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <mutex>
#include <thread>
#include <vector>

#include "configurator/bounds.h"
#include "configurator/load_search.h"
#include "configurator/load_source.h"
#include "configurator/pareto.h"
#include "core/version.h"
#include "core/workload/workload_stats.h"

namespace dynamo::configurator {
namespace {

// Analytic bounds and short simulations are estimates of the same model the full simulations
// run; this margin keeps a pruning decision from discarding a candidate that would have won
// (tests/configurator/sweep_test.cc checks the pick against brute force).
constexpr double kSlack = 1.25;

std::string Fmt(const char* fmt, double v) {
  char buf[64];
  std::snprintf(buf, sizeof(buf), fmt, v);
  return buf;
}

// The best result so far (after the previous waves).
struct Incumbent {
  bool any = false;
  int gpus = 0;
  double tokens_per_gpu = 0;
};

class Sweeper {
 public:
  Sweeper(const SweepInputs& in, std::shared_ptr<const perf::PerfModel> perf,
          const SweepOptions& opt)
      : in_(in), perf_(std::move(perf)), opt_(opt) {}

  StatusOr<SweepRun> Run();

 private:
  Status Prepare();
  void BoundAll();
  std::vector<size_t> EvaluationOrder() const;
  Status EvaluateWaves(const std::vector<size_t>& order);
  void Evaluate(CandidateResult& r, const Incumbent& inc);
  void Update(Incumbent& inc, const CandidateResult& r) const;
  Status Finish(SweepRun& run);
  std::string ExplainNoPlan() const;
  double TokensPerGpuBound(const CandidateResult& r) const {
    return r.bound_rps * kSlack * traffic_.osl_mean / r.candidate.gpus();
  }
  // The load at which the search starts: the analytic bound with slack, as a multiple of the
  // base rate, or of the base concurrency (Little's law at the SLA's latencies).
  double TopLoad(const CandidateResult& r) const {
    if (source_->closed_loop()) {
      const double e2e_s = (in_.ttft_ms + std::max(0.0, traffic_.osl_mean - 1) * in_.itl_ms) * 1e-3;
      return std::max(1.0, r.bound_rps * kSlack * e2e_s) / source_->base();
    }
    return r.bound_rps * kSlack / source_->base();
  }

  SweepInputs in_;  // a copy: Prepare resolves the default routers
  std::shared_ptr<const perf::PerfModel> perf_;
  const SweepOptions& opt_;
  Objective objective_ = Objective::kThroughputPerGpu;
  Plan base_;
  std::optional<LoadSource> source_;
  TrafficShape traffic_;
  sim::SloSpec slo_;
  std::vector<CandidateResult> rows_;  // this shard's rows, by id
  std::mutex mu_;                      // progress_, the counters below and the callback
  SweepProgress progress_;
  int64_t full_simulations_ = 0, requests_simulated_ = 0;
  std::vector<std::optional<LoadPoint>> lightest_;  // by row: the lightest load simulated
};

Status Sweeper::Prepare() {
  ASSIGN_OR_RETURN(base_, MakeBasePlan(in_));
  ASSIGN_OR_RETURN(LoadSource source, LoadSource::Create(in_));
  source_.emplace(std::move(source));
  objective_ = source_->has_demand() ? Objective::kMinGpus : Objective::kThroughputPerGpu;
  slo_.ttft_ms = in_.ttft_ms;
  slo_.itl_ms = in_.itl_ms;
  slo_.percentile = in_.percentile;

  // The traffic the bounds assume: the workload at load 1.
  ASSIGN_OR_RETURN(Workload ref, source_->Make(1.0, in_.requests));
  const WorkloadStats st = ComputeWorkloadStats(ref);
  std::vector<int32_t> isl;
  for (const Request& r : ref.requests) isl.push_back(r.isl);
  std::sort(isl.begin(), isl.end());
  traffic_.isl_mean = st.isl.mean;
  traffic_.osl_mean = st.osl.mean;
  traffic_.isl_at_percentile = isl.empty() ? 1 : NearestRank(isl, in_.percentile / 100.0);
  traffic_.isl_min = isl.empty() ? 1 : isl.front();
  traffic_.max_prefix_hit = st.prefix_reuse_ratio.value_or(0.0);

  // kv routing pays off only when prompts share prefixes; otherwise round robin is as good.
  if (in_.routers.empty()) in_.routers = {traffic_.max_prefix_hit > 0.01 ? "kv" : "round_robin"};

  SearchSpace space = opt_.space;
  if (space.tp.empty()) space.tp = DefaultSearchSpace(base_).tp;
  EnumeratedSpace all = Enumerate(base_, space, in_);
  if (all.feasible == 0) {
    std::string why =
        all.rows.empty() ? "no worker shape within the budget" : all.rows.front().reason;
    return FailedPrecondition("no candidate topology can run " + base_.model.name() + " on " +
                              std::to_string(in_.gpus) + " " + base_.gpu.name +
                              " GPU(s) (for example: " + why +
                              "); raise --gpus, use --dtype fp8, or widen --modes");
  }
  for (CandidateResult& r : all.rows) {
    if (r.candidate.id % in_.shard_count == in_.shard_index) rows_.push_back(std::move(r));
  }
  return Status::Ok();
}

void Sweeper::BoundAll() {
  for (CandidateResult& r : rows_) {
    if (r.status != CandidateStatus::kPass) continue;  // infeasible shape
    const Plan plan = BuildPlan(base_, r.candidate);
    const CandidateBound b =
        BoundCandidate(plan, traffic_, in_.ttft_ms, in_.itl_ms, in_.percentile, perf_);
    r.bound_rps = b.rps;
    if (!b.certain_miss.empty()) {
      r.status = CandidateStatus::kSlaMissed;
      r.reason = "analytic: " + b.certain_miss;
    } else if (objective_ == Objective::kMinGpus && !source_->closed_loop() &&
               b.rps * kSlack < source_->base()) {
      r.status = CandidateStatus::kBelowDemand;
      r.reason = "analytic: at most " + Fmt("%.3g", b.rps) + " req/s, below the demand " +
                 Fmt("%.3g", source_->base()) + " req/s";
    }
  }
}

std::vector<size_t> Sweeper::EvaluationOrder() const {
  std::vector<size_t> order;
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (rows_[i].status == CandidateStatus::kPass) order.push_back(i);
  }
  // Most promising first, so the incumbent is strong early and pruning bites.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const CandidateResult& ra = rows_[a];
    const CandidateResult& rb = rows_[b];
    if (objective_ == Objective::kMinGpus && ra.candidate.gpus() != rb.candidate.gpus()) {
      return ra.candidate.gpus() < rb.candidate.gpus();
    }
    const double ya = TokensPerGpuBound(ra), yb = TokensPerGpuBound(rb);
    if (ya != yb) return ya > yb;
    return ra.candidate.id < rb.candidate.id;
  });
  return order;
}

void Sweeper::Evaluate(CandidateResult& r, const Incumbent& inc) {
  const bool prune = opt_.prune && inc.any;
  const int gpus = r.candidate.gpus();
  if (prune) {
    if (objective_ == Objective::kMinGpus && gpus > inc.gpus) {
      r.status = CandidateStatus::kPruned;
      r.reason = "needs " + std::to_string(gpus) + " GPUs; a plan of " + std::to_string(inc.gpus) +
                 " already meets the demand";
      return;
    }
    const bool same_tier = objective_ == Objective::kThroughputPerGpu || gpus == inc.gpus;
    if (same_tier && TokensPerGpuBound(r) < inc.tokens_per_gpu) {
      r.status = CandidateStatus::kPruned;
      r.reason = "analytic bound " + Fmt("%.0f", TokensPerGpuBound(r)) +
                 " tok/s/GPU below the best " + Fmt("%.0f", inc.tokens_per_gpu);
      return;
    }
  }
  const Plan plan = BuildPlan(base_, r.candidate);
  LoadSearchConfig c;
  c.slo = slo_;
  c.seed = in_.seed;
  c.full_requests = in_.requests;
  c.short_requests =
      opt_.short_requests > 0 ? opt_.short_requests : std::max<int64_t>(100, in_.requests / 4);
  c.short_requests = std::min(c.short_requests, c.full_requests);
  c.top_load = TopLoad(r);
  c.cancel = opt_.cancel;
  if (objective_ == Objective::kMinGpus) c.must_reach = 1.0;
  CandidateStatus stop_status = CandidateStatus::kPruned;
  if (opt_.prune) {
    c.after_short = [&](double top, const LoadPoint& p) -> std::optional<std::string> {
      if (objective_ == Objective::kMinGpus && top * kSlack < 1.0) {
        stop_status = CandidateStatus::kBelowDemand;
        return "short simulations: at most " + Fmt("%.3g", top) + "x the demand";
      }
      const bool same_tier = objective_ == Objective::kThroughputPerGpu || gpus == inc.gpus;
      if (!inc.any || !same_tier || p.load <= 0) return std::nullopt;
      const double estimate = p.tokens_per_s_per_gpu * (top / p.load) * kSlack;
      if (estimate < inc.tokens_per_gpu) {
        return "short simulations: at most ~" + Fmt("%.0f", estimate) +
               " tok/s/GPU, below the best " + Fmt("%.0f", inc.tokens_per_gpu);
      }
      return std::nullopt;
    };
  }
  auto found = SearchMaxLoad(plan, *source_, perf_, c);
  if (!found.ok()) {
    r.status = CandidateStatus::kInfeasible;
    r.reason = "simulator: " + found.status().message();
    return;
  }
  r.simulations = found->simulations;
  lightest_[static_cast<size_t>(&r - rows_.data())] = found->lightest;
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.simulations += found->simulations;
    full_simulations_ += found->full_simulations;
    requests_simulated_ += found->requests_simulated;
  }
  if (!found->stopped.empty()) {
    r.status = stop_status;
    r.reason = found->stopped;
    return;
  }
  if (!found->best) {
    r.status = CandidateStatus::kSlaMissed;
    r.reason = "misses the SLA at every load tried (down to " + Fmt("%.3g", c.top_load / 32 / 8) +
               "x the base load)";
    return;
  }
  r.best = found->best;
  if (objective_ == Objective::kMinGpus && r.best->load < 1.0) {
    r.status = CandidateStatus::kBelowDemand;
    r.reason = "sustains " + Fmt("%.3g", r.best->load) + "x the demand at most";
  }
}

void Sweeper::Update(Incumbent& inc, const CandidateResult& r) const {
  if (r.status != CandidateStatus::kPass || !r.best) return;
  const int gpus = r.candidate.gpus();
  const double y = r.best->tokens_per_s_per_gpu;
  bool better = !inc.any;
  if (!better && objective_ == Objective::kMinGpus) {
    better = gpus < inc.gpus || (gpus == inc.gpus && y > inc.tokens_per_gpu);
  } else if (!better) {
    better = y > inc.tokens_per_gpu;
  }
  if (better) inc = Incumbent{true, gpus, y};
}

Status Sweeper::EvaluateWaves(const std::vector<size_t>& order) {
  const int threads = in_.threads > 0
                          ? in_.threads
                          : std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
  const size_t wave = static_cast<size_t>(std::max(1, opt_.wave));
  Incumbent inc;
  for (size_t start = 0; start < order.size(); start += wave) {
    if (opt_.cancel && opt_.cancel->load()) return Cancelled("sweep interrupted");
    const size_t end = std::min(order.size(), start + wave);
    const Incumbent snapshot = inc;
    std::atomic<size_t> next{start};
    auto work = [&] {
      for (size_t k = next++; k < end; k = next++) {
        if (opt_.cancel && opt_.cancel->load()) return;
        Evaluate(rows_[order[k]], snapshot);
        std::lock_guard<std::mutex> lock(mu_);
        ++progress_.done;
        if (opt_.progress) opt_.progress(progress_);
      }
    };
    const int n = std::min<int>(threads, static_cast<int>(end - start));
    if (n <= 1) {
      work();
    } else {
      std::vector<std::thread> pool;
      for (int t = 0; t < n; ++t) pool.emplace_back(work);
      for (std::thread& t : pool) t.join();
    }
    for (size_t k = start; k < end; ++k) Update(inc, rows_[order[k]]);
  }
  if (opt_.cancel && opt_.cancel->load()) return Cancelled("sweep interrupted");
  return Status::Ok();
}

Status Sweeper::Finish(SweepRun& run) {
  SweepOutcome& o = run.outcome;
  o.inputs = in_;
  o.inputs.objective = objective_;
  o.counts.full_simulations = full_simulations_;
  o.counts.requests_simulated = requests_simulated_;
  const bool any_pass = std::any_of(rows_.begin(), rows_.end(), [&](const CandidateResult& r) {
    return r.status == CandidateStatus::kPass &&
           (objective_ == Objective::kThroughputPerGpu || r.best->load >= 1.0);
  });
  if (!any_pass) run.no_plan_reason = ExplainNoPlan();
  o.results = std::move(rows_);
  return ConcludeSweep(run, base_, *source_, perf_);
}

// Why nothing passed, and what the closest candidate achieves.
std::string Sweeper::ExplainNoPlan() const {
  const std::string sla = "TTFT p" + Fmt("%g", in_.percentile) + " <= " + Fmt("%g", in_.ttft_ms) +
                          " ms and ITL p" + Fmt("%g", in_.percentile) +
                          " <= " + Fmt("%g", in_.itl_ms) + " ms";
  // Demand: the candidate sustaining the largest share of it.
  const CandidateResult* most = nullptr;
  for (const CandidateResult& r : rows_) {
    if (r.status == CandidateStatus::kBelowDemand && r.best &&
        (!most || r.best->load > most->best->load)) {
      most = &r;
    }
  }
  if (most) {
    const std::string demand = source_->closed_loop()
                                   ? Fmt("%.0f", source_->base()) + " requests in flight"
                                   : Fmt("%.4g", source_->base()) + " req/s";
    return "no topology of at most " + std::to_string(in_.gpus) + " GPUs sustains the demand (" +
           demand + ") within " + sla + "; the closest, " + most->candidate.Label() +
           ", sustains " + Fmt("%.0f", 100 * most->best->load) + "% of it (" +
           Fmt("%.4g", most->best->rate_rps) +
           " req/s); raise --gpus, lower the demand, or relax the targets";
  }
  // SLA: the candidate whose lightest-load run came closest to both targets.
  const LoadPoint* closest = nullptr;
  const CandidateResult* owner = nullptr;
  double closest_ratio = 0;
  for (size_t i = 0; i < rows_.size(); ++i) {
    if (!lightest_[i] || rows_[i].status != CandidateStatus::kSlaMissed) continue;
    const LoadPoint& p = *lightest_[i];
    const double ratio = std::max(p.ttft_ms / in_.ttft_ms, p.itl_ms / in_.itl_ms);
    if (!closest || ratio < closest_ratio) {
      closest = &p;
      owner = &rows_[i];
      closest_ratio = ratio;
    }
  }
  if (closest) {
    return "no topology meets " + sla + " even at light load; the closest, " +
           owner->candidate.Label() + ", reaches TTFT p" + Fmt("%g", in_.percentile) + " " +
           Fmt("%.1f", closest->ttft_ms) + " ms and ITL p" + Fmt("%g", in_.percentile) + " " +
           Fmt("%.1f", closest->itl_ms) + " ms at " + Fmt("%.3g", closest->rate_rps) +
           " req/s; relax the targets to at least these, or use faster GPUs";
  }
  for (const CandidateResult& r : rows_) {
    if (r.status == CandidateStatus::kSlaMissed) {
      return "no topology can meet " + sla + ": for example " + r.candidate.Label() + ": " +
             r.reason.substr(r.reason.find(':') + 2) + "; relax the targets or use faster GPUs";
    }
  }
  const CandidateResult* largest = nullptr;
  for (const CandidateResult& r : rows_) {
    if (r.status == CandidateStatus::kBelowDemand &&
        (!largest || r.bound_rps > largest->bound_rps)) {
      largest = &r;
    }
  }
  if (largest) {
    return "no topology of at most " + std::to_string(in_.gpus) +
           " GPUs can sustain the demand: the largest, " + largest->candidate.Label() + ", " +
           largest->reason + "; raise --gpus or lower the demand";
  }
  return "no topology passed (" + std::to_string(rows_.size()) + " candidates in this shard)";
}

StatusOr<SweepRun> Sweeper::Run() {
  const auto t0 = std::chrono::steady_clock::now();
  if (in_.shard_count < 1 || in_.shard_index < 0 || in_.shard_index >= in_.shard_count) {
    return InvalidArgument("--shard " + std::to_string(in_.shard_index) + "/" +
                           std::to_string(in_.shard_count) +
                           ": use i/N with 0 <= i < N, e.g. 0/4 ... 3/4");
  }
  RETURN_IF_ERROR(Prepare());
  lightest_.resize(rows_.size());
  BoundAll();
  const std::vector<size_t> order = EvaluationOrder();
  {
    std::lock_guard<std::mutex> lock(mu_);
    progress_.total = static_cast<int64_t>(order.size());
  }
  RETURN_IF_ERROR(EvaluateWaves(order));
  SweepRun run;
  RETURN_IF_ERROR(Finish(run));
  run.outcome.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return run;
}

}  // namespace

Status ConcludeSweep(SweepRun& run, const Plan& base, const LoadSource& source,
                     std::shared_ptr<const perf::PerfModel> perf) {
  SweepOutcome& o = run.outcome;
  const SweepInputs& in = o.inputs;
  o.version = std::string(kDynamoVersion);
  MarkParetoFront(o.results);
  o.chosen = SelectBest(o.results, in.objective);
  SweepCounts& n = o.counts;
  n.enumerated = n.infeasible = n.pruned = n.below_demand = n.sla_missed = n.passed = 0;
  n.simulations = 0;
  for (const CandidateResult& r : o.results) {
    ++n.enumerated;
    n.simulations += r.simulations;
    switch (r.status) {
      case CandidateStatus::kPass:
        ++n.passed;
        break;
      case CandidateStatus::kSlaMissed:
        ++n.sla_missed;
        break;
      case CandidateStatus::kInfeasible:
        ++n.infeasible;
        break;
      case CandidateStatus::kPruned:
        ++n.pruned;
        break;
      case CandidateStatus::kBelowDemand:
        ++n.below_demand;
        break;
    }
  }
  o.best_plan_json.clear();
  o.confirmation.reset();
  run.best_workload_json.clear();
  run.workload_description = source.description();
  if (!o.chosen) return Status::Ok();
  const CandidateResult& c = o.results[static_cast<size_t>(*o.chosen)];
  Plan plan = BuildPlan(base, c.candidate);
  const double load = c.best->load;
  sim::SloSpec slo;
  slo.ttft_ms = in.ttft_ms;
  slo.itl_ms = in.itl_ms;
  slo.percentile = in.percentile;
  // The confirmation: the chosen plan's full simulation at its load, run to the end.
  ASSIGN_OR_RETURN(Probe p, SimulateAt(plan, source, perf, slo, in.seed, load, in.requests,
                                       /*stop_early=*/false));
  ++n.simulations;
  ++n.full_simulations;
  n.requests_simulated += p.requests;
  if (!p.pass || p.point.fingerprint != c.best->fingerprint) {
    return Internal("the chosen plan's confirmation run (" + c.candidate.Label() + ", load " +
                    Fmt("%.4g", load) + ") differs from its search run (" + p.point.fingerprint +
                    " vs " + c.best->fingerprint +
                    "): a simulator bug; please report it with the sweep's flags");
  }
  o.confirmation = p.point;
  plan.description = "dynamo-sim sweep: " + c.candidate.Label() + "; sustains " +
                     Fmt("%.4g", p.point.rate_rps) + " req/s with TTFT p" +
                     Fmt("%g", in.percentile) + " " + Fmt("%.1f", p.point.ttft_ms) + " ms, ITL " +
                     Fmt("%.1f", p.point.itl_ms) + " ms (" +
                     Fmt("%.0f", p.point.tokens_per_s_per_gpu) + " tok/s/GPU)";
  o.best_plan_json = PlanToJson(plan);
  run.best_workload_json = source.WorkloadJson(load, in.requests);
  return Status::Ok();
}

StatusOr<SweepRun> ConcludeMerged(SweepOutcome merged,
                                  std::shared_ptr<const perf::PerfModel> perf) {
  ASSIGN_OR_RETURN(Plan base, MakeBasePlan(merged.inputs));
  ASSIGN_OR_RETURN(LoadSource source, LoadSource::Create(merged.inputs));
  SweepRun run;
  run.outcome = std::move(merged);
  RETURN_IF_ERROR(ConcludeSweep(run, base, source, std::move(perf)));
  return run;
}

StatusOr<SweepRun> RunSweep(const SweepInputs& in, std::shared_ptr<const perf::PerfModel> perf,
                            const SweepOptions& options) {
  Sweeper s(in, std::move(perf), options);
  return s.Run();
}

}  // namespace dynamo::configurator
