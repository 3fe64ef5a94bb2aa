#pragma once
// Plan: what to deploy (plan.json, docs/formats.md "plan.json"). The hand-off between
// `dynamo-sim sweep` (writes it), `dynamo-sim run` (simulates it), `dynamo-config` (emits
// manifests for it) and `dynamo-run` (executes it).
//
// LoadPlan checks everything a plan can get wrong before anything runs, and names the JSON path,
// the bad value and the fix: an unknown model or GPU, a parallelism the model cannot split into
// ("$.workers[0].tp: 3 does not divide 32 attention heads; use 1, 2, 4, 8, 16, 32"), weights that
// do not fit ("$.workers[1]: ... use tp >= 4 or fp8 weights"), more GPUs than the system has
// (in all, or for one worker), roles that do not make a deployment (prefill without decode, agg
// mixed with prefill/decode), unknown keys (typos). Which GPUs a worker gets is decided when the
// plan runs (ClusterTopology::Place), not here.
#include <cstdint>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/hardware/gpu_spec.h"
#include "core/model/model_spec.h"
#include "core/perf/memory_model.h"
#include "core/status.h"
#include "core/topology/cluster_topology.h"

namespace dynamo {

class JsonNode;

// What a worker does with a request. Aggregated: prompt and generation. Prefill: the prompt and
// the first token, then its KV moves to a decode worker. Decode: receives the KV, generates the
// rest (and may prefill short prompts itself under conditional disaggregation).
enum class WorkerRole : uint8_t { kAggregated, kPrefill, kDecode };
std::string_view WorkerRoleName(WorkerRole r);  // "agg", "prefill", "decode"

// One pool of identical workers.
struct WorkerPoolSpec {
  WorkerRole role = WorkerRole::kAggregated;
  int replicas = 1;
  Parallelism parallelism;  // tp, pp, ep
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int block_size = 16;
  double gpu_memory_utilization = 0.9;
  bool enable_prefix_caching = true;
  bool enable_chunked_prefill = true;
  // Filled by LoadPlan: the memory plan of one worker of this pool (KV capacity in blocks).
  perf::MemoryPlan memory;
};

// Router section (docs/formats.md "router"); every field has a default.
struct RouterSpec {
  std::string policy = "round_robin";  // round_robin | least_loaded | random | kv
  double overlap_weight = 1.0;         // kv: weight of blocks still to prefill (>= 0)
  double temperature = 0.0;            // kv: 0 = lowest cost; > 0 softmax sampling
  double queue_threshold = 0.0;        // kv: > 0 requests wait in the router while every worker's
                                       // active prefill tokens exceed this x max_num_batched_tokens
  bool assume_kv_reuse = true;         // kv: prompt blocks shared by active requests count once
  bool decay_by_progress = false;      // kv: a request's private blocks fade as it generates
};

// Disaggregation section (only meaningful with prefill + decode pools).
struct DisaggSpec {
  // Conditional disaggregation: the decode worker prefills locally when the prompt tokens it
  // does not hold cached are fewer than `max_local_prefill_tokens`. Off by default.
  bool conditional = false;
  int max_local_prefill_tokens = 512;
  // Layer-wise streaming: KV of each prefill chunk starts moving when the chunk's step starts,
  // overlapping transfer with compute (SGLang/Mooncake style). Off: the transfer starts once
  // the prefill is done (vLLM NIXL style).
  bool layerwise_streaming = false;
};

// Planner section (docs/formats.md "planner"): the SLA planner scales the pools while the plan
// runs. The plan's replicas are the starting point.
struct PlannerSpec {
  bool enabled = false;
  double ttft_ms = 500;
  double itl_ms = 30;
  double percentile = 90;            // the targets hold at this percentile (50 < p < 100)
  double interval_s = 60;            // one planner decision per interval
  std::string predictor = "kalman";  // kalman | constant | moving_average
  // Kalman filter on [level, trend] (Dynamo's defaults).
  double kalman_q_level = 1.0, kalman_q_trend = 0.1, kalman_r = 10.0, kalman_p0 = 1000.0;
  bool log1p = false;              // predict in log1p space
  int moving_average_window = 5;   // moving_average: intervals averaged
  int max_gpus = 0;                // GPU budget; 0: the system's GPUs
  int min_replicas = 1;            // per pool
  double startup_s = 60;           // a new worker serves this long after the decision (model load)
  double scale_down_margin = 0.8;  // scale down only when every worker is within margin x target
  double headroom_sigma = 0;       // provision for forecast + sigma x forecast std dev
  bool correction = true;          // correct targets by observed / expected latency
};

struct SystemSpec {
  std::string gpu = "h200_sxm";  // a bundled name (lower case) or an absolute catalog file path
  int gpus_per_node = 0;         // 0: the GPU's usual node size (LoadPlan writes it out)
  int nodes = 1;
  std::string interconnect = "ib_400g";  // network between nodes, per GPU (one NIC per GPU)
};

struct Plan {
  std::string source;       // file name or bundled name, for messages
  std::string description;  // free text ("description"), kept by PlanToJson
  // A bundled model name (lower case), or the config.json path of "model": {"hf_config": ...}
  // made absolute (resolved against the plan file's directory), so that PlanToJson's output
  // loads from any directory.
  std::string model_ref;
  ModelSpec model;
  SystemSpec system;
  GpuSpec gpu;
  ClusterSpec cluster;  // from system + interconnect
  DType weight_dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  std::vector<WorkerPoolSpec> workers;
  RouterSpec router;
  DisaggSpec disagg;
  PlannerSpec planner;

  bool disaggregated() const;  // has prefill and decode pools
  int total_gpus() const;      // sum of replicas x tp x pp
};

// The memory model's inputs for one worker of `pool` under the plan's dtypes.
perf::MemoryConfig PoolMemoryConfig(const Plan& plan, const WorkerPoolSpec& pool);

// A bundled plan name (data/plans/NAME.json) or a path to a plan.json.
StatusOr<Plan> LoadPlan(const std::string& ref);
// From a parsed document (paths in errors are relative to `root`).
StatusOr<Plan> ParsePlan(const JsonNode& root);
// A canonical plan.json (2-space indented, fields in a fixed order, defaults written out) that
// LoadPlan reads back to an equal plan.
std::string PlanToJson(const Plan& plan);
std::vector<std::string> BundledPlanNames();

// Interconnect names accepted in system.interconnect, with their per-GPU bandwidth (bytes/s per
// direction): ib_200g, ib_400g, ib_800g, roce_400g, eth_100g.
StatusOr<double> InterconnectBandwidth(std::string_view name);

}  // namespace dynamo
