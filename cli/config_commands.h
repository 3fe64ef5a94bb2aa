#pragma once
// dynamo-config: the argument struct filled by CLI11 in dynamo_config_main.cc, and the function
// that checks which flags apply to the target, loads the plan, generates the target's files
// and writes them (configurator/deploy_target.h, configurator/generated_files.h).
#include <string>

#include "core/status.h"

namespace dynamo::cli {

struct ConfigArgs {
  std::string plan;  // bundled plan name or plan.json path; unused by k8s-sweep
  std::string target;
  std::string backend;  // empty: not given
  std::string out;
  std::string k8s_namespace = "dynamo";
  std::string image;
  std::string model_id;
  std::string name;
  bool force = false;
  // k8s-sweep only; *_given: the flag was on the command line.
  int shards = 4;
  std::string sweep_args;
  std::string pvc = "dynamo-sweep-results";
  bool shards_given = false, sweep_args_given = false, pvc_given = false;
};

// Errors: flags that do not apply to the target, plan errors (LoadPlan's messages), what the
// target cannot express, an --out that exists and is not empty (without --force).
Status RunConfig(const ConfigArgs& args);

}  // namespace dynamo::cli
