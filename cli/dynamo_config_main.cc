// dynamo-config: turn a plan into deployment artifacts: a Dynamo DynamoGraphDeployment, plain
// Kubernetes manifests for dynamo-run, a local launch script, or a sharded sweep as a
// Kubernetes Indexed Job. Exit codes: 0 ok, 1 bad input, 2 bad usage, 3 internal error.

#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "cli/config_commands.h"
#include "cli/exit_codes.h"
#include "configurator/deploy_target.h"
#include "core/plan/plan.h"
#include "core/version.h"

namespace dynamo::cli {
namespace {

std::string Join(const std::vector<std::string>& v) {
  std::string s;
  for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
  return s;
}

int Main(int argc, char** argv) {
  CLI::App app{"dynamo-config: turn a plan.json into deployment artifacts"};
  app.set_version_flag("--version", "dynamo-config " + std::string(kDynamoVersion));
  ConfigArgs a;
  app.add_option("--plan", a.plan,
                 "Bundled plan (" + Join(BundledPlanNames()) +
                     ") or a plan.json path; every target but k8s-sweep");
  app.add_option("--target", a.target,
                 "dynamo: a DynamoGraphDeployment; k8s: Kubernetes manifests for dynamo-run; "
                 "local: run_local.sh; k8s-sweep: a sharded dynamo-sim sweep as an Indexed Job")
      ->required()
      ->check(CLI::IsMember(configurator::DeployTargetNames()));
  app.add_option("--backend", a.backend,
                 "Engine of the workers (--target dynamo): vllm, sglang or trtllm")
      ->check(CLI::IsMember({"vllm", "sglang", "trtllm"}));
  app.add_option("--out", a.out, "Output directory, written complete or not at all (see --force)")
      ->required();
  app.add_option("--namespace", a.k8s_namespace, "Kubernetes namespace of the objects")
      ->capture_default_str();
  app.add_option("--image", a.image,
                 "Container image (default: nvcr.io/nvidia/ai-dynamo/<backend>-runtime:TAG for "
                 "dynamo, dynamo-planner:VERSION for k8s and k8s-sweep)");
  app.add_option("--model-id", a.model_id,
                 "Hugging Face model id the engines load (default: the bundled model's; "
                 "required for an hf_config model)");
  app.add_option("--name", a.name,
                 "Deployment name (default: from the plan's file name; dynamo-sweep)");
  app.add_flag("--force", a.force, "Replace an --out directory that is not empty");
  CLI::Option* shards = app.add_option("--shards", a.shards, "k8s-sweep: number of shards")
                            ->capture_default_str()
                            ->check(CLI::Range(1, 100000));
  CLI::Option* sweep_args =
      app.add_option("--sweep-args", a.sweep_args,
                     "k8s-sweep: dynamo-sim sweep flags as one string, without --shard and --out");
  CLI::Option* pvc =
      app.add_option("--pvc", a.pvc, "k8s-sweep: PersistentVolumeClaim mounted at /results")
          ->capture_default_str();
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? kExitOk : kExitUsage;
  }
  a.shards_given = shards->count() > 0;
  a.sweep_args_given = sweep_args->count() > 0;
  a.pvc_given = pvc->count() > 0;
  return ReportStatus(RunConfig(a));
}

}  // namespace
}  // namespace dynamo::cli

int main(int argc, char** argv) { return dynamo::cli::Main(argc, argv); }
