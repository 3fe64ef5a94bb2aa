#pragma once
// KubernetesConnector: scales the pools of a deployment running in Kubernetes by patching
// replicas, either through the API server over plain HTTP (usually `kubectl proxy` on
// 127.0.0.1:8001, which adds TLS and the kubeconfig's credentials; or an API server URL reachable
// without TLS, with an optional bearer token) or by running `kubectl patch` (its kubeconfig).
//
// Two kinds of target, matching what dynamo-config emits (docs/config.md):
//  - kDynamoGraphDeployment: one DGD; each role is a service of spec.services (VllmWorker,
//    VllmPrefillWorker, VllmDecodeWorker, ...): a JSON merge patch
//    {"spec":{"services":{"<service>":{"replicas":N}}}} on
//    /apis/nvidia.com/v1alpha1/namespaces/NS/dynamographdeployments/NAME;
//  - kDeployment: one Deployment per pool (NAME-<role>-<I>): a merge patch
//    {"spec":{"replicas":N}} on /apis/apps/v1/namespaces/NS/deployments/<deployment>/scale.
//
// Asynchronous: HTTP calls run on the io_context; kubectl runs as a child process (through
// /bin/sh, which reports kubectl's exit status on a pipe, so that another reaper of children
// cannot lose it) watched by a thread of its own that posts the result back. Single-threaded
// otherwise: call it on the io_context's thread only. Destroying the connector kills kubectl
// children still running and joins their threads; their results are still posted.

#include <cstdint>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/plan/plan.h"
#include "core/status.h"
#include "core/time.h"
#include "planner/connectors/scaling_connector.h"
#include "runtime/loadgen/http_client.h"

namespace dynamo::planner {

enum class KubernetesKind : uint8_t { kDynamoGraphDeployment, kDeployment };
enum class KubernetesMode : uint8_t { kApiServer, kKubectl };

// "dynamographdeployment", "deployment"; "api", "kubectl".
std::string_view KubernetesKindName(KubernetesKind kind);
std::string_view KubernetesModeName(KubernetesMode mode);
// Accept the names above; errors list them.
StatusOr<KubernetesKind> ParseKubernetesKind(std::string_view name);
StatusOr<KubernetesMode> ParseKubernetesMode(std::string_view name);

struct KubernetesConnectorOptions {
  KubernetesMode mode = KubernetesMode::kApiServer;
  KubernetesKind kind = KubernetesKind::kDynamoGraphDeployment;
  std::string api_url = "http://127.0.0.1:8001";  // api mode: http://HOST[:PORT][/PATH]
  std::string token_file;  // api mode: a file holding a bearer token ("" none); read at Create
  std::string k8s_namespace = "default";
  std::string name;  // kDynamoGraphDeployment: the DGD's metadata.name; kDeployment: unused
  // Per role: the DGD service (kDynamoGraphDeployment) or the Deployment (kDeployment) that holds
  // that role's pool; "" when the deployment has no such pool.
  std::string agg, prefill, decode;
  std::string kubectl = "kubectl";           // kubectl mode: a path, or a name looked up on PATH
  Duration timeout = Duration::Seconds(10);  // per API call or kubectl run
};

// The names dynamo-config gives a plan's pools (one pool per role), for the options' defaults:
// the DGD service "<Backend>Worker" / "<Backend>PrefillWorker" / "<Backend>DecodeWorker"
// (`backend`: vllm, sglang or trtllm) and the Deployment "<name>-<role>-<pool index>".
StatusOr<std::string> DgdServiceName(std::string_view backend, WorkerRole role);
std::string WorkerDeploymentName(const Plan& plan, std::string_view name, WorkerRole role);
// Fills agg/prefill/decode for the plan's roles: DGD services of `backend`, or Deployments
// named after `options.name`. Roles the plan lacks stay "".
Status FillTargetsForPlan(const Plan& plan, std::string_view backend,
                          KubernetesConnectorOptions& options);

class KubernetesConnector final : public ScalingConnector {
  struct PrivateKey {};

 public:
  // Validates the options, naming the option and the bad value: namespace (DNS-1123 label),
  // names (DGD and Deployments: DNS-1123 subdomains; DGD services: letters, digits, '-'), at
  // least one role's target, the API URL (plain http), the token file (readable, not empty),
  // the kubectl binary (found, executable), a positive timeout. Resolves the API server's host.
  // `io` must outlive the connector.
  static StatusOr<std::unique_ptr<KubernetesConnector>> Create(boost::asio::io_context& io,
                                                               KubernetesConnectorOptions options);
  KubernetesConnector(PrivateKey, boost::asio::io_context& io, KubernetesConnectorOptions options);
  ~KubernetesConnector() override;
  KubernetesConnector(const KubernetesConnector&) = delete;
  KubernetesConnector& operator=(const KubernetesConnector&) = delete;

  // done: Ok on 2xx (or kubectl exit 0). Errors name the resource: NotFound (404: a wrong name
  // or namespace, or the DGD CRD not installed), FailedPrecondition (401/403: credentials or
  // RBAC, naming the permission needed; 409: conflict, with the API server's message),
  // InvalidArgument (422: the API server's message; a role without a target; replicas < 0),
  // IoError (cannot connect, naming the URL and `kubectl proxy`; timeouts; other statuses;
  // kubectl failures with its stderr).
  void SetReplicas(WorkerRole role, int replicas, std::function<void(Status)> done) override;
  // The spec's replicas (DGD: spec.services.<service>.replicas; Deployment: the scale's
  // spec.replicas), with the same errors.
  void GetReplicas(WorkerRole role, std::function<void(StatusOr<int>)> done) override;
  std::string Describe() const override;

  // For tests and logs: the API path of `role`'s object ("" without a target), and the patch body.
  std::string ResourcePath(WorkerRole role) const;
  std::string PatchBody(WorkerRole role, int replicas) const;
  // kubectl mode: the arguments after the binary of a patch.
  std::vector<std::string> KubectlPatchArgs(WorkerRole role, int replicas) const;

 private:
  struct Child;  // one kubectl run
  struct ApiResult {
    int status = 0;  // HTTP status; 0 when the call failed
    std::string body;
    Status failure;  // connect/timeout/io error
  };

  const std::string& Target(WorkerRole role) const;
  // The object a role's pool lives in, for messages: "dynamographdeployment ns/name service X".
  std::string Subject(WorkerRole role) const;
  Status TargetMissing(WorkerRole role) const;
  void Call(loadgen::HttpMethod method, std::string path, std::string body,
            std::function<void(ApiResult)> done);
  // Runs kubectl with `args`; done(exit ok, stdout, error) on the io thread.
  void RunKubectl(std::vector<std::string> args,
                  std::function<void(Status, std::string stdout_text)> done);
  void ReapFinishedChildren();

  boost::asio::io_context& io_;
  KubernetesConnectorOptions options_;
  std::string token_;  // bearer token read from token_file
  loadgen::HttpUrl url_;
  loadgen::TcpEndpoints endpoints_;
  std::string kubectl_path_;                    // resolved at Create
  std::list<std::unique_ptr<Child>> children_;  // kubectl runs, until reaped
};

}  // namespace dynamo::planner
