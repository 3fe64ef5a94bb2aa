#pragma once
// The dynamo-sim subcommands beyond `describe`: argument structs filled by CLI11 in
// dynamo_sim_main.cc, and the functions that run them and render their output.
#include <cstdint>
#include <optional>
#include <string>

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
};
Status SimRun(const SimRunArgs& args);

}  // namespace dynamo::cli
