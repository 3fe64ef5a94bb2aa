#pragma once
// ScalingConnector: how the SLA planner's decisions reach real workers. The planner core decides
// replica counts per pool; a connector makes them so: LocalProcessConnector starts and drains
// dynamo-run's worker processes, KubernetesConnector patches replicas through the Kubernetes API
// server (DynamoGraphDeployment services or plain Deployments) or kubectl.
//
// The I/O seam of the planner (a virtual interface): the driver holds one connector and calls
// it from its io_context's thread. Every callback runs once, on that thread, and never inside
// the call that started it. A connector must be destroyed before its io_context.

#include <functional>
#include <string>

#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::planner {

class ScalingConnector {
 public:
  virtual ~ScalingConnector() = default;

  // Asks for `replicas` workers in the pool of `role`. `done(Status)` reports whether the
  // request was carried out (local: the workers were started or told to drain; Kubernetes: the
  // API server accepted the patch), not that the workers are ready.
  virtual void SetReplicas(WorkerRole role, int replicas, std::function<void(Status)> done) = 0;
  // The replica count the connector's backend holds now for `role`'s pool (local: workers
  // started and not draining; Kubernetes: the spec's replicas).
  virtual void GetReplicas(WorkerRole role, std::function<void(StatusOr<int>)> done) = 0;
  // One line for logs: "kubernetes DynamoGraphDeployment ns/name via http://127.0.0.1:8001".
  virtual std::string Describe() const = 0;
};

}  // namespace dynamo::planner
