#pragma once
// DeployTarget and GenerateTarget: what `dynamo-config` can emit for a plan, and the options
// every emitter shares. GenerateTarget checks the options, fills their defaults (name, image)
// and returns the target's files; writing them is WriteGeneratedFiles (generated_files.h).
//
//   dynamo     dynamo-graph-deployment.yaml: a DynamoGraphDeployment (dgd_emitter.h)
//   k8s        k8s.yaml: plain Kubernetes objects running this project's dynamo-run
//              (k8s_emitter.h)
//   local      run_local.sh: dynamo-run on this machine (local_emitter.h)
//   k8s-sweep  sweep-job.yaml, merge-job.yaml, pvc.yaml: a sharded `dynamo-sim sweep` as an
//              Indexed Job (sweep_job_emitter.h); needs no plan
// Every target but k8s-sweep also writes plan.json; every target writes README.md.
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "configurator/engine_flags.h"
#include "configurator/generated_files.h"
#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::configurator {

enum class DeployTarget : uint8_t { kDynamo, kK8s, kLocal, kK8sSweep };
std::string_view DeployTargetName(DeployTarget t);  // "dynamo", "k8s", "local", "k8s-sweep"
StatusOr<DeployTarget> ParseDeployTarget(std::string_view name);
std::vector<std::string> DeployTargetNames();

inline constexpr std::string_view kDefaultNamespace = "dynamo";
inline constexpr std::string_view kDefaultSweepPvc = "dynamo-sweep-results";
inline constexpr std::string_view kHfTokenSecret = "hf-token-secret";
inline constexpr int kDefaultShards = 4;
// Kubernetes object names are derived from the deployment name plus suffixes ("-frontend",
// "-prefill-0", "-merge"); Dynamo's operator (Grove) limits names to 45 characters.
inline constexpr size_t kMaxDeployNameLength = 45;

struct DeployOptions {
  DeployTarget target = DeployTarget::kDynamo;
  std::optional<Backend> backend;  // required by kDynamo; the others run dynamo-run or dynamo-sim
  std::string plan_ref;            // --plan as given, for README files
  std::string k8s_namespace = std::string(kDefaultNamespace);
  std::string image;     // empty: DefaultImage
  std::string model_id;  // empty: the bundled model's Hugging Face id (model_ids.h)
  std::string name;      // empty: DefaultDeployName
  // k8s-sweep only.
  int shards = kDefaultShards;
  std::string sweep_args;  // dynamo-sim sweep flags, one string (shell-style quoting)
  std::string pvc = std::string(kDefaultSweepPvc);
};

// The image a target runs unless --image says otherwise: Dynamo's runtime image of the
// backend (nvcr.io/nvidia/ai-dynamo/<backend>-runtime:TAG) for kDynamo, this project's image
// (dynamo-planner:VERSION, built from this repository) for the others.
std::string DefaultImage(DeployTarget target, std::optional<Backend> backend);
// A DNS-1123 label from the plan's file name ("data/plans/llama70b_disagg.json" ->
// "llama70b-disagg"), at most kMaxDeployNameLength characters; "dynamo-sweep" for k8s-sweep.
std::string DefaultDeployName(const Plan* plan);

// Rejects a bad --name, --namespace, --image, --model-id, --pvc or --shards, naming the flag,
// the value, the rule and a fix.
Status ValidateDeployOptions(const DeployOptions& opts);

// All files of the target. `plan` must be set for every target but kK8sSweep (which ignores
// it). Errors: bad options, a plan the target cannot express (a worker wider than a node for
// k8s), a missing model id.
StatusOr<std::vector<GeneratedFile>> GenerateTarget(const DeployOptions& opts, const Plan* plan);

}  // namespace dynamo::configurator
