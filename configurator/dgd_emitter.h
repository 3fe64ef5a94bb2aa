#pragma once
// The `dynamo` target: one DynamoGraphDeployment (nvidia.com/v1alpha1) that NVIDIA Dynamo's
// operator turns into pods. Services: Frontend (router mode from plan.router), one worker
// service per pool (aggregated, or prefill + decode with subComponentType so that Dynamo's
// planner finds them), and a Planner when plan.planner.enabled. Every field used is in the CRD
// schema of ../shared/data/crds (tests/configurator/validate_manifests.py checks it strictly).
//
// GPUs: resources.limits.gpu is per pod; a worker wider than a node (tp x pp > gpus_per_node)
// becomes multinode {nodeCount: k} with tp x pp / k GPUs per node, as the CRD defines.
// Secrets only by reference: workers read hf-token-secret through envFromSecret.
#include <vector>

#include "configurator/deploy_target.h"
#include "configurator/generated_files.h"
#include "configurator/yaml_writer.h"
#include "core/plan/plan.h"

namespace dynamo::configurator {

// The DynamoGraphDeployment document. Preconditions: opts.backend set, opts.name and
// opts.image filled (GenerateTarget does it). Errors: no model id for an hf_config model.
StatusOr<YamlNode> BuildDynamoGraphDeployment(const Plan& plan, const DeployOptions& opts);

// dynamo-graph-deployment.yaml and README.md.
StatusOr<std::vector<GeneratedFile>> EmitDynamoTarget(const Plan& plan, const DeployOptions& opts);

// Nodes and GPUs per node of one worker of `pool`: {1, tp x pp} when it fits a node, else the
// fewest nodes that split tp x pp evenly with at most gpus_per_node each.
struct WorkerPlacement {
  int nodes = 1;
  int gpus_per_node = 1;
};
WorkerPlacement PlaceWorker(const WorkerPoolSpec& pool, int gpus_per_node);

}  // namespace dynamo::configurator
