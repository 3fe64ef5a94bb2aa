#pragma once
// The `k8s` target: plain Kubernetes objects (no operator) that run this project's runtime,
// dynamo-run, on a plan. One multi-document k8s.yaml, every object in the namespace and
// labelled app.kubernetes.io/{name,instance,component,part-of,managed-by}:
//   ConfigMap  NAME-plan        plan.json, mounted at /etc/dynamo
//   Deployment NAME-frontend    `dynamo-run frontend --plan /etc/dynamo/plan.json --host 0.0.0.0
//                               --port 8000` (frontend, router and planner in one process)
//   Service    NAME-frontend    port 8000
//   Deployment NAME-<role>-<i>  one per worker pool: `dynamo-run worker --plan ... --pool I
//                               --frontend NAME-frontend.NS.svc:8000`, nvidia.com/gpu = tp x pp
//   Service    NAME-workers     headless, selects every worker pod
// With plan.planner.enabled, also ServiceAccount, Role and RoleBinding NAME-planner (get and
// patch on deployments and deployments/scale), and the frontend runs the planner with the
// Kubernetes connector (--k8s-kind deployment) through a `kubectl proxy` sidecar on
// 127.0.0.1:8001, as that service account.
// The dynamo-run subcommands this relies on are specified in docs/config.md.
#include <vector>

#include "configurator/deploy_target.h"
#include "configurator/generated_files.h"
#include "configurator/yaml_writer.h"
#include "core/plan/plan.h"

namespace dynamo::configurator {

inline constexpr int kDynamoRunPort = 8000;
inline constexpr std::string_view kPlanMountDir = "/etc/dynamo";

// The objects, in apply order. Preconditions: opts.name and opts.image filled. Errors: a worker
// wider than one node (a pod cannot span nodes; use --target dynamo).
StatusOr<std::vector<YamlNode>> BuildK8sObjects(const Plan& plan, const DeployOptions& opts);

// k8s.yaml and README.md.
StatusOr<std::vector<GeneratedFile>> EmitK8sTarget(const Plan& plan, const DeployOptions& opts);

}  // namespace dynamo::configurator
