// dynamo-sim: simulate LLM serving plans. Subcommands: run (one plan on a workload), describe
// (models, GPUs, workloads, clusters). Exit codes: 0 ok, 1 bad input, 2 bad usage, 3 internal
// error.

#include <CLI/CLI.hpp>
#include <cstdio>

#include "cli/describe.h"
#include "cli/exit_codes.h"
#include "cli/sim_commands.h"
#include "core/hardware/gpu_spec.h"
#include "core/model/model_catalog.h"
#include "core/plan/plan.h"
#include "core/workload/workload.h"

namespace dynamo::cli {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

// Validators with short messages (CLI11's ranges print the type's limits).
CLI::Validator PositiveInteger() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos &&
                       s.find_first_not_of('0') != std::string::npos
                   ? ""
                   : "'" + s + "' is not a positive integer";
      },
      "INT>0");
}
CLI::Validator NonNegativeInteger() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos
                   ? ""
                   : "'" + s + "' is not a non-negative integer";
      },
      "INT>=0");
}

int Main(int argc, char** argv) {
  CLI::App app{"dynamo-sim: plan and simulate disaggregated LLM serving"};
  app.set_version_flag("--version", "dynamo-sim 0.1.0");
  app.require_subcommand(1);
  Status result;

  SimRunArgs run_args;
  uint64_t run_seed = 0;
  double run_ttft = 0, run_itl = 0;
  CLI::App* run = app.add_subcommand("run", "Simulate one plan on a workload");
  run->add_option("--plan", run_args.plan,
                  "Bundled plan (" + Join(BundledPlanNames()) + ") or a plan.json path")
      ->required();
  run->add_option("--workload", run_args.workload,
                  "Bundled spec (" + Join(BundledWorkloadNames()) +
                      "), a spec .json, a Mooncake .jsonl or an Azure .csv trace")
      ->capture_default_str();
  run->add_option("--perf-db", run_args.perf_db,
                  "Performance database (dynamo-profile); default: analytic model of the GPU");
  CLI::Option* run_seed_opt =
      run->add_option("--seed", run_seed,
                      "Seed (default: the synthetic workload's own seed; 0 for traces); also "
                      "regenerates a synthetic workload")
          ->check(NonNegativeInteger());
  CLI::Option* ttft_opt =
      run->add_option("--ttft-ms", run_ttft, "TTFT target (ms)")->check(CLI::PositiveNumber);
  CLI::Option* itl_opt =
      run->add_option("--itl-ms", run_itl, "ITL target (ms)")->check(CLI::PositiveNumber);
  run->add_option("--percentile", run_args.percentile, "Percentile the SLO verdicts use")
      ->capture_default_str()
      ->check(CLI::IsMember({50.0, 90.0, 95.0, 99.0}));
  run->add_option("--out", run_args.out,
                  "Directory for summary.json, requests.csv, timeseries.csv (and planner.csv)");
  run->add_option("--planner-warmup", run_args.planner_warmup,
                  "Trace or workload whose load, bucketed by the planner interval, warms up the "
                  "planner's predictors");
  run->add_flag("--json", run_args.json, "Print one JSON object on stdout");
  run->add_flag("--hash-every-block", run_args.hash_every_block,
                "Index every full prompt block in the prefix caches and the router, as dynamo-run "
                "does (default: only blocks another request shares; faster, same hits, but "
                "tie-breaks on cache size may differ from dynamo-run)");
  run->add_flag("--no-progress", run_args.no_progress, "No progress line on stderr");
  run->callback([&] {
    if (*run_seed_opt) run_args.seed = run_seed;
    if (*ttft_opt) run_args.ttft_ms = run_ttft;
    if (*itl_opt) run_args.itl_ms = run_itl;
    result = SimRun(run_args);
  });

  SimSweepArgs sw;
  double sw_rate = 0;
  uint64_t sw_seed = 0;
  CLI::App* sweep = app.add_subcommand(
      "sweep",
      "Simulate aggregated and disaggregated topologies against TTFT/ITL targets and "
      "pick the best plan");
  sweep
      ->add_option("--model", sw.model,
                   "Bundled model (" + Join(BundledModelNames()) + ") or a config.json path")
      ->capture_default_str();
  sweep->add_option("--gpu", sw.gpu, "GPU (" + Join(BundledGpuNames()) + ") or a catalog path")
      ->capture_default_str();
  sweep->add_option("--gpus", sw.gpus, "GPU budget")
      ->capture_default_str()
      ->check(CLI::Range(1, 4096));
  sweep->add_option("--gpus-per-node", sw.gpus_per_node, "GPUs per node (default: the GPU's)")
      ->check(CLI::Range(0, 1024));
  sweep->add_option("--dtype", sw.dtype, "Weight dtype")
      ->capture_default_str()
      ->check(CLI::IsMember({"bf16", "fp16", "fp8", "fp4"}));
  CLI::Option* sw_workload = sweep->add_option(
      "--workload", sw.workload,
      "Workload (" + Join(BundledWorkloadNames()) +
          ", a spec .json, a Mooncake .jsonl or an Azure .csv): its rate is the demand");
  CLI::Option* sw_isl = sweep->add_option("--isl", sw.isl, "Prompt tokens (synthetic traffic)")
                            ->capture_default_str()
                            ->check(CLI::Range(1, 10000000));
  CLI::Option* sw_osl = sweep->add_option("--osl", sw.osl, "Output tokens (synthetic traffic)")
                            ->capture_default_str()
                            ->check(CLI::Range(1, 10000000));
  CLI::Option* sw_rate_opt =
      sweep
          ->add_option("--rate", sw_rate,
                       "Demand in req/s (synthetic traffic); without it the sweep maximizes "
                       "tokens/s per GPU")
          ->check(CLI::PositiveNumber);
  sw_workload->excludes(sw_isl)->excludes(sw_osl)->excludes(sw_rate_opt);
  sweep->add_option("--requests", sw.requests, "Requests per full simulation")
      ->capture_default_str()
      ->check(CLI::Range(10, 10000000));
  sweep->add_option("--ttft-ms", sw.ttft_ms, "TTFT target (ms)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sweep->add_option("--itl-ms", sw.itl_ms, "ITL target (ms)")
      ->capture_default_str()
      ->check(CLI::PositiveNumber);
  sweep->add_option("--percentile", sw.percentile, "Percentile the targets hold at (50, 90, 99)")
      ->capture_default_str()
      ->check(CLI::IsMember({50.0, 90.0, 99.0}));
  sweep->add_option("--modes", sw.modes, "agg, disagg or agg,disagg")->capture_default_str();
  sweep->add_option("--router", sw.routers,
                    "Router policies to try, comma-separated (kv, round_robin, random, "
                    "least_loaded); default: kv when prompts share prefixes, else round_robin");
  sweep->add_option("--threads", sw.threads, "Threads (default: the machine's cores)")
      ->check(CLI::Range(0, 1024));
  sweep->add_option("--perf-db", sw.perf_db,
                    "Performance database (dynamo-profile); default: analytic model of the GPU");
  CLI::Option* sw_seed_opt =
      sweep
          ->add_option("--seed", sw_seed,
                       "Seed of the traffic and every simulation (default: a spec workload's "
                       "own seed, else 1)")
          ->check(NonNegativeInteger());
  sweep->add_option("--shard", sw.shard,
                    "Evaluate shard i of N (0-based, i/N) of the candidates; combine the shards' "
                    "--out directories with `dynamo-sim merge`");
  sweep
      ->add_option("--out", sw.out,
                   "Output directory: results.sqlite, results.csv, pareto.csv, best_plan.json, "
                   "best_workload.json, report.html")
      ->capture_default_str();
  sweep->add_option("--top", sw.top, "Rows of the best-plans table")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  sweep->add_flag("--no-prune", sw.no_prune,
                  "Search every feasible candidate with full simulations (brute force)");
  sweep->add_flag("--json", sw.json, "Print the best plan and headline figures as one JSON object");
  sweep->add_flag("--no-progress", sw.no_progress, "No progress bar on stderr");
  sweep->callback([&] {
    if (*sw_rate_opt) sw.rate_rps = sw_rate;
    if (*sw_seed_opt) sw.seed = sw_seed;
    result = SimSweep(sw);
  });

  SimMergeArgs mg;
  CLI::App* merge = app.add_subcommand(
      "merge", "Combine the output directories of `dynamo-sim sweep --shard i/N` runs");
  merge->add_option("dirs", mg.dirs, "Shard output directories")->required();
  merge->add_option("--out", mg.out, "Output directory")->capture_default_str();
  merge->add_option("--top", mg.top, "Rows of the best-plans table")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  merge->add_flag("--json", mg.json, "Print the best plan and headline figures as one JSON object");
  merge->callback([&] { result = SimMerge(mg); });

  CLI::App* describe =
      app.add_subcommand("describe", "Show what is known of a model, GPU, workload or cluster");
  describe->require_subcommand(1);

  DescribeModelArgs model_args;
  CLI::App* model =
      describe->add_subcommand("model", "A model: parameters, KV bytes, weights per GPU");
  model
      ->add_option("model", model_args.model,
                   "Bundled name (" + Join(BundledModelNames()) + ") or a config.json path")
      ->required();
  model->add_option("--dtype", model_args.dtype, "Weight dtype: fp32, bf16, fp16, fp8, fp4")
      ->capture_default_str();
  model->add_option("--kv-dtype", model_args.kv_dtype, "KV-cache dtype")->capture_default_str();
  model->add_option("--tp", model_args.tp, "Tensor parallelism")->capture_default_str();
  model->add_option("--pp", model_args.pp, "Pipeline parallelism")->capture_default_str();
  model->add_option("--ep", model_args.ep, "Expert parallelism (divides tp)")
      ->capture_default_str();
  model->add_flag("--json", model_args.json, "Print one JSON object");
  model->callback([&] { result = DescribeModel(model_args); });

  std::string gpu_name;
  bool gpu_json = false;
  CLI::App* gpu = describe->add_subcommand("gpu", "A GPU of the hardware catalog, with sources");
  gpu->add_option("gpu", gpu_name, "Bundled name (" + Join(BundledGpuNames()) + ") or a JSON path")
      ->required();
  gpu->add_flag("--json", gpu_json, "Print one JSON object");
  gpu->callback([&] { result = DescribeGpu(gpu_name, gpu_json); });

  DescribeWorkloadArgs wl_args;
  uint64_t seed = 0;
  int64_t first = 0;
  double time_scale = 0, rate = 0;
  CLI::App* wl = describe->add_subcommand(
      "workload", "A workload: request count, rates, lengths, prefix reuse");
  wl->add_option("workload", wl_args.workload,
                 "Bundled spec (" + Join(BundledWorkloadNames()) +
                     "), a spec .json, a Mooncake .jsonl or an Azure .csv trace")
      ->required();
  CLI::Option* seed_opt =
      wl->add_option("--seed", seed, "Seed for a synthetic spec (overrides the file's)")
          ->check(NonNegativeInteger());
  CLI::Option* first_opt = wl->add_option("--first", first, "Traces: keep the first N requests")
                               ->check(PositiveInteger());
  CLI::Option* scale_opt =
      wl->add_option("--time-scale", time_scale, "Traces: multiply arrival times")
          ->check(CLI::PositiveNumber);
  CLI::Option* rate_opt =
      wl->add_option("--rate", rate, "Traces: rescale to this mean rate (req/s)")
          ->check(CLI::PositiveNumber);
  scale_opt->excludes(rate_opt);
  wl->add_flag("--json", wl_args.json, "Print one JSON object");
  wl->callback([&] {
    if (*seed_opt) wl_args.overrides.seed = seed;
    if (*first_opt) wl_args.overrides.first = first;
    if (*scale_opt) wl_args.overrides.time_scale = time_scale;
    if (*rate_opt) wl_args.overrides.rate_rps = rate;
    result = DescribeWorkload(wl_args);
  });

  DescribeClusterArgs cl_args;
  CLI::App* cl =
      describe->add_subcommand("cluster", "A cluster topology: paths and bottleneck bandwidths");
  cl->add_option("--gpu", cl_args.gpu, "GPU type")->required();
  cl->add_option("--nodes", cl_args.nodes, "Nodes")
      ->capture_default_str()
      ->check(CLI::Range(1, 100000));
  cl->add_option("--gpus-per-node", cl_args.gpus_per_node,
                 "GPUs per node (default: the GPU's usual)")
      ->check(CLI::Range(0, 1024));
  cl->add_flag("--json", cl_args.json, "Print one JSON object");
  cl->callback([&] { result = DescribeCluster(cl_args); });

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  return ReportStatus(result);
}

}  // namespace
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
