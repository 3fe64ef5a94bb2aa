#include "cli/sim_commands.h"

#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <system_error>

#include "core/perf/perf_db.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "core/workload/workload.h"
#include "sim/report.h"
#include "sim/simulation.h"

namespace dynamo::cli {
namespace {

// The model that prices steps: the database's, or the analytic one of the plan's GPU.
StatusOr<std::shared_ptr<const perf::PerfModel>> OpenPerfModel(const std::string& db_path,
                                                               const Plan& plan) {
  if (db_path.empty()) {
    return std::make_shared<const perf::PerfModel>(perf::PerfModel::Analytic(plan.gpu));
  }
  ASSIGN_OR_RETURN(auto db, perf::PerfDb::Open(db_path, perf::PerfDb::Mode::kReadOnly));
  ASSIGN_OR_RETURN(perf::PerfModel m, perf::PerfModel::FromDb(*db));
  const std::string& dev_gpu = m.device().catalog_gpu;
  if (!dev_gpu.empty() && dev_gpu != plan.gpu.name) {
    return InvalidArgument("--perf-db " + db_path + ": measured on " + dev_gpu +
                           ", but the plan's system.gpu is " + plan.gpu.name +
                           "; use a database of " + plan.gpu.name + " or drop --perf-db");
  }
  return std::make_shared<const perf::PerfModel>(std::move(m));
}

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
  ASSIGN_OR_RETURN(auto perf, OpenPerfModel(a.perf_db, plan));
  sim::SimOptions opt;
  // The run's seed: --seed, else the synthetic workload's own seed (0 for traces).
  opt.seed = a.seed.value_or(wl.seed);
  opt.slo.ttft_ms = a.ttft_ms;
  opt.slo.itl_ms = a.itl_ms;
  opt.slo.percentile = a.percentile;
  std::optional<Workload> warmup;
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
