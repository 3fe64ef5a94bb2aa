#pragma once
// The dynamo-sim subcommands beyond `describe`: argument structs filled by CLI11 in
// dynamo_sim_main.cc, and the functions that run them and render their output.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/status.h"

namespace dynamo::cli {

struct SimRunArgs {
  std::string plan;
  std::string workload = "default";
  std::string perf_db;  // empty: analytic model of the plan's GPU
  std::optional<uint64_t> seed;
  std::optional<double> ttft_ms, itl_ms;
  double percentile = 90;
  std::string planner_warmup;  // trace whose per-interval load warms the planner's predictors
  std::string out;
  bool json = false;
  bool no_progress = false;
  bool hash_every_block = false;  // index unique prompt blocks too (as dynamo-run does)
};
Status SimRun(const SimRunArgs& args);

struct SimSweepArgs {
  std::string model = "llama-3.1-70b";
  std::string gpu = "h200_sxm";
  int gpus = 8;
  int gpus_per_node = 0;
  std::string dtype = "bf16";
  std::string workload;  // empty: synthetic from isl/osl/rate
  int isl = 2048, osl = 256;
  std::optional<double> rate_rps;
  int requests = 1000;
  double ttft_ms = 1000, itl_ms = 50;
  double percentile = 90;
  std::string modes = "agg,disagg";
  std::string routers;  // empty: kv when the workload shares prefixes, else round_robin
  int threads = 0;
  std::string perf_db;
  std::optional<uint64_t> seed;  // default: a spec workload's own seed, else 1
  std::string shard;             // "i/N"
  std::string out = "out/sweep";
  bool json = false;
  bool no_progress = false;
  bool no_prune = false;
  int top = 10;
};
Status SimSweep(const SimSweepArgs& args);

struct SimMergeArgs {
  std::vector<std::string> dirs;
  std::string out = "out/sweep";
  bool json = false;
  int top = 10;
};
Status SimMerge(const SimMergeArgs& args);

}  // namespace dynamo::cli
