#include "configurator/deploy_target.h"

#include <array>

#include "configurator/dgd_emitter.h"
#include "configurator/k8s_emitter.h"
#include "configurator/local_emitter.h"
#include "configurator/sweep_job_emitter.h"
#include "core/check.h"
#include "core/version.h"

namespace dynamo::configurator {
namespace {

// Dynamo's runtime images are tagged by release; this is a placeholder to override (--image)
// with the release the cluster's operator runs.
constexpr std::string_view kDynamoImageTag = "1.0.1";
constexpr size_t kMaxLabelLength = 63;       // DNS-1123 label (namespaces)
constexpr size_t kMaxSubdomainLength = 253;  // DNS-1123 subdomain (claims)
constexpr int kMaxShards = 100000;           // Kubernetes' limit on Indexed Job completions

constexpr std::array<DeployTarget, 4> kTargets = {DeployTarget::kDynamo, DeployTarget::kK8s,
                                                  DeployTarget::kLocal, DeployTarget::kK8sSweep};

bool IsLowerAlnum(char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); }

// DNS-1123 label: lowercase letters, digits and '-', starting and ending with a letter or digit.
bool IsDnsLabel(std::string_view s, size_t max_len) {
  if (s.empty() || s.size() > max_len) return false;
  if (!IsLowerAlnum(s.front()) || !IsLowerAlnum(s.back())) return false;
  for (char c : s) {
    if (!IsLowerAlnum(c) && c != '-') return false;
  }
  return true;
}

// DNS-1123 subdomain: dot-separated labels.
bool IsDnsSubdomain(std::string_view s) {
  if (s.empty() || s.size() > kMaxSubdomainLength) return false;
  size_t start = 0;
  while (true) {
    const size_t dot = s.find('.', start);
    const std::string_view label =
        s.substr(start, dot == std::string_view::npos ? dot : dot - start);
    if (!IsDnsLabel(label, kMaxLabelLength)) return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

// No blanks or control characters (image references, model ids, paths).
bool IsToken(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7F) return false;
  }
  return true;
}

std::string BaseStem(const std::string& path) {
  std::string base =
      path.substr(path.find_last_of('/') == std::string::npos ? 0 : path.find_last_of('/') + 1);
  if (base.size() > 5 && base.compare(base.size() - 5, 5, ".json") == 0) {
    base.resize(base.size() - 5);
  }
  return base;
}

}  // namespace

std::string_view DeployTargetName(DeployTarget t) {
  switch (t) {
    case DeployTarget::kDynamo:
      return "dynamo";
    case DeployTarget::kK8s:
      return "k8s";
    case DeployTarget::kLocal:
      return "local";
    case DeployTarget::kK8sSweep:
      return "k8s-sweep";
  }
  return "?";
}

StatusOr<DeployTarget> ParseDeployTarget(std::string_view name) {
  for (DeployTarget t : kTargets) {
    if (name == DeployTargetName(t)) return t;
  }
  return InvalidArgument("--target: \"" + std::string(name) +
                         "\" is not a target; use dynamo, k8s, local or k8s-sweep");
}

std::vector<std::string> DeployTargetNames() {
  std::vector<std::string> names;
  for (DeployTarget t : kTargets) names.emplace_back(DeployTargetName(t));
  return names;
}

std::string DefaultImage(DeployTarget target, std::optional<Backend> backend) {
  if (target == DeployTarget::kDynamo && backend.has_value()) {
    const std::string runtime =
        *backend == Backend::kTrtllm ? "tensorrtllm" : std::string(BackendName(*backend));
    return "nvcr.io/nvidia/ai-dynamo/" + runtime + "-runtime:" + std::string(kDynamoImageTag);
  }
  return "dynamo-planner:" + std::string(kDynamoVersion);
}

std::string DefaultDeployName(const Plan* plan) {
  if (plan == nullptr) return "dynamo-sweep";
  std::string name;
  for (char c : BaseStem(plan->source)) {
    const char lower = (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
    if (IsLowerAlnum(lower)) {
      name += lower;
    } else if (!name.empty() && name.back() != '-') {
      name += '-';
    }
  }
  if (name.size() > kMaxDeployNameLength) name.resize(kMaxDeployNameLength);
  while (!name.empty() && name.back() == '-') name.pop_back();
  return name.empty() ? "dynamo" : name;
}

Status ValidateDeployOptions(const DeployOptions& o) {
  if (!o.name.empty() && !IsDnsLabel(o.name, kMaxDeployNameLength)) {
    return InvalidArgument("--name: \"" + o.name + "\" is not a valid name; use at most " +
                           std::to_string(kMaxDeployNameLength) +
                           " lowercase letters, digits and '-', starting and ending with a "
                           "letter or digit (e.g. llama70b-disagg)");
  }
  if (!IsDnsLabel(o.k8s_namespace, kMaxLabelLength)) {
    return InvalidArgument("--namespace: \"" + o.k8s_namespace +
                           "\" is not a Kubernetes namespace name; use at most 63 lowercase "
                           "letters, digits and '-', starting and ending with a letter or digit "
                           "(e.g. dynamo)");
  }
  if (!o.image.empty() && !IsToken(o.image)) {
    return InvalidArgument("--image: \"" + o.image +
                           "\" is not an image reference (it has blanks or control characters); "
                           "use e.g. nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1");
  }
  if (!o.model_id.empty() && !IsToken(o.model_id)) {
    return InvalidArgument("--model-id: \"" + o.model_id +
                           "\" has blanks or control characters; use a Hugging Face id such as "
                           "meta-llama/Llama-3.1-8B-Instruct");
  }
  if (!IsDnsSubdomain(o.pvc)) {
    return InvalidArgument("--pvc: \"" + o.pvc +
                           "\" is not a PersistentVolumeClaim name; use lowercase letters, "
                           "digits, '-' and '.' (e.g. dynamo-sweep-results)");
  }
  if (o.shards < 1 || o.shards > kMaxShards) {
    return InvalidArgument("--shards: " + std::to_string(o.shards) + " is out of range; use 1 to " +
                           std::to_string(kMaxShards));
  }
  return Status::Ok();
}

StatusOr<std::vector<GeneratedFile>> GenerateTarget(const DeployOptions& opts, const Plan* plan) {
  RETURN_IF_ERROR(ValidateDeployOptions(opts));
  DeployOptions o = opts;
  const bool needs_plan = o.target != DeployTarget::kK8sSweep;
  if (needs_plan && plan == nullptr) {
    return InvalidArgument("--plan: missing; --target " + std::string(DeployTargetName(o.target)) +
                           " emits a deployment of a plan: pass a bundled plan name (e.g. "
                           "llama70b_disagg) or a plan.json path");
  }
  if (o.target == DeployTarget::kDynamo && !o.backend.has_value()) {
    return InvalidArgument(
        "--backend: missing; --target dynamo needs the engine the workers "
        "run: pass --backend vllm, sglang or trtllm");
  }
  if (o.name.empty()) o.name = DefaultDeployName(needs_plan ? plan : nullptr);
  if (o.image.empty()) o.image = DefaultImage(o.target, o.backend);
  if (o.plan_ref.empty() && plan != nullptr) o.plan_ref = plan->source;

  std::vector<GeneratedFile> files;
  switch (o.target) {
    case DeployTarget::kDynamo: {
      ASSIGN_OR_RETURN(files, EmitDynamoTarget(*plan, o));
      break;
    }
    case DeployTarget::kK8s: {
      ASSIGN_OR_RETURN(files, EmitK8sTarget(*plan, o));
      break;
    }
    case DeployTarget::kLocal:
      files = EmitLocalTarget(*plan, o);
      break;
    case DeployTarget::kK8sSweep: {
      ASSIGN_OR_RETURN(files, EmitK8sSweepTarget(o));
      break;
    }
  }
  if (needs_plan) files.push_back({"plan.json", PlanToJson(*plan), false});
  return files;
}

}  // namespace dynamo::configurator
