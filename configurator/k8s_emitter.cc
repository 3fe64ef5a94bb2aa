#include "configurator/k8s_emitter.h"

#include "configurator/k8s_objects.h"
#include "core/version.h"

namespace dynamo::configurator {
namespace {

constexpr std::string_view kApp = "dynamo-run";
const std::string kPlanPath = std::string(kPlanMountDir) + "/plan.json";
// The planner reaches the API server through `kubectl proxy` in a sidecar (dynamo-run speaks
// plain HTTP; the proxy adds TLS and the pod's service-account credentials).
constexpr std::string_view kKubectlImage = "registry.k8s.io/kubectl:v1.31.0";
constexpr int kKubectlProxyPort = 8001;

std::string PlannerAccountName(const DeployOptions& opts) { return opts.name + "-planner"; }

std::string PoolLabelValue(size_t i) { return std::to_string(i); }

std::string WorkerDeploymentName(const Plan& plan, const std::string& name, size_t i) {
  return name + "-" + std::string(WorkerRoleName(plan.workers[i].role)) + "-" + std::to_string(i);
}

YamlNode PlanVolume(const std::string& name) {
  YamlNode config_map = YamlNode::Map();
  config_map.Set("name", YamlNode::Str(name + "-plan"));
  YamlNode v = YamlNode::Map();
  v.Set("name", YamlNode::Str("plan"));
  v.Set("configMap", std::move(config_map));
  YamlNode volumes = YamlNode::Seq();
  volumes.Append(std::move(v));
  return volumes;
}

YamlNode PlanVolumeMount() {
  YamlNode m = YamlNode::Map();
  m.Set("name", YamlNode::Str("plan"));
  m.Set("mountPath", YamlNode::Str(std::string(kPlanMountDir)));
  m.Set("readOnly", YamlNode::Bool(true));
  YamlNode mounts = YamlNode::Seq();
  mounts.Append(std::move(m));
  return mounts;
}

// Deployment {replicas, selector, template{labels, containers[container], volumes[plan]}}.
YamlNode Deployment(const std::string& name, const std::string& ns, YamlNode labels,
                    YamlNode selector, int replicas, YamlNode container,
                    const std::string& instance) {
  YamlNode d = ObjectHead("apps/v1", "Deployment", ObjectMeta(name, ns, labels));
  YamlNode spec = YamlNode::Map();
  spec.Set("replicas", YamlNode::Int(replicas));
  YamlNode match = YamlNode::Map();
  match.Set("matchLabels", std::move(selector));
  spec.Set("selector", std::move(match));
  YamlNode pod_meta = YamlNode::Map();
  pod_meta.Set("labels", std::move(labels));
  YamlNode pod_spec = YamlNode::Map();
  YamlNode containers = YamlNode::Seq();
  containers.Append(std::move(container));
  pod_spec.Set("containers", std::move(containers));
  pod_spec.Set("volumes", PlanVolume(instance));
  YamlNode tmpl = YamlNode::Map();
  tmpl.Set("metadata", std::move(pod_meta));
  tmpl.Set("spec", std::move(pod_spec));
  spec.Set("template", std::move(tmpl));
  d.Set("spec", std::move(spec));
  return d;
}

YamlNode PlanConfigMap(const Plan& plan, const DeployOptions& opts) {
  YamlNode cm = ObjectHead("v1", "ConfigMap",
                           ObjectMeta(opts.name + "-plan", opts.k8s_namespace,
                                      StandardLabels(std::string(kApp), opts.name, "plan")));
  std::string comment = "The plan every dynamo-run process reads, mounted at " + kPlanPath + ".";
  if (plan.model_ref.find('/') != std::string::npos) {
    comment += "\nIts model is the config.json " + plan.model_ref +
               "\nof the machine that ran dynamo-config: the image must hold it at that path.";
  }
  cm.WithComment(comment);
  YamlNode data = YamlNode::Map();
  data.Set("plan.json", YamlNode::Str(PlanToJson(plan)));
  cm.Set("data", std::move(data));
  return cm;
}

// With the planner: the frontend patches the worker Deployments' /scale through the sidecar.
std::vector<std::string> FrontendArgs(const Plan& plan, const DeployOptions& opts) {
  std::vector<std::string> args = {"frontend",
                                   "--plan",
                                   kPlanPath,
                                   "--host",
                                   "0.0.0.0",
                                   "--port",
                                   std::to_string(kDynamoRunPort)};
  if (plan.planner.enabled) {
    args.insert(args.end(), {"--planner-connector", "kubernetes", "--k8s-mode", "api", "--k8s-kind",
                             "deployment", "--k8s-api-url",
                             "http://127.0.0.1:" + std::to_string(kKubectlProxyPort),
                             "--k8s-namespace", opts.k8s_namespace, "--k8s-name", opts.name});
  }
  return args;
}

YamlNode KubectlProxyContainer() {
  YamlNode c = YamlNode::Map();
  c.Set("name", YamlNode::Str("kubectl-proxy"));
  c.Set("image", YamlNode::Str(std::string(kKubectlImage)));
  c.Set("command", YamlNode::StrSeq({"kubectl"}));
  c.Set("args", YamlNode::StrSeq({"proxy", "--address=127.0.0.1",
                                  "--port=" + std::to_string(kKubectlProxyPort)}));
  c.WithComment(
      "kubectl proxy on localhost: the planner's API access, with the pod's service account.");
  return c;
}

// The planner's identity: get and patch the worker Deployments and their /scale, nothing else.
std::vector<YamlNode> PlannerRbac(const DeployOptions& opts) {
  const std::string name = PlannerAccountName(opts);
  const YamlNode labels = StandardLabels(std::string(kApp), opts.name, "planner");
  YamlNode account =
      ObjectHead("v1", "ServiceAccount", ObjectMeta(name, opts.k8s_namespace, labels));
  account.WithComment("The frontend's service account: its planner scales the worker pools.");

  YamlNode rule = YamlNode::Map();
  rule.Set("apiGroups", YamlNode::StrSeq({"apps"}));
  rule.Set("resources", YamlNode::StrSeq({"deployments", "deployments/scale"}));
  rule.Set("verbs", YamlNode::StrSeq({"get", "patch"}));
  YamlNode rules = YamlNode::Seq();
  rules.Append(std::move(rule));
  YamlNode role = ObjectHead("rbac.authorization.k8s.io/v1", "Role",
                             ObjectMeta(name, opts.k8s_namespace, labels));
  role.Set("rules", std::move(rules));

  YamlNode role_ref = YamlNode::Map();
  role_ref.Set("apiGroup", YamlNode::Str("rbac.authorization.k8s.io"));
  role_ref.Set("kind", YamlNode::Str("Role"));
  role_ref.Set("name", YamlNode::Str(name));
  YamlNode subject = YamlNode::Map();
  subject.Set("kind", YamlNode::Str("ServiceAccount"));
  subject.Set("name", YamlNode::Str(name));
  subject.Set("namespace", YamlNode::Str(opts.k8s_namespace));
  YamlNode subjects = YamlNode::Seq();
  subjects.Append(std::move(subject));
  YamlNode binding = ObjectHead("rbac.authorization.k8s.io/v1", "RoleBinding",
                                ObjectMeta(name, opts.k8s_namespace, labels));
  binding.Set("roleRef", std::move(role_ref));
  binding.Set("subjects", std::move(subjects));

  std::vector<YamlNode> objects;
  objects.push_back(std::move(account));
  objects.push_back(std::move(role));
  objects.push_back(std::move(binding));
  return objects;
}

YamlNode FrontendDeployment(const Plan& plan, const DeployOptions& opts) {
  YamlNode c = YamlNode::Map();
  c.Set("name", YamlNode::Str("frontend"));
  c.Set("image", YamlNode::Str(opts.image));
  c.Set("command", YamlNode::StrSeq({"dynamo-run"}));
  c.Set("args", YamlNode::StrSeq(FrontendArgs(plan, opts)));
  YamlNode port = YamlNode::Map();
  port.Set("name", YamlNode::Str("http"));
  port.Set("containerPort", YamlNode::Int(kDynamoRunPort));
  YamlNode ports = YamlNode::Seq();
  ports.Append(std::move(port));
  c.Set("ports", std::move(ports));
  YamlNode http_get = YamlNode::Map();
  http_get.Set("path", YamlNode::Str("/health"));
  http_get.Set("port", YamlNode::Str("http"));
  YamlNode probe = YamlNode::Map();
  probe.Set("httpGet", std::move(http_get));
  probe.Set("periodSeconds", YamlNode::Int(10));
  c.Set("readinessProbe", std::move(probe));
  c.Set("volumeMounts", PlanVolumeMount());
  YamlNode d = Deployment(opts.name + "-frontend", opts.k8s_namespace,
                          StandardLabels(std::string(kApp), opts.name, "frontend"),
                          SelectorLabels(opts.name, "frontend"), 1, std::move(c), opts.name);
  if (!plan.planner.enabled) {
    d.WithComment("Frontend and router: one process (dynamo-run frontend).");
    return d;
  }
  d.WithComment(
      "Frontend, router and SLA planner: one process (dynamo-run frontend). The planner sets the\n"
      "worker Deployments' replicas through kubectl proxy (sidecar) as service account " +
      PlannerAccountName(opts) + ".");
  YamlNode* pod_spec = d.Find("spec")->Find("template")->Find("spec");
  pod_spec->Set("serviceAccountName", YamlNode::Str(PlannerAccountName(opts)));
  pod_spec->Find("containers")->Append(KubectlProxyContainer());
  return d;
}

YamlNode FrontendService(const DeployOptions& opts) {
  YamlNode s = ObjectHead("v1", "Service",
                          ObjectMeta(opts.name + "-frontend", opts.k8s_namespace,
                                     StandardLabels(std::string(kApp), opts.name, "frontend")));
  YamlNode port = YamlNode::Map();
  port.Set("name", YamlNode::Str("http"));
  port.Set("port", YamlNode::Int(kDynamoRunPort));
  port.Set("targetPort", YamlNode::Str("http"));
  YamlNode ports = YamlNode::Seq();
  ports.Append(std::move(port));
  YamlNode spec = YamlNode::Map();
  spec.Set("type", YamlNode::Str("ClusterIP"));
  spec.Set("selector", SelectorLabels(opts.name, "frontend"));
  spec.Set("ports", std::move(ports));
  s.Set("spec", std::move(spec));
  return s;
}

YamlNode WorkerDeployment(const Plan& plan, size_t i, const DeployOptions& opts) {
  const WorkerPoolSpec& w = plan.workers[i];
  const std::vector<std::pair<std::string, std::string>> pool_labels = {
      {"dynamo-config/pool", PoolLabelValue(i)},
      {"dynamo-config/role", std::string(WorkerRoleName(w.role))}};
  const std::string frontend =
      opts.name + "-frontend." + opts.k8s_namespace + ".svc:" + std::to_string(kDynamoRunPort);
  YamlNode c = YamlNode::Map();
  c.Set("name", YamlNode::Str("worker"));
  c.Set("image", YamlNode::Str(opts.image));
  c.Set("command", YamlNode::StrSeq({"dynamo-run"}));
  c.Set("args", YamlNode::StrSeq({"worker", "--plan", kPlanPath, "--pool", std::to_string(i),
                                  "--frontend", frontend}));
  YamlNode env = YamlNode::Seq();
  env.Append(EnvFromField("POD_IP", "status.podIP"))
      .WithComment("The address the worker registers with the frontend.");
  env.Append(EnvFromSecretKey("HF_TOKEN", std::string(kHfTokenSecret), "HF_TOKEN"));
  c.Set("env", std::move(env));
  YamlNode limits = YamlNode::Map();
  limits.Set("nvidia.com/gpu", YamlNode::Int(w.parallelism.gpus()));
  YamlNode resources = YamlNode::Map();
  resources.Set("limits", std::move(limits));
  c.Set("resources", std::move(resources));
  c.Set("volumeMounts", PlanVolumeMount());
  YamlNode d = Deployment(WorkerDeploymentName(plan, opts.name, i), opts.k8s_namespace,
                          StandardLabels(std::string(kApp), opts.name, "worker", pool_labels),
                          SelectorLabels(opts.name, "worker", pool_labels), w.replicas,
                          std::move(c), opts.name);
  d.WithComment("Pool " + std::to_string(i) + " (" + std::string(WorkerRoleName(w.role)) +
                "): " + std::to_string(w.replicas) + " worker(s) of tp " +
                std::to_string(w.parallelism.tp) + " x pp " + std::to_string(w.parallelism.pp) +
                " = " + std::to_string(w.parallelism.gpus()) + " GPU(s)." +
                (plan.planner.enabled
                     ? "\nThe planner owns replicas from here on (re-applying this file resets "
                       "them to the plan's)."
                     : ""));
  return d;
}

YamlNode WorkersService(const DeployOptions& opts) {
  YamlNode s = ObjectHead("v1", "Service",
                          ObjectMeta(opts.name + "-workers", opts.k8s_namespace,
                                     StandardLabels(std::string(kApp), opts.name, "worker")));
  s.WithComment("Headless: one DNS record per worker pod, for discovery; no load balancing.");
  YamlNode spec = YamlNode::Map();
  spec.Set("clusterIP", YamlNode::Str("None"));
  spec.Set("selector", SelectorLabels(opts.name, "worker"));
  s.Set("spec", std::move(spec));
  return s;
}

}  // namespace

StatusOr<std::vector<YamlNode>> BuildK8sObjects(const Plan& plan, const DeployOptions& opts) {
  const int gpus_per_node = plan.cluster.gpus_per_node;
  for (size_t i = 0; i < plan.workers.size(); ++i) {
    const Parallelism& p = plan.workers[i].parallelism;
    if (gpus_per_node > 0 && p.gpus() > gpus_per_node) {
      return FailedPrecondition(
          "--target k8s: pool " + std::to_string(i) + " of " + opts.plan_ref + " needs " +
          std::to_string(p.gpus()) + " GPUs per worker (tp " + std::to_string(p.tp) + " x pp " +
          std::to_string(p.pp) + "), more than one node's " + std::to_string(gpus_per_node) +
          "; a plain Deployment pod cannot span nodes; use --target dynamo (multinode workers) "
          "or a plan with tp x pp <= " +
          std::to_string(gpus_per_node));
    }
  }
  std::vector<YamlNode> objects;
  objects.push_back(PlanConfigMap(plan, opts));
  if (plan.planner.enabled) {
    for (YamlNode& o : PlannerRbac(opts)) objects.push_back(std::move(o));
  }
  objects.push_back(FrontendDeployment(plan, opts));
  objects.push_back(FrontendService(opts));
  for (size_t i = 0; i < plan.workers.size(); ++i) {
    objects.push_back(WorkerDeployment(plan, i, opts));
  }
  objects.push_back(WorkersService(opts));
  objects.front().WithComment("Kubernetes manifests generated by dynamo-config " +
                              std::string(kDynamoVersion) + " from plan " + opts.plan_ref +
                              ": dynamo-run (this project's runtime) without an operator.\n" +
                              "Image " + opts.image +
                              ": build it from this repository, or change it with --image.\n" +
                              "Apply: kubectl apply -f k8s.yaml (namespace " + opts.k8s_namespace +
                              " must exist).\n\n" + objects.front().comment());
  return objects;
}

StatusOr<std::vector<GeneratedFile>> EmitK8sTarget(const Plan& plan, const DeployOptions& opts) {
  ASSIGN_OR_RETURN(std::vector<YamlNode> objects, BuildK8sObjects(plan, opts));
  const std::string& ns = opts.k8s_namespace;
  std::string readme =
      "# " + opts.name +
      ": dynamo-run on Kubernetes\n\n"
      "Generated by `dynamo-config --target k8s` " +
      std::string(kDynamoVersion) + " from plan `" + opts.plan_ref +
      "`.\n\n"
      "| file | what |\n"
      "| --- | --- |\n"
      "| `k8s.yaml` | ConfigMap `" +
      opts.name + "-plan` (plan.json), Deployment and Service `" + opts.name + "-frontend` (port " +
      std::to_string(kDynamoRunPort) +
      "), one Deployment per worker pool (`nvidia.com/gpu` = tp x pp), headless Service `" +
      opts.name +
      "-workers` |\n"
      "| `plan.json` | the plan (the same text as the ConfigMap) |\n\n"
      "Apply:\n\n"
      "```bash\n"
      "kubectl create namespace " +
      ns +
      "  # once\n"
      "kubectl apply -f k8s.yaml\n"
      "kubectl rollout status -n " +
      ns + " deployment/" + opts.name +
      "-frontend\n"
      "kubectl port-forward -n " +
      ns + " svc/" + opts.name + "-frontend " + std::to_string(kDynamoRunPort) + ":" +
      std::to_string(kDynamoRunPort) +
      "\n"
      "```\n\n"
      "The image `" +
      opts.image +
      "` must contain `dynamo-run` (build it from this repository, push it, and pass "
      "`--image`). Workers read an optional `HF_TOKEN` from the secret `" +
      std::string(kHfTokenSecret) +
      "`. The `dynamo-run frontend` / `dynamo-run worker` contract is in docs/config.md.\n";
  if (plan.planner.enabled) {
    readme +=
        "\nThe plan enables the SLA planner: it runs in the frontend and sets the worker "
        "Deployments' replicas (`PATCH .../deployments/" +
        opts.name + "-<role>-<pool>/scale`) through a `kubectl proxy` sidecar (image `" +
        std::string(kKubectlImage) + "`), as ServiceAccount `" + PlannerAccountName(opts) +
        "` (Role: get and patch on deployments and deployments/scale in " + ns +
        "). The GPU budget is `planner.max_gpus` of the plan. See docs/runtime.md, "
        "\"Planner\".\n";
  }
  return std::vector<GeneratedFile>{{"k8s.yaml", EmitYamlDocuments(objects), false},
                                    {"README.md", std::move(readme), false}};
}

}  // namespace dynamo::configurator
