#pragma once
// The `local` target: run_local.sh, a bash script that runs the plan on this machine with
// dynamo-run and the mock engine (no GPU needed), reading plan.json from its own directory.
// ENGINE, PORT, HOST, RUN_DIR and DYNAMO_RUN override the defaults from the environment.
#include <vector>

#include "configurator/deploy_target.h"
#include "configurator/generated_files.h"
#include "core/plan/plan.h"

namespace dynamo::configurator {

// run_local.sh (executable) and README.md.
std::vector<GeneratedFile> EmitLocalTarget(const Plan& plan, const DeployOptions& opts);

}  // namespace dynamo::configurator
