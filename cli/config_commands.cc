#include "cli/config_commands.h"

#include <cstdio>
#include <optional>
#include <vector>

#include "configurator/deploy_target.h"
#include "configurator/engine_flags.h"
#include "configurator/generated_files.h"
#include "core/plan/plan.h"

namespace dynamo::cli {
namespace {

using configurator::DeployTarget;

// Flags of one target used with another: a mistake worth stopping for, not ignoring.
Status CheckFlagsApply(const ConfigArgs& a, DeployTarget target) {
  const std::string t = "--target " + a.target;
  if (target == DeployTarget::kK8sSweep) {
    if (!a.plan.empty()) {
      return InvalidArgument("--plan " + a.plan + ": does not apply to " + t +
                             " (the sweep's inputs go in --sweep-args); drop it");
    }
    return Status::Ok();
  }
  const auto sweep_only = [&](const char* flag) {
    return InvalidArgument(std::string(flag) + ": applies to --target k8s-sweep only, not " + t +
                           "; drop it");
  };
  if (a.shards_given) return sweep_only("--shards");
  if (a.sweep_args_given) return sweep_only("--sweep-args");
  if (a.pvc_given) return sweep_only("--pvc");
  return Status::Ok();
}

std::string FileList(const std::vector<configurator::GeneratedFile>& files) {
  std::string s;
  for (const auto& f : files) s += (s.empty() ? "" : ", ") + f.name;
  return s;
}

}  // namespace

Status RunConfig(const ConfigArgs& a) {
  ASSIGN_OR_RETURN(DeployTarget target, configurator::ParseDeployTarget(a.target));
  RETURN_IF_ERROR(CheckFlagsApply(a, target));
  configurator::DeployOptions opts;
  opts.target = target;
  if (!a.backend.empty()) {
    ASSIGN_OR_RETURN(configurator::Backend b, configurator::ParseBackend(a.backend));
    opts.backend = b;
  }
  opts.plan_ref = a.plan;
  opts.k8s_namespace = a.k8s_namespace;
  opts.image = a.image;
  opts.model_id = a.model_id;
  opts.name = a.name;
  opts.shards = a.shards;
  opts.sweep_args = a.sweep_args;
  opts.pvc = a.pvc;
  // Option errors first: they are cheaper to fix than a plan.
  RETURN_IF_ERROR(configurator::ValidateDeployOptions(opts));

  std::optional<Plan> plan;
  if (target != DeployTarget::kK8sSweep && !a.plan.empty()) {
    ASSIGN_OR_RETURN(Plan p, LoadPlan(a.plan));
    plan.emplace(std::move(p));
  }
  ASSIGN_OR_RETURN(std::vector<configurator::GeneratedFile> files,
                   configurator::GenerateTarget(opts, plan ? &*plan : nullptr));
  RETURN_IF_ERROR(configurator::WriteGeneratedFiles(a.out, files, a.force));
  std::printf("dynamo-config: wrote %s (--target %s%s): %s\n", a.out.c_str(), a.target.c_str(),
              target == DeployTarget::kDynamo && opts.backend
                  ? (", --backend " + std::string(BackendName(*opts.backend))).c_str()
                  : "",
              FileList(files).c_str());
  return Status::Ok();
}

}  // namespace dynamo::cli
