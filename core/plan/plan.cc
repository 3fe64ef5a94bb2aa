#include "core/plan/plan.h"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "core/catalog.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/model/model_catalog.h"

namespace dynamo {
namespace {

constexpr double kMaxReplicas = 100000;
constexpr double kMaxParallel = 1024;      // tp, pp, ep
constexpr double kMaxNumSeqs = 1 << 20;    // per worker
constexpr double kMaxBatchedTokens = 1e8;  // per step
constexpr double kMaxNodes = 100000;       // as ClusterSpec::Validate
constexpr double kMaxGpusPerNode = 1024;   // as ClusterSpec::Validate
constexpr int kMaxBlockSize = 256;         // vLLM's largest block size
constexpr double kMaxPlannerGpus = 1e8;

struct Interconnect {
  std::string_view name;
  double bytes_per_s;  // per direction, per GPU (one NIC per GPU)
};
constexpr Interconnect kInterconnects[] = {
    {"ib_200g", 25e9},   {"ib_400g", 50e9},    {"ib_800g", 100e9},
    {"roce_400g", 50e9}, {"eth_100g", 12.5e9},
};

std::string Lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string Join(const std::vector<std::string>& items) {
  std::string out;
  for (const std::string& s : items) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// `rel` resolved against the plan file's directory, made absolute and normalized.
std::string AbsolutePath(const std::string& base_dir, const std::string& rel) {
  std::error_code ec;
  std::filesystem::path p = std::filesystem::absolute(ResolvePath(base_dir, rel), ec);
  if (ec) return ResolvePath(base_dir, rel);
  return p.lexically_normal().string();
}

// "source: $.path<sep>message", keeping the status code. `sep` is "." when the message starts
// with the name of a field under `path` ("tp: 3 does not divide ..."), ": " otherwise.
Status At(const std::string& source, const std::string& path, std::string_view sep,
          const Status& s) {
  return Status(s.code(), source + ": " + path + std::string(sep) + s.message());
}
Status At(const JsonNode& n, std::string_view sep, const Status& s) {
  return At(n.source(), n.path(), sep, s);
}

int64_t SystemGpus(const ClusterSpec& c) { return int64_t{c.nodes} * c.gpus_per_node; }

// "16 (2 nodes x 8)".
std::string DescribeSystem(const ClusterSpec& c) {
  return std::to_string(SystemGpus(c)) + " (" + std::to_string(c.nodes) +
         (c.nodes == 1 ? " node x " : " nodes x ") + std::to_string(c.gpus_per_node) + ")";
}

StatusOr<int> IntOr(const JsonNode& n, std::string_view key, int def, Bounds b) {
  ASSIGN_OR_RETURN(int64_t v, n.GetIntOr(key, def, b));
  return static_cast<int>(v);
}

StatusOr<DType> DTypeOr(const JsonNode& n, std::string_view key, DType def) {
  auto field = n.Find(key);
  if (!field) return def;
  ASSIGN_OR_RETURN(std::string name, field->AsString());
  auto d = ParseDType(name);
  if (!d.ok()) {
    return field->Error("\"" + name + "\" is not a dtype; use one of " +
                        std::string(DTypeChoices()));
  }
  return *d;
}

// A name for a model read from a config.json path: its directory's name ("Llama-3.1-8B" for
// ".../Llama-3.1-8B/config.json"), or the file's stem when the file has another name.
std::string ModelNameOfPath(const std::string& path) {
  std::filesystem::path p = std::filesystem::path(path).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/" -> "dir"
  if (p.filename() == "config.json" && p.has_parent_path() && !p.parent_path().filename().empty()) {
    return p.parent_path().filename().string();
  }
  if (std::filesystem::is_directory(p)) return p.filename().string();
  return p.stem().string();
}

Status ParseModel(const JsonNode& root, const std::string& base_dir, Plan& plan) {
  ASSIGN_OR_RETURN(JsonNode model, root.Get("model"));
  if (model.IsString()) {
    ASSIGN_OR_RETURN(std::string name, model.AsString());
    if (!IsBundledName(name, "models", "/config.json")) {
      return model.Error("unknown model \"" + name +
                         "\"; bundled models: " + Join(BundledModelNames()) +
                         "; for another model give {\"hf_config\": \"path/config.json\"}");
    }
    plan.model_ref = Lower(name);
    ASSIGN_OR_RETURN(plan.model, LoadModel(plan.model_ref));
    return Status::Ok();
  }
  if (!model.IsObject()) {
    return model.Error(
        "expected a bundled model name or {\"hf_config\": \"path/config.json\"}, got " +
        model.Render());
  }
  RETURN_IF_ERROR(model.CheckKnownKeys({"hf_config"}));
  ASSIGN_OR_RETURN(JsonNode hf, model.Get("hf_config"));
  ASSIGN_OR_RETURN(std::string rel, hf.AsString());
  if (rel.empty()) return hf.Error("empty path; give the path of a Hugging Face config.json");
  plan.model_ref = AbsolutePath(base_dir, rel);
  auto root_json = LoadCatalogJson(plan.model_ref, "models", "/config.json", "model");
  if (!root_json.ok()) {
    return At(hf, ": ",
              root_json.status().WithContext(
                  "cannot read \"" + rel + "\" (paths are relative to the plan file's directory)"));
  }
  auto spec = ModelSpec::FromConfig(*root_json, ModelNameOfPath(plan.model_ref));
  if (!spec.ok()) return At(hf, ": ", spec.status());
  plan.model = std::move(spec).value();
  return Status::Ok();
}

Status ParseGpu(const JsonNode& system, const std::string& base_dir, Plan& plan) {
  auto field = system.Find("gpu");
  if (!field) {
    ASSIGN_OR_RETURN(plan.gpu, LoadGpu(plan.system.gpu));
    return Status::Ok();
  }
  ASSIGN_OR_RETURN(std::string name, field->AsString());
  if (IsBundledName(name, "hardware", ".json")) {
    plan.system.gpu = Lower(name);
  } else if (IsExplicitPath(name)) {
    plan.system.gpu = AbsolutePath(base_dir, name);
  } else {
    return field->Error("unknown GPU \"" + name + "\"; bundled GPUs: " + Join(BundledGpuNames()) +
                        "; or give the path of a GPU catalog file (docs/formats.md)");
  }
  auto gpu = LoadGpu(plan.system.gpu);
  if (!gpu.ok()) return At(*field, ": ", gpu.status());
  plan.gpu = std::move(gpu).value();
  return Status::Ok();
}

Status ParseSystem(const JsonNode& root, const std::string& base_dir, Plan& plan) {
  const std::string path = root.path() + ".system";
  SystemSpec& sys = plan.system;
  if (auto system = root.Find("system")) {
    RETURN_IF_ERROR(system->CheckKnownKeys({"gpu", "gpus_per_node", "nodes", "interconnect"}));
    RETURN_IF_ERROR(ParseGpu(*system, base_dir, plan));
    ASSIGN_OR_RETURN(sys.gpus_per_node,
                     IntOr(*system, "gpus_per_node", 0, Bounds::Between(0, kMaxGpusPerNode)));
    ASSIGN_OR_RETURN(sys.nodes, IntOr(*system, "nodes", 1, Bounds::Between(1, kMaxNodes)));
    ASSIGN_OR_RETURN(sys.interconnect,
                     system->GetEnumOr("interconnect", sys.interconnect,
                                       {"ib_200g", "ib_400g", "ib_800g", "roce_400g", "eth_100g"}));
  } else {
    ASSIGN_OR_RETURN(plan.gpu, LoadGpu(sys.gpu));
  }
  auto cluster = ClusterSpec::ForGpu(plan.gpu, sys.nodes, sys.gpus_per_node);
  if (!cluster.ok()) return At(root.source(), path, ".", cluster.status());
  plan.cluster = std::move(cluster).value();
  ASSIGN_OR_RETURN(plan.cluster.nic_bandwidth, InterconnectBandwidth(sys.interconnect));
  sys.gpus_per_node = plan.cluster.gpus_per_node;
  return Status::Ok();
}

StatusOr<WorkerRole> ParseRole(const JsonNode& pool) {
  ASSIGN_OR_RETURN(std::string role, pool.GetEnumOr("role", "agg", {"agg", "prefill", "decode"}));
  if (role == "prefill") return WorkerRole::kPrefill;
  if (role == "decode") return WorkerRole::kDecode;
  return WorkerRole::kAggregated;
}

Status ParseBlockSize(const JsonNode& pool, WorkerPoolSpec& w) {
  ASSIGN_OR_RETURN(w.block_size, IntOr(pool, "block_size", w.block_size, Bounds::Any()));
  const int b = w.block_size;
  if (b < 1 || b > kMaxBlockSize || (b & (b - 1)) != 0) {
    return InvalidArgument(pool.Where() + ".block_size: " + std::to_string(b) +
                           " is not a power of two in [1, " + std::to_string(kMaxBlockSize) +
                           "]; use 1, 2, 4, 8, 16, 32, 64, 128 or 256 (vLLM's default is 16)");
  }
  return Status::Ok();
}

Status ParseUtilization(const JsonNode& pool, WorkerPoolSpec& w) {
  auto field = pool.Find("gpu_memory_utilization");
  if (!field) return Status::Ok();
  ASSIGN_OR_RETURN(w.gpu_memory_utilization, field->AsDouble());
  if (!(w.gpu_memory_utilization > 0 && w.gpu_memory_utilization <= 1)) {
    return field->Error(field->Render() +
                        " is out of range; must be in (0, 1], the fraction of the GPU's memory "
                        "the engine may use; vLLM's default is 0.9");
  }
  return Status::Ok();
}

// One element of "workers": its fields, parallelism and memory. Precondition: plan.model,
// plan.gpu, plan.cluster and the dtypes are parsed.
StatusOr<WorkerPoolSpec> ParsePool(const JsonNode& pool, const Plan& plan) {
  RETURN_IF_ERROR(pool.CheckKnownKeys(
      {"role", "replicas", "tp", "pp", "ep", "max_num_seqs", "max_num_batched_tokens", "block_size",
       "gpu_memory_utilization", "enable_prefix_caching", "enable_chunked_prefill"}));
  WorkerPoolSpec w;
  ASSIGN_OR_RETURN(w.role, ParseRole(pool));
  ASSIGN_OR_RETURN(w.replicas, IntOr(pool, "replicas", 1, Bounds::Between(1, kMaxReplicas)));
  const Bounds par = Bounds::Between(1, kMaxParallel);
  ASSIGN_OR_RETURN(w.parallelism.tp, IntOr(pool, "tp", 1, par));
  ASSIGN_OR_RETURN(w.parallelism.pp, IntOr(pool, "pp", 1, par));
  ASSIGN_OR_RETURN(w.parallelism.ep, IntOr(pool, "ep", 1, par));
  ASSIGN_OR_RETURN(w.max_num_seqs,
                   IntOr(pool, "max_num_seqs", w.max_num_seqs, Bounds::Between(1, kMaxNumSeqs)));
  ASSIGN_OR_RETURN(w.max_num_batched_tokens,
                   IntOr(pool, "max_num_batched_tokens", w.max_num_batched_tokens,
                         Bounds::Between(1, kMaxBatchedTokens)));
  RETURN_IF_ERROR(ParseBlockSize(pool, w));
  RETURN_IF_ERROR(ParseUtilization(pool, w));
  ASSIGN_OR_RETURN(w.enable_prefix_caching,
                   pool.GetBoolOr("enable_prefix_caching", w.enable_prefix_caching));
  ASSIGN_OR_RETURN(w.enable_chunked_prefill,
                   pool.GetBoolOr("enable_chunked_prefill", w.enable_chunked_prefill));

  if (Status s = plan.model.CheckParallelism(w.parallelism); !s.ok()) return At(pool, ".", s);

  if (w.parallelism.gpus() > SystemGpus(plan.cluster)) {
    return FailedPrecondition(
        pool.Where() + ": one worker needs " + std::to_string(w.parallelism.gpus()) + " GPUs (tp " +
        std::to_string(w.parallelism.tp) + " x pp " + std::to_string(w.parallelism.pp) +
        "); the system has " + DescribeSystem(plan.cluster) + "; add nodes or reduce tp or pp");
  }

  auto memory = perf::PlanMemory(plan.model, plan.gpu, PoolMemoryConfig(plan, w));
  if (!memory.ok()) return At(pool, ": ", memory.status());
  w.memory = *memory;
  return w;
}

// Either only aggregated pools, or at least one prefill and one decode pool and nothing else.
Status CheckRoles(const JsonNode& workers, const std::vector<WorkerPoolSpec>& pools) {
  int agg = 0, prefill = 0, decode = 0;
  for (const WorkerPoolSpec& w : pools) {
    agg += w.role == WorkerRole::kAggregated;
    prefill += w.role == WorkerRole::kPrefill;
    decode += w.role == WorkerRole::kDecode;
  }
  if (agg > 0 && prefill + decode > 0) {
    for (size_t i = 0; i < pools.size(); ++i) {
      if (pools[i].role != WorkerRole::kAggregated) continue;
      return FailedPrecondition(
          workers.At(i).Where() +
          ".role: \"agg\" is mixed with prefill/decode pools; a plan is either aggregated (only "
          "\"agg\" pools) or disaggregated (\"prefill\" and \"decode\" pools); change the roles "
          "or remove this pool");
    }
  }
  if (prefill > 0 && decode == 0) {
    return FailedPrecondition(workers.Where() +
                              ": prefill pools and no decode pool; prefill workers hand their KV "
                              "to decode workers; add a pool with \"role\": \"decode\", or make "
                              "the prefill pools \"agg\"");
  }
  if (decode > 0 && prefill == 0) {
    return FailedPrecondition(workers.Where() +
                              ": decode pools and no prefill pool; decode workers receive their "
                              "KV from prefill workers; add a pool with \"role\": \"prefill\", "
                              "or make the decode pools \"agg\"");
  }
  return Status::Ok();
}

Status CheckGpuBudget(const JsonNode& workers, const Plan& plan) {
  int64_t need = 0;
  for (const WorkerPoolSpec& w : plan.workers) {
    need += static_cast<int64_t>(w.replicas) * w.parallelism.gpus();
  }
  if (need <= SystemGpus(plan.cluster)) return Status::Ok();
  return FailedPrecondition(workers.Where() + ": the plan needs " + std::to_string(need) +
                            " GPUs; the system has " + DescribeSystem(plan.cluster) +
                            "; add nodes or reduce replicas");
}

Status ParseWorkers(const JsonNode& root, Plan& plan) {
  ASSIGN_OR_RETURN(JsonNode workers, root.Get("workers"));
  ASSIGN_OR_RETURN(std::vector<JsonNode> pools, workers.Elements());
  if (pools.empty()) {
    return workers.Error("no worker pools; add at least one, e.g. {\"role\": \"agg\", \"tp\": 1}");
  }
  for (const JsonNode& pool : pools) {
    ASSIGN_OR_RETURN(WorkerPoolSpec w, ParsePool(pool, plan));
    plan.workers.push_back(std::move(w));
  }
  RETURN_IF_ERROR(CheckRoles(workers, plan.workers));
  return CheckGpuBudget(workers, plan);
}

Status ParseRouter(const JsonNode& root, RouterSpec& r) {
  auto router = root.Find("router");
  if (!router) return Status::Ok();
  RETURN_IF_ERROR(
      router->CheckKnownKeys({"policy", "overlap_weight", "temperature", "queue_threshold",
                              "assume_kv_reuse", "decay_by_progress"}));
  ASSIGN_OR_RETURN(r.policy, router->GetEnumOr("policy", r.policy,
                                               {"round_robin", "least_loaded", "random", "kv"}));
  ASSIGN_OR_RETURN(r.overlap_weight,
                   router->GetDoubleOr("overlap_weight", r.overlap_weight, Bounds::NonNegative()));
  ASSIGN_OR_RETURN(r.temperature,
                   router->GetDoubleOr("temperature", r.temperature, Bounds::NonNegative()));
  ASSIGN_OR_RETURN(r.queue_threshold, router->GetDoubleOr("queue_threshold", r.queue_threshold,
                                                          Bounds::NonNegative()));
  ASSIGN_OR_RETURN(r.assume_kv_reuse, router->GetBoolOr("assume_kv_reuse", r.assume_kv_reuse));
  ASSIGN_OR_RETURN(r.decay_by_progress,
                   router->GetBoolOr("decay_by_progress", r.decay_by_progress));
  return Status::Ok();
}

Status ParseDisagg(const JsonNode& root, DisaggSpec& d) {
  auto disagg = root.Find("disagg");
  if (!disagg) return Status::Ok();
  RETURN_IF_ERROR(
      disagg->CheckKnownKeys({"conditional", "max_local_prefill_tokens", "layerwise_streaming"}));
  ASSIGN_OR_RETURN(d.conditional, disagg->GetBoolOr("conditional", d.conditional));
  ASSIGN_OR_RETURN(d.max_local_prefill_tokens,
                   IntOr(*disagg, "max_local_prefill_tokens", d.max_local_prefill_tokens,
                         Bounds::Between(0, kMaxBatchedTokens)));
  ASSIGN_OR_RETURN(d.layerwise_streaming,
                   disagg->GetBoolOr("layerwise_streaming", d.layerwise_streaming));
  return Status::Ok();
}

Status ParsePlanner(const JsonNode& root, PlannerSpec& p) {
  auto planner = root.Find("planner");
  if (!planner) return Status::Ok();
  RETURN_IF_ERROR(planner->CheckKnownKeys(
      {"enabled", "ttft_ms", "itl_ms", "percentile", "interval_s", "predictor", "kalman", "log1p",
       "moving_average_window", "max_gpus", "min_replicas", "startup_s", "scale_down_margin",
       "headroom_sigma", "correction"}));
  ASSIGN_OR_RETURN(p.enabled, planner->GetBoolOr("enabled", p.enabled));
  ASSIGN_OR_RETURN(p.ttft_ms, planner->GetDoubleOr("ttft_ms", p.ttft_ms, Bounds::Positive()));
  ASSIGN_OR_RETURN(p.itl_ms, planner->GetDoubleOr("itl_ms", p.itl_ms, Bounds::Positive()));
  ASSIGN_OR_RETURN(p.percentile, planner->GetDoubleOr("percentile", p.percentile,
                                                      Bounds::Between(50.0001, 99.9999)));
  ASSIGN_OR_RETURN(p.interval_s,
                   planner->GetDoubleOr("interval_s", p.interval_s, Bounds::Between(0.1, 86400)));
  ASSIGN_OR_RETURN(p.predictor, planner->GetEnumOr("predictor", p.predictor,
                                                   {"kalman", "constant", "moving_average"}));
  if (auto kalman = planner->Find("kalman")) {
    RETURN_IF_ERROR(kalman->CheckKnownKeys({"q_level", "q_trend", "r", "p0"}));
    ASSIGN_OR_RETURN(p.kalman_q_level,
                     kalman->GetDoubleOr("q_level", p.kalman_q_level, Bounds::NonNegative()));
    ASSIGN_OR_RETURN(p.kalman_q_trend,
                     kalman->GetDoubleOr("q_trend", p.kalman_q_trend, Bounds::NonNegative()));
    ASSIGN_OR_RETURN(p.kalman_r, kalman->GetDoubleOr("r", p.kalman_r, Bounds::Positive()));
    ASSIGN_OR_RETURN(p.kalman_p0, kalman->GetDoubleOr("p0", p.kalman_p0, Bounds::Positive()));
  }
  ASSIGN_OR_RETURN(p.log1p, planner->GetBoolOr("log1p", p.log1p));
  ASSIGN_OR_RETURN(
      p.moving_average_window,
      IntOr(*planner, "moving_average_window", p.moving_average_window, Bounds::Between(1, 10000)));
  ASSIGN_OR_RETURN(p.max_gpus,
                   IntOr(*planner, "max_gpus", p.max_gpus, Bounds::Between(0, kMaxPlannerGpus)));
  ASSIGN_OR_RETURN(p.min_replicas,
                   IntOr(*planner, "min_replicas", p.min_replicas, Bounds::Between(1, 100000)));
  ASSIGN_OR_RETURN(p.startup_s,
                   planner->GetDoubleOr("startup_s", p.startup_s, Bounds::Between(0, 86400)));
  ASSIGN_OR_RETURN(
      p.scale_down_margin,
      planner->GetDoubleOr("scale_down_margin", p.scale_down_margin, Bounds::Between(0.01, 1)));
  ASSIGN_OR_RETURN(p.headroom_sigma, planner->GetDoubleOr("headroom_sigma", p.headroom_sigma,
                                                          Bounds::Between(0, 10)));
  ASSIGN_OR_RETURN(p.correction, planner->GetBoolOr("correction", p.correction));
  return Status::Ok();
}

// With the planner on, its GPU budget must hold the minimum of every pool and the plan's own
// starting replicas, and fit the system.
Status CheckPlannerBudget(const JsonNode& root, Plan& plan) {
  PlannerSpec& p = plan.planner;
  if (!p.enabled) return Status::Ok();
  auto planner = root.Find("planner");
  auto max_node = planner->Find("max_gpus");
  // "$.planner.max_gpus: ..." when the field is given, "$.planner: max_gpus ..." otherwise.
  auto error = [&](const std::string& what) {
    return max_node ? max_node->Error(what)
                    : planner->Error("max_gpus (unset: the system's GPUs): " + what);
  };
  int per_role[3] = {0, 0, 0};
  for (const WorkerPoolSpec& w : plan.workers) ++per_role[static_cast<int>(w.role)];
  if (per_role[0] > 1 || per_role[1] > 1 || per_role[2] > 1) {
    return planner->Error(
        "enabled: the planner scales one pool per role (one agg pool, or one prefill and one "
        "decode pool) but $.workers has several pools of one role; merge them or disable the "
        "planner");
  }
  const int system_gpus = plan.cluster.nodes * plan.cluster.gpus_per_node;
  if (p.max_gpus > system_gpus) {
    return error(std::to_string(p.max_gpus) + " exceeds the system's " +
                 std::to_string(system_gpus) + " GPUs (" + std::to_string(plan.system.nodes) +
                 " node(s) x " + std::to_string(plan.system.gpus_per_node) +
                 "); lower it or add nodes in $.system.nodes");
  }
  const int budget = p.max_gpus > 0 ? p.max_gpus : system_gpus;
  int minimum = 0;
  std::string parts;
  for (const WorkerPoolSpec& w : plan.workers) {
    minimum += p.min_replicas * w.parallelism.gpus();
    parts += (parts.empty() ? "" : " and ") + std::to_string(p.min_replicas) + " " +
             std::string(WorkerRoleName(w.role)) + " worker(s) of " +
             std::to_string(w.parallelism.gpus()) + " GPU(s)";
  }
  if (budget < minimum) {
    return error("a budget of " + std::to_string(budget) + " GPU(s) cannot hold " + parts +
                 "; use max_gpus >= " + std::to_string(minimum) + " or smaller workers");
  }
  if (plan.total_gpus() > budget) {
    return error("the plan starts with " + std::to_string(plan.total_gpus()) +
                 " GPUs, more than the budget of " + std::to_string(budget) +
                 "; raise max_gpus or start with fewer replicas");
  }
  return Status::Ok();
}

// `base_dir` resolves relative paths in the plan ("" = the working directory).
StatusOr<Plan> ParsePlanIn(const JsonNode& root, const std::string& base_dir) {
  RETURN_IF_ERROR(root.CheckKnownKeys({"description", "model", "system", "dtype", "kv_dtype",
                                       "workers", "router", "disagg", "planner"}));
  Plan plan;
  plan.source = root.source();
  ASSIGN_OR_RETURN(plan.description, root.GetStringOr("description", ""));
  RETURN_IF_ERROR(ParseModel(root, base_dir, plan));
  RETURN_IF_ERROR(ParseSystem(root, base_dir, plan));
  ASSIGN_OR_RETURN(plan.weight_dtype, DTypeOr(root, "dtype", plan.weight_dtype));
  ASSIGN_OR_RETURN(plan.kv_dtype, DTypeOr(root, "kv_dtype", plan.kv_dtype));
  RETURN_IF_ERROR(ParseWorkers(root, plan));
  RETURN_IF_ERROR(ParseRouter(root, plan.router));
  RETURN_IF_ERROR(ParseDisagg(root, plan.disagg));
  RETURN_IF_ERROR(ParsePlanner(root, plan.planner));
  RETURN_IF_ERROR(CheckPlannerBudget(root, plan));
  return plan;
}

}  // namespace

perf::MemoryConfig PoolMemoryConfig(const Plan& plan, const WorkerPoolSpec& w) {
  perf::MemoryConfig mem;
  mem.parallelism = w.parallelism;
  mem.weight_dtype = plan.weight_dtype;
  mem.kv_dtype = plan.kv_dtype;
  mem.gpu_memory_utilization = w.gpu_memory_utilization;
  mem.block_size = w.block_size;
  mem.max_num_batched_tokens = w.max_num_batched_tokens;
  mem.max_num_seqs = w.max_num_seqs;
  return mem;
}

std::string_view WorkerRoleName(WorkerRole r) {
  switch (r) {
    case WorkerRole::kAggregated:
      return "agg";
    case WorkerRole::kPrefill:
      return "prefill";
    case WorkerRole::kDecode:
      return "decode";
  }
  return "?";
}

bool Plan::disaggregated() const {
  bool prefill = false, decode = false;
  for (const WorkerPoolSpec& w : workers) {
    prefill |= w.role == WorkerRole::kPrefill;
    decode |= w.role == WorkerRole::kDecode;
  }
  return prefill && decode;
}

int Plan::total_gpus() const {
  int64_t n = 0;
  for (const WorkerPoolSpec& w : workers) {
    n += static_cast<int64_t>(w.replicas) * w.parallelism.gpus();
  }
  return static_cast<int>(n);
}

StatusOr<double> InterconnectBandwidth(std::string_view name) {
  std::string names;
  for (const Interconnect& i : kInterconnects) {
    if (i.name == name) return i.bytes_per_s;
    names += (names.empty() ? "" : ", ") + std::string(i.name);
  }
  return InvalidArgument("unknown interconnect \"" + std::string(name) + "\"; use one of " + names);
}

StatusOr<Plan> ParsePlan(const JsonNode& root) { return ParsePlanIn(root, DirName(root.source())); }

StatusOr<Plan> LoadPlan(const std::string& ref) {
  ASSIGN_OR_RETURN(JsonNode root, LoadCatalogJson(ref, "plans", ".json", "plan"));
  // Relative paths inside a bundled plan resolve against the working directory.
  return ParsePlanIn(root, IsBundledName(ref, "plans", ".json") ? "" : DirName(ref));
}

std::vector<std::string> BundledPlanNames() { return CatalogNames("plans", ".json"); }

std::string PlanToJson(const Plan& plan) {
  using Json = nlohmann::ordered_json;
  Json j = Json::object();
  if (!plan.description.empty()) j["description"] = plan.description;
  const std::string& model = plan.model_ref.empty() ? plan.model.name() : plan.model_ref;
  if (IsBundledName(model, "models", "/config.json")) {
    j["model"] = model;
  } else {
    j["model"] = Json{{"hf_config", model}};
  }
  j["system"] = Json{{"gpu", plan.system.gpu},
                     {"gpus_per_node", plan.system.gpus_per_node},
                     {"nodes", plan.system.nodes},
                     {"interconnect", plan.system.interconnect}};
  j["dtype"] = std::string(DTypeName(plan.weight_dtype));
  j["kv_dtype"] = std::string(DTypeName(plan.kv_dtype));
  Json workers = Json::array();
  for (const WorkerPoolSpec& w : plan.workers) {
    workers.push_back(Json{{"role", std::string(WorkerRoleName(w.role))},
                           {"replicas", w.replicas},
                           {"tp", w.parallelism.tp},
                           {"pp", w.parallelism.pp},
                           {"ep", w.parallelism.ep},
                           {"max_num_seqs", w.max_num_seqs},
                           {"max_num_batched_tokens", w.max_num_batched_tokens},
                           {"block_size", w.block_size},
                           {"gpu_memory_utilization", w.gpu_memory_utilization},
                           {"enable_prefix_caching", w.enable_prefix_caching},
                           {"enable_chunked_prefill", w.enable_chunked_prefill}});
  }
  j["workers"] = std::move(workers);
  j["router"] = Json{{"policy", plan.router.policy},
                     {"overlap_weight", plan.router.overlap_weight},
                     {"temperature", plan.router.temperature},
                     {"queue_threshold", plan.router.queue_threshold},
                     {"assume_kv_reuse", plan.router.assume_kv_reuse},
                     {"decay_by_progress", plan.router.decay_by_progress}};
  j["disagg"] = Json{{"conditional", plan.disagg.conditional},
                     {"max_local_prefill_tokens", plan.disagg.max_local_prefill_tokens},
                     {"layerwise_streaming", plan.disagg.layerwise_streaming}};
  const PlannerSpec& p = plan.planner;
  j["planner"] = Json{{"enabled", p.enabled},
                      {"ttft_ms", p.ttft_ms},
                      {"itl_ms", p.itl_ms},
                      {"percentile", p.percentile},
                      {"interval_s", p.interval_s},
                      {"predictor", p.predictor},
                      {"kalman", Json{{"q_level", p.kalman_q_level},
                                      {"q_trend", p.kalman_q_trend},
                                      {"r", p.kalman_r},
                                      {"p0", p.kalman_p0}}},
                      {"log1p", p.log1p},
                      {"moving_average_window", p.moving_average_window},
                      {"max_gpus", p.max_gpus},
                      {"min_replicas", p.min_replicas},
                      {"startup_s", p.startup_s},
                      {"scale_down_margin", p.scale_down_margin},
                      {"headroom_sigma", p.headroom_sigma},
                      {"correction", p.correction}};
  return j.dump(2) + "\n";
}

}  // namespace dynamo
