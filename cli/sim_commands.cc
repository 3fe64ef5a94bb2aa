#include "cli/sim_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <csignal>
#include <nlohmann/json.hpp>

#include "configurator/generated_files.h"
#include "configurator/pareto.h"
#include "configurator/report_html.h"
#include "configurator/results_store.h"
#include "configurator/sweep.h"
#include "core/catalog.h"
#include "core/file_io.h"
#include "core/hardware/gpu_spec.h"
#include "core/perf/perf_db.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "core/workload/workload.h"
#include "sim/report.h"
#include "sim/simulation.h"

namespace dynamo::cli {
namespace {

using perf::OpenPerfModel;

std::string Row(const char* name, const sim::Percentiles& p) {
  char buf[160];
  std::snprintf(buf, sizeof(buf), "  %-10s %10.2f %10.2f %10.2f %10.2f %10.2f\n", name, p.mean,
                p.p50, p.p90, p.p99, p.max);
  return buf;
}

void PrintHuman(const sim::RunSummary& s, const Plan& plan, const std::string& workload) {
  std::printf("dynamo-sim run: plan %s, workload %s, seed %llu\n", plan.source.c_str(),
              workload.c_str(), static_cast<unsigned long long>(s.seed));
  std::printf("perf model: %s (least reliable lookup: %s)\n", s.perf_source.c_str(),
              s.perf_lookup.c_str());
  std::printf("requests %lld: completed %lld, rejected %lld%s over %.1f s simulated on %d GPUs\n",
              static_cast<long long>(s.requests), static_cast<long long>(s.completed),
              static_cast<long long>(s.rejected),
              s.stalled ? (", STALLED " + std::to_string(s.stalled)).c_str() : "", s.duration_s,
              s.gpus);
  std::printf("\n  %-10s %10s %10s %10s %10s %10s\n", "ms", "mean", "p50", "p90", "p99", "max");
  std::fputs(Row("TTFT", s.ttft_ms).c_str(), stdout);
  std::fputs(Row("ITL", s.itl_ms).c_str(), stdout);
  std::fputs(Row("TPOT", s.tpot_ms).c_str(), stdout);
  std::fputs(Row("E2E", s.e2e_ms).c_str(), stdout);
  std::fputs(Row("queue", s.queue_ms).c_str(), stdout);
  if (s.transfers > 0) std::fputs(Row("KV xfer", s.transfer_ms).c_str(), stdout);
  std::printf("\nthroughput %.3f req/s, %.1f output tok/s (%.1f per GPU, %.1f per user)\n",
              s.throughput_rps, s.output_tokens_per_s, s.output_tokens_per_s_per_gpu,
              s.output_tokens_per_s_per_user);
  std::printf("KV hit rate %.1f%%, utilization %.1f%%, preemptions %lld", 100 * s.kv_hit_rate,
              100 * s.utilization, static_cast<long long>(s.preemptions));
  if (s.transfers > 0) {
    std::printf(", KV transfers %lld (%.2f GB)", static_cast<long long>(s.transfers),
                s.transfer_gb);
  }
  std::printf("\n");
  if (s.slo) {
    std::printf("SLO at p%g:", s.slo->percentile);
    if (s.slo->ttft_ms) {
      std::printf(" TTFT <= %g ms %s;", *s.slo->ttft_ms, s.ttft_ok ? "met" : "MISSED");
    }
    if (s.slo->itl_ms)
      std::printf(" ITL <= %g ms %s;", *s.slo->itl_ms, s.itl_ok ? "met" : "MISSED");
    std::printf(" goodput %.3f req/s\n", s.goodput_rps);
  }
  std::printf("GPU-seconds %.0f", s.gpu_seconds);
  if (s.planner_intervals > 0 || s.scale_ups > 0 || s.scale_downs > 0) {
    std::printf(
        "; planner: %lld intervals, %.1f%% within SLA, %lld scale-ups, %lld scale-downs, "
        "%.2f GPUs on average",
        static_cast<long long>(s.planner_intervals), 100 * s.planner_intervals_within_sla,
        static_cast<long long>(s.scale_ups), static_cast<long long>(s.scale_downs), s.gpus_avg);
  }
  std::printf("\n");
  std::printf("fingerprint %s, %lld events, %lld steps, %.3f s wall\n", s.fingerprint.c_str(),
              static_cast<long long>(s.events), static_cast<long long>(s.steps), s.wall_s);
}

}  // namespace

Status SimRun(const SimRunArgs& a) {
  ASSIGN_OR_RETURN(Plan plan, LoadPlan(a.plan));
  WorkloadOverrides wo;
  wo.seed = a.seed;
  ASSIGN_OR_RETURN(Workload wl, LoadWorkload(a.workload, wo));
  ASSIGN_OR_RETURN(auto perf, OpenPerfModel(a.perf_db, plan.gpu, "the plan's system.gpu"));
  sim::SimOptions opt;
  // The run's seed: --seed, else the synthetic workload's own seed (0 for traces).
  opt.seed = a.seed.value_or(wl.seed);
  opt.slo.ttft_ms = a.ttft_ms;
  opt.slo.itl_ms = a.itl_ms;
  opt.slo.percentile = a.percentile;
  std::optional<Workload> warmup;
  opt.hash_every_block = a.hash_every_block;
  if (!a.planner_warmup.empty()) {
    if (!plan.planner.enabled) {
      return InvalidArgument("--planner-warmup " + a.planner_warmup + ": the plan " + a.plan +
                             " does not enable the planner ($.planner.enabled); drop the flag "
                             "or enable the planner");
    }
    ASSIGN_OR_RETURN(Workload w, LoadWorkload(a.planner_warmup, WorkloadOverrides{}));
    warmup.emplace(std::move(w));
    opt.planner_warmup = &*warmup;
  }
  const bool tty = ::isatty(2) != 0;
  if (!a.no_progress && tty) {
    opt.progress = [](double f) {
      std::fprintf(stderr, "\rsimulating: %3.0f%%", 100 * f);
      std::fflush(stderr);
    };
  }
  if (!a.json) {
    std::fprintf(stderr, "seed %llu\n", static_cast<unsigned long long>(opt.seed));
  }
  if (!a.out.empty()) {  // fail before simulating when the output directory cannot be made
    std::error_code ec;
    std::filesystem::create_directories(a.out, ec);
    if (ec) return IoError("--out " + a.out + ": cannot create the directory: " + ec.message());
  }
  auto result = sim::Simulate(plan, wl, perf, opt);
  if (opt.progress) std::fprintf(stderr, "\r%20s\r", "");
  if (!result.ok()) return result.status();
  if (!a.out.empty()) RETURN_IF_ERROR(sim::WriteRunOutputs(a.out, *result));
  if (a.json) {
    std::printf("%s\n", sim::SummaryJson(result->summary, -1).c_str());
  } else {
    PrintHuman(result->summary, plan, wl.source.empty() ? a.workload : wl.source);
    if (!a.out.empty()) {
      std::printf("wrote %s/summary.json, requests.csv, timeseries.csv%s\n", a.out.c_str(),
                  result->planner.empty() ? "" : ", planner.csv");
    }
  }
  if (result->summary.stalled > 0) {
    return Internal(std::to_string(result->summary.stalled) +
                    " requests neither completed nor were rejected: a simulator bug; please "
                    "report it with the plan, workload and seed");
  }
  return Status::Ok();
}

}  // namespace dynamo::cli

namespace dynamo::cli {
namespace {

using configurator::CandidateResult;
using configurator::CandidateStatus;
using configurator::SweepOutcome;
using configurator::SweepRun;

std::atomic<bool> g_interrupted{false};
// The first signal asks the sweep to stop cleanly; a second one kills at once.
extern "C" void OnInterrupt(int sig) {
  if (g_interrupted.exchange(true)) {
    std::signal(sig, SIG_DFL);
    std::raise(sig);
  }
}

StatusOr<std::vector<configurator::SweepMode>> ParseModes(const std::string& list) {
  std::vector<configurator::SweepMode> modes;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string m = list.substr(start, comma - start);
    if (m == "agg") {
      modes.push_back(configurator::SweepMode::kAggregated);
    } else if (m == "disagg") {
      modes.push_back(configurator::SweepMode::kDisaggregated);
    } else {
      return InvalidArgument("--modes: unknown mode '" + m + "'; use agg, disagg or agg,disagg");
    }
    start = comma + 1;
  }
  return modes;
}

StatusOr<std::vector<std::string>> ParseRouters(const std::string& list) {
  std::vector<std::string> routers;
  size_t start = 0;
  while (start <= list.size()) {
    const size_t comma = std::min(list.find(',', start), list.size());
    const std::string r = list.substr(start, comma - start);
    if (r != "kv" && r != "round_robin" && r != "random" && r != "least_loaded") {
      return InvalidArgument("--router: unknown policy '" + r +
                             "'; use kv, round_robin, random or least_loaded (comma-separated)");
    }
    if (std::find(routers.begin(), routers.end(), r) == routers.end()) routers.push_back(r);
    start = comma + 1;
  }
  return routers;
}

Status ParseShard(const std::string& text, configurator::SweepInputs& in) {
  const size_t slash = text.find('/');
  auto bad = [&] {
    return InvalidArgument("--shard " + text + ": use i/N with 0 <= i < N, e.g. --shard 0/4");
  };
  if (slash == std::string::npos) return bad();
  try {
    size_t used = 0;
    in.shard_index = std::stoi(text.substr(0, slash), &used);
    if (used != slash) return bad();
    in.shard_count = std::stoi(text.substr(slash + 1), &used);
    if (used != text.size() - slash - 1) return bad();
  } catch (const std::exception&) {
    return bad();
  }
  if (in.shard_count < 1 || in.shard_index < 0 || in.shard_index >= in.shard_count) return bad();
  return Status::Ok();
}

std::string Fixed(double v, int digits) {
  char buf[48];
  std::snprintf(buf, sizeof(buf), "%.*f", digits, v);
  return buf;
}

// "[#######.......]  47% 560/1188 candidates, 3,410 simulations, ETA 14 s"
void PrintProgress(const configurator::SweepProgress& p, std::chrono::steady_clock::time_point t0) {
  const double frac = p.total > 0 ? static_cast<double>(p.done) / static_cast<double>(p.total) : 1;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const int width = 30;
  const int filled = static_cast<int>(frac * width);
  std::string bar(static_cast<size_t>(filled), '#');
  bar.resize(width, '.');
  std::string eta = "--";
  if (p.done > 0 && frac < 1) eta = Fixed(elapsed / frac * (1 - frac), 0) + " s";
  std::fprintf(stderr, "\r[%s] %3.0f%% %lld/%lld candidates, %lld simulations, ETA %s   ",
               bar.c_str(), 100 * frac, static_cast<long long>(p.done),
               static_cast<long long>(p.total), static_cast<long long>(p.simulations), eta.c_str());
  std::fflush(stderr);
}

// Passing results in the objective's order.
std::vector<const CandidateResult*> Ranked(const SweepOutcome& o) {
  std::vector<const CandidateResult*> v;
  for (const CandidateResult& r : o.results) {
    if (r.status == CandidateStatus::kPass && r.best) v.push_back(&r);
  }
  std::sort(v.begin(), v.end(), [&](const CandidateResult* a, const CandidateResult* b) {
    return configurator::RanksBefore(*a, *b, o.inputs.objective);
  });
  return v;
}

void PrintSweepHuman(const SweepRun& run, const std::string& out, int top) {
  const SweepOutcome& o = run.outcome;
  const configurator::SweepInputs& in = o.inputs;
  const configurator::SweepCounts& n = o.counts;
  std::printf("dynamo-sim sweep: %s on %d x %s (%s), seed %llu\n", in.model.c_str(), in.gpus,
              in.gpu.c_str(), in.dtype.c_str(), static_cast<unsigned long long>(in.seed));
  std::printf("workload: %s; %d requests per full simulation\n", run.workload_description.c_str(),
              in.requests);
  std::printf("SLA: TTFT p%g <= %g ms, ITL p%g <= %g ms; objective %s\n", in.percentile, in.ttft_ms,
              in.percentile, in.itl_ms,
              std::string(configurator::ObjectiveName(in.objective)).c_str());
  if (in.shard_count > 1) std::printf("shard %d/%d\n", in.shard_index, in.shard_count);
  std::printf(
      "candidates %lld: passed %lld, SLA missed %lld, below demand %lld, pruned %lld, "
      "infeasible %lld; %lld simulations (%lld full), %.1f s\n\n",
      static_cast<long long>(n.enumerated), static_cast<long long>(n.passed),
      static_cast<long long>(n.sla_missed), static_cast<long long>(n.below_demand),
      static_cast<long long>(n.pruned), static_cast<long long>(n.infeasible),
      static_cast<long long>(n.simulations), static_cast<long long>(n.full_simulations), o.wall_s);
  const auto ranked = Ranked(o);
  if (!ranked.empty()) {
    std::printf("  %-4s %-58s %4s %9s %9s %9s %10s %10s\n", "rank", "topology", "GPUs", "req/s",
                "TTFT ms", "ITL ms", "tok/s/GPU", "tok/s/user");
    for (size_t i = 0; i < ranked.size() && static_cast<int>(i) < top; ++i) {
      const CandidateResult& r = *ranked[i];
      const configurator::LoadPoint& p = *r.best;
      std::printf("  %-4zu %-58s %4d %9.3f %9.1f %9.1f %10.1f %10.1f%s\n", i + 1,
                  r.candidate.Label().c_str(), r.candidate.gpus(), p.rate_rps, p.ttft_ms, p.itl_ms,
                  p.tokens_per_s_per_gpu, p.tokens_per_s_per_user,
                  r.chosen ? "  <- chosen" : (r.pareto ? "  (pareto)" : ""));
    }
    std::printf("\n");
  }
  if (o.chosen && o.confirmation) {
    const CandidateResult& c = o.results[static_cast<size_t>(*o.chosen)];
    const configurator::LoadPoint& p = *o.confirmation;
    std::printf("best plan: %s (%d GPUs)\n", c.candidate.Label().c_str(), c.candidate.gpus());
    std::printf(
        "  confirmed by a full simulation at %.4g req/s: TTFT p%g %.1f ms, ITL p%g %.1f ms, "
        "%.1f tok/s/GPU, %.1f tok/s/user, fingerprint %s\n",
        p.rate_rps, in.percentile, p.ttft_ms, in.percentile, p.itl_ms, p.tokens_per_s_per_gpu,
        p.tokens_per_s_per_user, p.fingerprint.c_str());
    std::printf(
        "wrote %s/{best_plan.json, best_workload.json, results.sqlite, results.csv, "
        "pareto.csv, report.html}\n",
        out.c_str());
    std::printf(
        "reproduce: dynamo-sim run --plan %s/best_plan.json --workload "
        "%s/best_workload.json --seed %llu --ttft-ms %g --itl-ms %g --percentile %g\n",
        out.c_str(), out.c_str(), static_cast<unsigned long long>(in.seed), in.ttft_ms, in.itl_ms,
        in.percentile);
  } else {
    std::printf(
        "no plan passed; wrote %s/{results.sqlite, results.csv, pareto.csv, "
        "report.html}\n",
        out.c_str());
  }
}

std::string SweepJson(const SweepRun& run, const std::string& out) {
  using Json = nlohmann::ordered_json;
  const SweepOutcome& o = run.outcome;
  const configurator::SweepCounts& n = o.counts;
  Json j;
  j["seed"] = o.inputs.seed;
  j["objective"] = std::string(configurator::ObjectiveName(o.inputs.objective));
  j["counts"] = Json{{"candidates", n.enumerated},
                     {"passed", n.passed},
                     {"sla_missed", n.sla_missed},
                     {"below_demand", n.below_demand},
                     {"pruned", n.pruned},
                     {"infeasible", n.infeasible},
                     {"simulations", n.simulations},
                     {"full_simulations", n.full_simulations},
                     {"requests_simulated", n.requests_simulated}};
  j["wall_s"] = o.wall_s;
  j["out"] = out;
  if (o.chosen && o.confirmation) {
    const CandidateResult& c = o.results[static_cast<size_t>(*o.chosen)];
    const configurator::LoadPoint& p = *o.confirmation;
    j["best"] = Json{{"id", c.candidate.id},
                     {"label", c.candidate.Label()},
                     {"gpus", c.candidate.gpus()},
                     {"load", p.load},
                     {"rate_rps", p.rate_rps},
                     {"ttft_ms", p.ttft_ms},
                     {"itl_ms", p.itl_ms},
                     {"tokens_per_s_per_gpu", p.tokens_per_s_per_gpu},
                     {"tokens_per_s_per_user", p.tokens_per_s_per_user},
                     {"fingerprint", p.fingerprint}};
    j["plan"] = Json::parse(o.best_plan_json);
  } else {
    j["best"] = nullptr;
    j["reason"] = run.no_plan_reason;
  }
  return j.dump();
}

// An existing --out is replaced only when it holds nothing but a previous sweep's files.
configurator::ReplacePolicy SweepOutPolicy() {
  configurator::ReplacePolicy p;
  p.own_entries = {"results.sqlite", "results.csv",        "pareto.csv",
                   "best_plan.json", "best_workload.json", "report.html"};
  p.owner = "a sweep";
  return p;
}

// Every output, complete or none (configurator/generated_files.h).
Status WriteSweepOutputs(const std::string& out, const SweepRun& run) {
  return configurator::WriteOutputDirectory(
      out, SweepOutPolicy(), [&](const std::string& tmp) -> Status {
        const SweepOutcome& o = run.outcome;
        RETURN_IF_ERROR(configurator::WriteSweepResults(tmp, o));
        RETURN_IF_ERROR(WriteFileAtomic(tmp + "/report.html", configurator::RenderSweepReport(o)));
        if (!o.best_plan_json.empty()) {
          RETURN_IF_ERROR(WriteFileAtomic(tmp + "/best_plan.json", o.best_plan_json));
          RETURN_IF_ERROR(WriteFileAtomic(tmp + "/best_workload.json", run.best_workload_json));
        }
        if (g_interrupted.load()) return Cancelled("interrupted; nothing written to " + out);
        return Status::Ok();
      });
}

// Ctrl-C during a sweep: stop the work, write nothing, exit 130.
class InterruptGuard {
 public:
  InterruptGuard() {
    g_interrupted.store(false);
    old_int_ = std::signal(SIGINT, OnInterrupt);
    old_term_ = std::signal(SIGTERM, OnInterrupt);
  }
  ~InterruptGuard() {
    std::signal(SIGINT, old_int_);
    std::signal(SIGTERM, old_term_);
  }
  InterruptGuard(const InterruptGuard&) = delete;
  InterruptGuard& operator=(const InterruptGuard&) = delete;

 private:
  void (*old_int_)(int) = SIG_DFL;
  void (*old_term_)(int) = SIG_DFL;
};

Status Report(const SweepRun& run, const std::string& out, bool json, int top) {
  RETURN_IF_ERROR(WriteSweepOutputs(out, run));
  if (json) {
    std::printf("%s\n", SweepJson(run, out).c_str());
  } else {
    PrintSweepHuman(run, out, top);
  }
  // A shard without a passing candidate is a normal outcome (the merge chooses); only a whole
  // sweep or a merge without a plan fails.
  if (!run.outcome.chosen && run.outcome.inputs.shard_count <= 1) {
    return FailedPrecondition(run.no_plan_reason.empty()
                                  ? "no candidate passed the SLA (see " + out + "/report.html)"
                                  : run.no_plan_reason);
  }
  return Status::Ok();
}

}  // namespace

Status SimSweep(const SimSweepArgs& a) {
  configurator::SweepInputs in;
  in.model = a.model;
  in.gpu = a.gpu;
  in.gpus = a.gpus;
  in.gpus_per_node = a.gpus_per_node;
  in.dtype = a.dtype;
  in.workload = a.workload;
  in.isl = a.isl;
  in.osl = a.osl;
  in.rate_rps = a.rate_rps;
  in.requests = a.requests;
  in.ttft_ms = a.ttft_ms;
  in.itl_ms = a.itl_ms;
  in.percentile = a.percentile;
  in.threads = a.threads;
  in.perf_db = a.perf_db;
  ASSIGN_OR_RETURN(in.modes, ParseModes(a.modes));
  if (!a.shard.empty()) RETURN_IF_ERROR(ParseShard(a.shard, in));
  if (!a.workload.empty() && a.rate_rps) {
    return InvalidArgument(
        "--rate applies to --isl/--osl traffic; a --workload brings its own "
        "rate (edit its arrival.rate_rps instead)");
  }
  RETURN_IF_ERROR(configurator::CheckOutputDirectory(a.out, SweepOutPolicy()));
  ASSIGN_OR_RETURN(Plan base, configurator::MakeBasePlan(in));
  in.seed = a.seed.value_or(1);
  if (!a.seed &&
      (IsBundledName(a.workload, "workloads", ".json") || a.workload.ends_with(".json"))) {
    ASSIGN_OR_RETURN(Workload spec, LoadWorkload(a.workload));
    in.seed = spec.seed;  // as `dynamo-sim run`: a spec's own seed
  }
  in.routers.clear();  // RunSweep's default: kv when prompts share prefixes
  if (!a.routers.empty()) {
    ASSIGN_OR_RETURN(in.routers, ParseRouters(a.routers));
  }
  ASSIGN_OR_RETURN(auto perf, OpenPerfModel(a.perf_db, base.gpu, "--gpu"));
  if (!a.json) std::fprintf(stderr, "seed %llu\n", static_cast<unsigned long long>(in.seed));

  InterruptGuard guard;
  configurator::SweepOptions opt;
  opt.prune = !a.no_prune;
  opt.cancel = &g_interrupted;
  const auto t0 = std::chrono::steady_clock::now();
  const bool tty = ::isatty(2) != 0;
  if (!a.no_progress && tty) {
    opt.progress = [t0](const configurator::SweepProgress& p) { PrintProgress(p, t0); };
  }
  auto run = configurator::RunSweep(in, perf, opt);
  if (opt.progress) std::fprintf(stderr, "\r%100s\r", "");
  if (!run.ok()) {
    if (run.status().code() == StatusCode::kCancelled) {
      return Cancelled("interrupted; nothing written to " + a.out);
    }
    return run.status();
  }
  return Report(*run, a.out, a.json, a.top);
}

Status SimMerge(const SimMergeArgs& a) {
  if (a.dirs.empty()) return InvalidArgument("merge: give the shard directories to merge");
  RETURN_IF_ERROR(configurator::CheckOutputDirectory(a.out, SweepOutPolicy()));
  for (const std::string& d : a.dirs) {
    std::error_code ec;
    if (std::filesystem::equivalent(d, a.out, ec)) {
      return InvalidArgument("--out " + a.out + ": is one of the shards being merged (" + d +
                             "); choose another directory");
    }
  }
  std::vector<SweepOutcome> shards;
  for (const std::string& d : a.dirs) {
    ASSIGN_OR_RETURN(SweepOutcome o, configurator::ReadSweepResults(
                                         (std::filesystem::path(d) / "results.sqlite").string()));
    shards.push_back(std::move(o));
  }
  ASSIGN_OR_RETURN(SweepOutcome merged, configurator::MergeSweepResults(shards));
  double wall = 0;
  for (const SweepOutcome& s : shards) wall = std::max(wall, s.wall_s);
  merged.wall_s = wall;
  ASSIGN_OR_RETURN(Plan base, configurator::MakeBasePlan(merged.inputs));
  ASSIGN_OR_RETURN(auto perf, OpenPerfModel(merged.inputs.perf_db, base.gpu, "--gpu"));
  InterruptGuard guard;
  ASSIGN_OR_RETURN(SweepRun run, configurator::ConcludeMerged(std::move(merged), perf));
  return Report(run, a.out, a.json, a.top);
}

}  // namespace dynamo::cli
