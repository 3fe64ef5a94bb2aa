#include "configurator/dgd_emitter.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>

#include "configurator/model_ids.h"
#include "core/check.h"
#include "core/version.h"

namespace dynamo::configurator {
namespace {

constexpr int kFrontendPort = 8000;

std::string Number(double v) { return YamlDouble(v); }

// "Vllm", "Sglang", "Trtllm": the prefix of worker service names (Dynamo's examples name them
// VllmPrefillWorker, VllmDecodeWorker, ...).
std::string ServicePrefix(Backend b) {
  switch (b) {
    case Backend::kVllm:
      return "Vllm";
    case Backend::kSglang:
      return "Sglang";
    case Backend::kTrtllm:
      return "Trtllm";
  }
  return "Engine";
}

std::string RoleServiceSuffix(WorkerRole r) {
  switch (r) {
    case WorkerRole::kAggregated:
      return "Worker";
    case WorkerRole::kPrefill:
      return "PrefillWorker";
    case WorkerRole::kDecode:
      return "DecodeWorker";
  }
  return "Worker";
}

// Service name of pool i; pools sharing a role get their pool index appended.
std::string WorkerServiceName(const Plan& plan, size_t i, Backend b) {
  const WorkerRole role = plan.workers[i].role;
  const auto same_role = std::count_if(plan.workers.begin(), plan.workers.end(),
                                       [&](const WorkerPoolSpec& w) { return w.role == role; });
  std::string name = ServicePrefix(b) + RoleServiceSuffix(role);
  if (same_role > 1) name += std::to_string(i);
  return name;
}

struct RouterMapping {
  std::vector<std::string> args;
  std::string comment;
};

// plan.router -> dynamo.frontend flags, with a comment saying what maps to what.
RouterMapping MapRouter(const Plan& plan) {
  const RouterSpec& r = plan.router;
  RouterMapping m;
  if (r.policy == "round_robin") {
    m.args = {"--router-mode", "round-robin"};
    m.comment = "Router: plan router.policy round_robin -> --router-mode round-robin.";
  } else if (r.policy == "random") {
    m.args = {"--router-mode", "random"};
    m.comment = "Router: plan router.policy random -> --router-mode random.";
  } else if (r.policy == "least_loaded") {
    m.args = {"--router-mode", "least-loaded"};
    m.comment =
        "Router: plan router.policy least_loaded -> --router-mode least-loaded, Dynamo's\n"
        "load-balancing mode: the worker with the fewest requests in flight. On a Dynamo\n"
        "release without that mode use --router-mode kv --kv-overlap-score-weight 0 (balances\n"
        "active KV blocks instead of requests).";
  } else {
    DYNAMO_CHECK(r.policy == "kv");
    m.args = {"--router-mode", "kv"};
    std::string c = "Router: plan router.policy kv -> --router-mode kv";
    if (r.overlap_weight != 1.0) {
      m.args.insert(m.args.end(), {"--kv-overlap-score-weight", Number(r.overlap_weight)});
      c += ", overlap_weight -> --kv-overlap-score-weight";
    }
    if (r.temperature != 0.0) {
      m.args.insert(m.args.end(), {"--router-temperature", Number(r.temperature)});
      c += ", temperature -> --router-temperature";
    }
    if (r.queue_threshold > 0.0) {
      m.args.insert(m.args.end(), {"--router-queue-threshold", Number(r.queue_threshold)});
      c += ", queue_threshold -> --router-queue-threshold";
    }
    c += ".";
    if (r.queue_threshold <= 0.0) {
      c += "\nqueue_threshold 0 (off) sets no flag: Dynamo's own queue default applies.";
    }
    if (!r.assume_kv_reuse) {
      c += "\nrouter.assume_kv_reuse false is not mapped (Dynamo assumes reuse by default).";
    }
    if (r.decay_by_progress) {
      c += "\nrouter.decay_by_progress is not mapped (the nearest Dynamo feature,\n"
           "--router-track-output-blocks, is experimental and counts blocks differently).";
    }
    m.comment = c;
  }
  if (plan.disaggregated() && plan.disagg.conditional) {
    m.comment +=
        "\ndisagg.conditional is not mapped: Dynamo's --router-conditional-disagg (kv mode,\n"
        "experimental, newer releases) decides by its own policy, not max_local_prefill_tokens.";
  }
  return m;
}

std::string PlannerPredictor(const std::string& p) { return p == "kalman" ? "kalman" : "constant"; }

int SystemGpus(const Plan& plan) { return plan.cluster.nodes * plan.cluster.gpus_per_node; }

const WorkerPoolSpec* PoolOfRole(const Plan& plan, WorkerRole role) {
  for (const WorkerPoolSpec& w : plan.workers) {
    if (w.role == role) return &w;
  }
  return nullptr;
}

// The planner's --config: Dynamo's PlannerConfig fields (components/src/dynamo/planner/config).
// Disaggregated plans use Dynamo's throughput-based SLA scaling every interval_s; aggregated
// ones its load-based scaling (the only kind Dynamo's aggregated planner runs).
std::string PlannerConfigJson(const Plan& plan, Backend backend) {
  const PlannerSpec& p = plan.planner;
  const int interval_s = std::max(1, static_cast<int>(std::lround(p.interval_s)));
  nlohmann::ordered_json j;
  j["environment"] = "kubernetes";
  j["backend"] = std::string(BackendName(backend));
  j["mode"] = plan.disaggregated() ? "disagg" : "agg";
  j["optimization_target"] = "sla";
  j["ttft"] = p.ttft_ms;
  j["itl"] = p.itl_ms;
  if (plan.disaggregated()) {
    j["enable_throughput_scaling"] = true;
    j["enable_load_scaling"] = false;
    j["throughput_adjustment_interval"] = interval_s;
  } else {
    j["enable_throughput_scaling"] = false;
    j["enable_load_scaling"] = true;
    j["load_adjustment_interval"] = interval_s;
    j["load_scaling_down_sensitivity"] = static_cast<int>(std::lround(100 * p.scale_down_margin));
  }
  j["load_predictor"] = PlannerPredictor(p.predictor);
  j["load_predictor_log1p"] = p.log1p;
  if (p.predictor == "kalman") {
    j["kalman_q_level"] = p.kalman_q_level;
    j["kalman_q_trend"] = p.kalman_q_trend;
    j["kalman_r"] = p.kalman_r;
  }
  j["max_gpu_budget"] = p.max_gpus > 0 ? p.max_gpus : SystemGpus(plan);
  j["min_endpoint"] = p.min_replicas;
  if (const WorkerPoolSpec* w = PoolOfRole(plan, WorkerRole::kPrefill)) {
    j["prefill_engine_num_gpu"] = w->parallelism.gpus();
  }
  if (const WorkerPoolSpec* w = PoolOfRole(plan, WorkerRole::kDecode)) {
    j["decode_engine_num_gpu"] = w->parallelism.gpus();
  }
  if (const WorkerPoolSpec* w = PoolOfRole(plan, WorkerRole::kAggregated)) {
    j["decode_engine_num_gpu"] = w->parallelism.gpus();
  }
  return j.dump();
}

std::string PlannerComment(const Plan& plan) {
  const PlannerSpec& p = plan.planner;
  std::string c =
      "SLA planner (plan.planner): ttft_ms -> ttft, itl_ms -> itl, interval_s ->\n" +
      std::string(plan.disaggregated() ? "throughput_adjustment_interval"
                                       : "load_adjustment_interval") +
      ", predictor -> load_predictor, max_gpus (0: the system's GPUs) -> max_gpu_budget,\n"
      "min_replicas -> min_endpoint. It scales the worker services by subComponentType.";
  if (p.predictor == "moving_average") {
    c += "\npredictor moving_average has no Dynamo counterpart (constant, arima, kalman,\n"
         "prophet); constant is used.";
  }
  if (std::abs(p.interval_s - std::lround(p.interval_s)) > 1e-9 || p.interval_s < 1) {
    c += "\ninterval_s " + Number(p.interval_s) + " is rounded to whole seconds (at least 1).";
  }
  c += "\nNot mapped (no Dynamo counterpart): percentile " + Number(p.percentile) +
       " (Dynamo sizes for averages), kalman.p0, startup_s, headroom_sigma, correction" +
       std::string(plan.disaggregated() ? ", scale_down_margin." : ".") +
       "\nThroughput scaling needs Dynamo's pre-deployment profile of the engines\n"
       "(pre_deployment_sweeping_mode, default rapid).";
  return c;
}

YamlNode MainContainer(const std::string& image, std::vector<std::string> command,
                       std::vector<std::string> args) {
  YamlNode c = YamlNode::Map();
  c.Set("image", YamlNode::Str(image));
  c.Set("command", YamlNode::StrSeq(command));
  c.Set("args", YamlNode::StrSeq(args));
  return c;
}

YamlNode ExtraPodSpec(YamlNode main_container) {
  YamlNode s = YamlNode::Map();
  s.Set("mainContainer", std::move(main_container));
  return s;
}

YamlNode FrontendService(const Plan& plan, const DeployOptions& opts) {
  RouterMapping router = MapRouter(plan);
  std::vector<std::string> args = {"--http-port", std::to_string(kFrontendPort)};
  args.insert(args.end(), router.args.begin(), router.args.end());
  YamlNode s = YamlNode::Map();
  s.WithComment("OpenAI-compatible HTTP frontend and router.\n" + router.comment);
  s.Set("componentType", YamlNode::Str("frontend"));
  s.Set("replicas", YamlNode::Int(1));
  s.Set("extraPodSpec", ExtraPodSpec(MainContainer(opts.image, {"python3", "-m", "dynamo.frontend"},
                                                   std::move(args))));
  return s;
}

std::string PoolComment(const Plan& plan, size_t i, const WorkerPlacement& place) {
  const WorkerPoolSpec& w = plan.workers[i];
  std::string c = "Pool " + std::to_string(i) + " (" + std::string(WorkerRoleName(w.role)) +
                  "): " + std::to_string(w.replicas) + " worker(s) of tp " +
                  std::to_string(w.parallelism.tp) + " x pp " + std::to_string(w.parallelism.pp) +
                  (w.parallelism.ep > 1 ? " (ep " + std::to_string(w.parallelism.ep) + ")" : "") +
                  " = " + std::to_string(w.parallelism.gpus()) + " GPU(s) each";
  if (place.nodes > 1) {
    c += ", over " + std::to_string(place.nodes) + " nodes of " +
         std::to_string(place.gpus_per_node) + " GPUs (multinode; limits.gpu is per node)";
  }
  c += ".";
  if (w.memory.kv_blocks > 0) {
    c += "\nKV cache per worker (the plan's memory model): " + std::to_string(w.memory.kv_blocks) +
         " blocks of " + std::to_string(w.memory.block_size) + " tokens.";
  }
  return c;
}

YamlNode WorkerService(const Plan& plan, size_t i, const DeployOptions& opts,
                       const std::string& model_id) {
  const WorkerPoolSpec& w = plan.workers[i];
  const Backend backend = *opts.backend;
  const WorkerPlacement place = PlaceWorker(w, plan.cluster.gpus_per_node);
  YamlNode s = YamlNode::Map();
  s.WithComment(PoolComment(plan, i, place));
  s.Set("envFromSecret", YamlNode::Str(std::string(kHfTokenSecret)));
  s.Set("componentType", YamlNode::Str("worker"));
  if (w.role == WorkerRole::kPrefill) {
    s.Set("subComponentType", YamlNode::Str("prefill"));
  } else if (w.role == WorkerRole::kDecode) {
    s.Set("subComponentType", YamlNode::Str("decode"));
  } else if (plan.planner.enabled) {
    s.Set("subComponentType", YamlNode::Str("decode"))
        .WithComment("Dynamo's aggregated planner scales the worker service it finds as decode.");
  }
  s.Set("replicas", YamlNode::Int(w.replicas));
  if (place.nodes > 1) {
    YamlNode multinode = YamlNode::Map();
    multinode.Set("nodeCount", YamlNode::Int(place.nodes));
    s.Set("multinode", std::move(multinode));
  }
  YamlNode limits = YamlNode::Map();
  limits.Set("gpu", YamlNode::Str(std::to_string(place.gpus_per_node)));
  YamlNode resources = YamlNode::Map();
  resources.Set("limits", std::move(limits));
  s.Set("resources", std::move(resources));
  s.Set("extraPodSpec", ExtraPodSpec(MainContainer(
                            opts.image, {"python3", "-m", std::string(BackendModule(backend))},
                            EngineFlags(plan, w, backend, model_id))));
  return s;
}

YamlNode PlannerService(const Plan& plan, const DeployOptions& opts) {
  YamlNode s = YamlNode::Map();
  s.WithComment(PlannerComment(plan));
  s.Set("componentType", YamlNode::Str("planner"));
  s.Set("replicas", YamlNode::Int(1));
  s.Set("extraPodSpec",
        ExtraPodSpec(MainContainer(opts.image, {"python3", "-m", "dynamo.planner"},
                                   {"--config", PlannerConfigJson(plan, *opts.backend)})));
  return s;
}

std::string HeaderComment(const Plan& plan, const DeployOptions& opts,
                          const std::string& model_id) {
  std::string c = "DynamoGraphDeployment generated by dynamo-config " +
                  std::string(kDynamoVersion) + " from plan " + opts.plan_ref + ".";
  if (!plan.description.empty()) c += "\nPlan: " + plan.description;
  c += "\nModel " + plan.model.name() + " served as " + model_id + " with " +
       std::string(BackendName(*opts.backend)) + "; " + std::to_string(plan.total_gpus()) +
       " GPU(s) of " + plan.gpu.name + " at the start.";
  c += "\nImage " + opts.image + ": change it with dynamo-config --image.";
  c += "\nNeeds the Dynamo operator and a secret " + std::string(kHfTokenSecret) +
       " holding HF_TOKEN in namespace " + opts.k8s_namespace + ".";
  c += "\nApply: kubectl apply -n " + opts.k8s_namespace + " -f dynamo-graph-deployment.yaml";
  return c;
}

}  // namespace

WorkerPlacement PlaceWorker(const WorkerPoolSpec& pool, int gpus_per_node) {
  const int gpus = pool.parallelism.gpus();
  if (gpus_per_node <= 0 || gpus <= gpus_per_node) return {1, gpus};
  int nodes = (gpus + gpus_per_node - 1) / gpus_per_node;
  while (gpus % nodes != 0) ++nodes;  // ends at nodes == gpus at the latest
  return {nodes, gpus / nodes};
}

StatusOr<YamlNode> BuildDynamoGraphDeployment(const Plan& plan, const DeployOptions& opts) {
  DYNAMO_CHECK(opts.backend.has_value());
  ASSIGN_OR_RETURN(std::string model_id, ResolveModelId(plan, opts.model_id));
  YamlNode doc = YamlNode::Map();
  doc.WithComment(HeaderComment(plan, opts, model_id));
  doc.Set("apiVersion", YamlNode::Str("nvidia.com/v1alpha1"));
  doc.Set("kind", YamlNode::Str("DynamoGraphDeployment"));
  YamlNode metadata = YamlNode::Map();
  metadata.Set("name", YamlNode::Str(opts.name));
  metadata.Set("namespace", YamlNode::Str(opts.k8s_namespace));
  YamlNode labels = YamlNode::Map();
  labels.Set("app.kubernetes.io/name", YamlNode::Str(opts.name));
  labels.Set("app.kubernetes.io/managed-by", YamlNode::Str("dynamo-config"));
  metadata.Set("labels", std::move(labels));
  doc.Set("metadata", std::move(metadata));

  YamlNode spec = YamlNode::Map();
  spec.Set("backendFramework", YamlNode::Str(std::string(BackendName(*opts.backend))));
  YamlNode services = YamlNode::Map();
  services.Set("Frontend", FrontendService(plan, opts));
  for (size_t i = 0; i < plan.workers.size(); ++i) {
    services.Set(WorkerServiceName(plan, i, *opts.backend), WorkerService(plan, i, opts, model_id));
  }
  if (plan.planner.enabled) services.Set("Planner", PlannerService(plan, opts));
  spec.Set("services", std::move(services));
  doc.Set("spec", std::move(spec));
  return doc;
}

StatusOr<std::vector<GeneratedFile>> EmitDynamoTarget(const Plan& plan, const DeployOptions& opts) {
  ASSIGN_OR_RETURN(YamlNode doc, BuildDynamoGraphDeployment(plan, opts));
  const std::string& ns = opts.k8s_namespace;
  std::string readme =
      "# " + opts.name +
      ": Dynamo deployment\n\n"
      "Generated by `dynamo-config --target dynamo --backend " +
      std::string(BackendName(*opts.backend)) + "` " + std::string(kDynamoVersion) +
      " from plan `" + opts.plan_ref +
      "`.\n\n"
      "| file | what |\n"
      "| --- | --- |\n"
      "| `dynamo-graph-deployment.yaml` | a `DynamoGraphDeployment` (nvidia.com/v1alpha1): "
      "Frontend, the worker pools" +
      std::string(plan.planner.enabled ? ", the SLA Planner" : "") +
      " |\n"
      "| `plan.json` | the plan it was generated from |\n\n"
      "Apply (needs NVIDIA Dynamo's operator in the cluster):\n\n"
      "```bash\n"
      "kubectl create namespace " +
      ns +
      "  # once\n"
      "kubectl create secret generic " +
      std::string(kHfTokenSecret) + " -n " + ns +
      " --from-literal=HF_TOKEN=\"$HF_TOKEN\"  # once\n"
      "kubectl apply -n " +
      ns +
      " -f dynamo-graph-deployment.yaml\n"
      "kubectl get dynamographdeployment " +
      opts.name + " -n " + ns +
      "\n"
      "kubectl port-forward -n " +
      ns + " svc/" + opts.name +
      "-frontend 8000:8000\n"
      "```\n\n"
      "The image `" +
      opts.image +
      "` is a placeholder tag: pass `--image` to use the release your operator runs. "
      "Engine flags per backend: docs/config.md.\n";
  return std::vector<GeneratedFile>{{"dynamo-graph-deployment.yaml", EmitYaml(doc), false},
                                    {"README.md", std::move(readme), false}};
}

}  // namespace dynamo::configurator
