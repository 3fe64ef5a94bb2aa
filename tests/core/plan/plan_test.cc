#include "core/plan/plan.h"

#include <gtest/gtest.h>

#include <gmock/gmock.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/embedded_data.h"
#include "core/file_io.h"
#include "core/json.h"
#include "core/rng.h"
#include "tests/core/test_util.h"

namespace dynamo {
namespace {

StatusOr<Plan> Parse(const std::string& json) {
  ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(json, "plan.json"));
  return ParsePlan(root);
}

Plan MustParse(const std::string& json) {
  auto plan = Parse(json);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

// The error message of a plan that must fail.
std::string ErrorOf(const std::string& json) {
  auto plan = Parse(json);
  EXPECT_FALSE(plan.ok()) << "expected an error for " << json;
  return plan.ok() ? "" : plan.status().message();
}

// A plan around one worker object (llama-3.1-8b on one H200 node unless overridden).
std::string OneWorker(const std::string& worker, const std::string& model = "\"llama-3.1-8b\"",
                      const std::string& system = R"({"gpu": "h200_sxm"})") {
  return R"({"model": )" + model + R"(, "system": )" + system + R"(, "workers": [)" + worker + "]}";
}

using ::testing::HasSubstr;

void ExpectSamePlan(const Plan& a, const Plan& b) {
  EXPECT_EQ(a.description, b.description);
  EXPECT_EQ(a.model_ref, b.model_ref);
  EXPECT_EQ(a.model.name(), b.model.name());
  EXPECT_EQ(a.model.num_layers(), b.model.num_layers());
  EXPECT_EQ(a.system.gpu, b.system.gpu);
  EXPECT_EQ(a.system.gpus_per_node, b.system.gpus_per_node);
  EXPECT_EQ(a.system.nodes, b.system.nodes);
  EXPECT_EQ(a.system.interconnect, b.system.interconnect);
  EXPECT_EQ(a.gpu.name, b.gpu.name);
  EXPECT_EQ(a.cluster.nodes, b.cluster.nodes);
  EXPECT_EQ(a.cluster.gpus_per_node, b.cluster.gpus_per_node);
  EXPECT_EQ(a.cluster.nvlink_domain_size, b.cluster.nvlink_domain_size);
  EXPECT_EQ(a.cluster.nvlink_bandwidth, b.cluster.nvlink_bandwidth);
  EXPECT_EQ(a.cluster.nic_bandwidth, b.cluster.nic_bandwidth);
  EXPECT_EQ(a.weight_dtype, b.weight_dtype);
  EXPECT_EQ(a.kv_dtype, b.kv_dtype);
  ASSERT_EQ(a.workers.size(), b.workers.size());
  for (size_t i = 0; i < a.workers.size(); ++i) {
    const WorkerPoolSpec &x = a.workers[i], &y = b.workers[i];
    EXPECT_EQ(x.role, y.role);
    EXPECT_EQ(x.replicas, y.replicas);
    EXPECT_EQ(x.parallelism.tp, y.parallelism.tp);
    EXPECT_EQ(x.parallelism.pp, y.parallelism.pp);
    EXPECT_EQ(x.parallelism.ep, y.parallelism.ep);
    EXPECT_EQ(x.max_num_seqs, y.max_num_seqs);
    EXPECT_EQ(x.max_num_batched_tokens, y.max_num_batched_tokens);
    EXPECT_EQ(x.block_size, y.block_size);
    EXPECT_EQ(x.gpu_memory_utilization, y.gpu_memory_utilization);
    EXPECT_EQ(x.enable_prefix_caching, y.enable_prefix_caching);
    EXPECT_EQ(x.enable_chunked_prefill, y.enable_chunked_prefill);
    EXPECT_EQ(x.memory.kv_blocks, y.memory.kv_blocks);
    EXPECT_EQ(x.memory.weight_bytes, y.memory.weight_bytes);
  }
  EXPECT_EQ(a.router.policy, b.router.policy);
  EXPECT_EQ(a.router.overlap_weight, b.router.overlap_weight);
  EXPECT_EQ(a.router.temperature, b.router.temperature);
  EXPECT_EQ(a.router.queue_threshold, b.router.queue_threshold);
  EXPECT_EQ(a.router.assume_kv_reuse, b.router.assume_kv_reuse);
  EXPECT_EQ(a.router.decay_by_progress, b.router.decay_by_progress);
  EXPECT_EQ(a.disagg.conditional, b.disagg.conditional);
  EXPECT_EQ(a.disagg.max_local_prefill_tokens, b.disagg.max_local_prefill_tokens);
  EXPECT_EQ(a.disagg.layerwise_streaming, b.disagg.layerwise_streaming);
  EXPECT_EQ(a.planner.enabled, b.planner.enabled);
  EXPECT_EQ(a.planner.ttft_ms, b.planner.ttft_ms);
  EXPECT_EQ(a.planner.itl_ms, b.planner.itl_ms);
  EXPECT_EQ(a.planner.interval_s, b.planner.interval_s);
  EXPECT_EQ(a.planner.predictor, b.planner.predictor);
  EXPECT_EQ(a.planner.max_gpus, b.planner.max_gpus);
  EXPECT_EQ(a.planner.percentile, b.planner.percentile);
  EXPECT_EQ(a.planner.kalman_q_level, b.planner.kalman_q_level);
  EXPECT_EQ(a.planner.kalman_q_trend, b.planner.kalman_q_trend);
  EXPECT_EQ(a.planner.kalman_r, b.planner.kalman_r);
  EXPECT_EQ(a.planner.kalman_p0, b.planner.kalman_p0);
  EXPECT_EQ(a.planner.log1p, b.planner.log1p);
  EXPECT_EQ(a.planner.moving_average_window, b.planner.moving_average_window);
  EXPECT_EQ(a.planner.min_replicas, b.planner.min_replicas);
  EXPECT_EQ(a.planner.startup_s, b.planner.startup_s);
  EXPECT_EQ(a.planner.scale_down_margin, b.planner.scale_down_margin);
  EXPECT_EQ(a.planner.headroom_sigma, b.planner.headroom_sigma);
  EXPECT_EQ(a.planner.correction, b.planner.correction);
}

void ExpectRoundTrip(const Plan& plan) {
  const std::string json = PlanToJson(plan);
  auto again = Parse(json);
  ASSERT_TRUE(again.ok()) << again.status().message() << "\n" << json;
  ExpectSamePlan(plan, *again);
  EXPECT_EQ(PlanToJson(*again), json);
}

TEST(PlanTest, EveryBundledPlanLoads) {
  const std::vector<std::string> names = BundledPlanNames();
  for (const char* expected :
       {"llama8b_agg", "llama70b_agg", "llama70b_disagg", "llama70b_disagg_2node"}) {
    EXPECT_NE(std::find(names.begin(), names.end(), expected), names.end()) << expected;
  }
  for (const std::string& name : names) {
    auto plan = LoadPlan(name);
    ASSERT_TRUE(plan.ok()) << name << ": " << plan.status().message();
    EXPECT_FALSE(plan->description.empty()) << name;
    EXPECT_LE(plan->total_gpus(), plan->cluster.nodes * plan->cluster.gpus_per_node) << name;
    for (const WorkerPoolSpec& w : plan->workers) EXPECT_GT(w.memory.kv_blocks, 0) << name;
  }
}

TEST(PlanTest, BundledPlansSayWhatTheirNamesSay) {
  const Plan agg8 = LoadPlan("llama8b_agg").value();
  EXPECT_EQ(agg8.model.name(), "llama-3.1-8b");
  EXPECT_EQ(agg8.gpu.name, "h200_sxm");
  ASSERT_EQ(agg8.workers.size(), 1u);
  EXPECT_EQ(agg8.workers[0].replicas, 8);
  EXPECT_EQ(agg8.workers[0].parallelism.tp, 1);
  EXPECT_EQ(agg8.router.policy, "round_robin");
  EXPECT_FALSE(agg8.disaggregated());
  EXPECT_EQ(agg8.total_gpus(), 8);

  const Plan agg70 = LoadPlan("llama70b_agg").value();
  EXPECT_EQ(agg70.workers[0].replicas, 2);
  EXPECT_EQ(agg70.workers[0].parallelism.tp, 4);

  const Plan dis = LoadPlan("llama70b_disagg").value();
  EXPECT_TRUE(dis.disaggregated());
  ASSERT_EQ(dis.workers.size(), 2u);
  EXPECT_EQ(dis.workers[0].role, WorkerRole::kPrefill);
  EXPECT_EQ(dis.workers[0].parallelism.tp, 2);
  EXPECT_EQ(dis.workers[1].role, WorkerRole::kDecode);
  EXPECT_EQ(dis.workers[1].parallelism.tp, 4);
  EXPECT_EQ(dis.total_gpus(), 8);

  const Plan two = LoadPlan("llama70b_disagg_2node").value();
  EXPECT_EQ(two.cluster.nodes, 2);
  EXPECT_EQ(two.total_gpus(), 16);
  EXPECT_EQ(two.cluster.nic_bandwidth, 50e9);
  EXPECT_EQ(two.workers[0].replicas, 4);
  EXPECT_EQ(two.workers[1].replicas, 2);
}

TEST(PlanTest, DefaultsFillEveryOptionalField) {
  const Plan p = MustParse(R"({"model": "llama-3.1-8b", "workers": [{}]})");
  EXPECT_EQ(p.source, "plan.json");
  EXPECT_EQ(p.model_ref, "llama-3.1-8b");
  EXPECT_EQ(p.system.gpu, "h200_sxm");
  EXPECT_EQ(p.system.gpus_per_node, 8);  // the GPU's usual node size, written out
  EXPECT_EQ(p.system.nodes, 1);
  EXPECT_EQ(p.system.interconnect, "ib_400g");
  EXPECT_EQ(p.cluster.nic_bandwidth, 50e9);
  EXPECT_EQ(p.weight_dtype, DType::kBf16);
  EXPECT_EQ(p.kv_dtype, DType::kBf16);
  ASSERT_EQ(p.workers.size(), 1u);
  const WorkerPoolSpec& w = p.workers[0];
  EXPECT_EQ(w.role, WorkerRole::kAggregated);
  EXPECT_EQ(w.replicas, 1);
  EXPECT_EQ(w.parallelism.tp, 1);
  EXPECT_EQ(w.parallelism.pp, 1);
  EXPECT_EQ(w.parallelism.ep, 1);
  EXPECT_EQ(w.max_num_seqs, 256);
  EXPECT_EQ(w.max_num_batched_tokens, 8192);
  EXPECT_EQ(w.block_size, 16);
  EXPECT_EQ(w.gpu_memory_utilization, 0.9);
  EXPECT_TRUE(w.enable_prefix_caching);
  EXPECT_TRUE(w.enable_chunked_prefill);
  EXPECT_GT(w.memory.kv_blocks, 0);
  EXPECT_EQ(w.memory.block_size, 16);
  EXPECT_EQ(p.router.policy, "round_robin");
  EXPECT_EQ(p.router.overlap_weight, 1.0);
  EXPECT_EQ(p.router.temperature, 0.0);
  EXPECT_FALSE(p.disagg.conditional);
  EXPECT_EQ(p.disagg.max_local_prefill_tokens, 512);
  EXPECT_FALSE(p.disagg.layerwise_streaming);
  EXPECT_FALSE(p.planner.enabled);
  EXPECT_EQ(p.planner.ttft_ms, 500);
  EXPECT_EQ(p.planner.itl_ms, 30);
  EXPECT_EQ(p.planner.interval_s, 60);
  EXPECT_EQ(p.planner.predictor, "kalman");
  EXPECT_EQ(p.planner.max_gpus, 0);
}

TEST(PlanTest, EveryFieldIsRead) {
  const Plan p = MustParse(R"({
    "description": "all fields",
    "model": "Mixtral-8x7B",
    "system": {"gpu": "H100_SXM", "gpus_per_node": 8, "nodes": 2, "interconnect": "ib_800g"},
    "dtype": "fp8", "kv_dtype": "fp8",
    "workers": [
      {"role": "prefill", "replicas": 2, "tp": 4, "pp": 1, "ep": 2, "max_num_seqs": 16,
       "max_num_batched_tokens": 4096, "block_size": 32, "gpu_memory_utilization": 0.85,
       "enable_prefix_caching": false, "enable_chunked_prefill": false},
      {"role": "decode", "replicas": 1, "tp": 2, "pp": 2, "ep": 1}],
    "router": {"policy": "kv", "overlap_weight": 0.5, "temperature": 0.2, "queue_threshold": 2,
               "assume_kv_reuse": false, "decay_by_progress": true},
    "disagg": {"conditional": true, "max_local_prefill_tokens": 256, "layerwise_streaming": true},
    "planner": {"enabled": true, "ttft_ms": 250, "itl_ms": 20, "percentile": 95,
                "interval_s": 30, "predictor": "moving_average",
                "kalman": {"q_level": 2, "q_trend": 0.5, "r": 4, "p0": 100}, "log1p": true,
                "moving_average_window": 7, "max_gpus": 16, "min_replicas": 1,
                "startup_s": 90, "scale_down_margin": 0.7, "headroom_sigma": 1.5,
                "correction": false}})");
  EXPECT_EQ(p.description, "all fields");
  EXPECT_EQ(p.model_ref, "mixtral-8x7b");  // bundled names are case-insensitive, kept lower case
  EXPECT_EQ(p.system.gpu, "h100_sxm");
  EXPECT_EQ(p.cluster.nodes, 2);
  EXPECT_EQ(p.cluster.nic_bandwidth, 100e9);
  EXPECT_EQ(p.weight_dtype, DType::kFp8);
  EXPECT_EQ(p.kv_dtype, DType::kFp8);
  ASSERT_EQ(p.workers.size(), 2u);
  EXPECT_EQ(p.workers[0].parallelism.ep, 2);
  EXPECT_EQ(p.workers[0].block_size, 32);
  EXPECT_EQ(p.workers[0].memory.block_size, 32);
  EXPECT_FALSE(p.workers[0].enable_prefix_caching);
  EXPECT_FALSE(p.workers[0].enable_chunked_prefill);
  EXPECT_EQ(p.workers[1].parallelism.pp, 2);
  EXPECT_TRUE(p.disaggregated());
  EXPECT_EQ(p.total_gpus(), 12);
  EXPECT_EQ(p.router.policy, "kv");
  EXPECT_TRUE(p.disagg.conditional);
  EXPECT_EQ(p.disagg.max_local_prefill_tokens, 256);
  EXPECT_EQ(p.planner.predictor, "moving_average");
  EXPECT_EQ(p.planner.max_gpus, 16);
  EXPECT_EQ(p.router.queue_threshold, 2);
  EXPECT_FALSE(p.router.assume_kv_reuse);
  EXPECT_TRUE(p.router.decay_by_progress);
  EXPECT_EQ(p.planner.percentile, 95);
  EXPECT_EQ(p.planner.kalman_r, 4);
  EXPECT_TRUE(p.planner.log1p);
  EXPECT_EQ(p.planner.moving_average_window, 7);
  EXPECT_EQ(p.planner.startup_s, 90);
  EXPECT_EQ(p.planner.headroom_sigma, 1.5);
  EXPECT_FALSE(p.planner.correction);
  ExpectRoundTrip(p);
}

TEST(PlanTest, PlannerBudgetMustHoldOneWorkerOfEveryPool) {
  auto err = [](const std::string& json) { return Parse(json).status().message(); };
  const std::string disagg = R"({"model": "llama-3.1-70b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "prefill", "tp": 4}, {"role": "decode", "tp": 4}],
    "planner": {"enabled": true, "max_gpus": 6}})";
  EXPECT_EQ(err(disagg),
            "plan.json: $.planner.max_gpus: a budget of 6 GPU(s) cannot hold 1 prefill worker(s) "
            "of 4 GPU(s) and 1 decode worker(s) of 4 GPU(s); use max_gpus >= 8 or smaller "
            "workers");
  EXPECT_THAT(err(R"({"model": "llama-3.1-8b", "workers": [{"replicas": 4}],
                      "planner": {"enabled": true, "max_gpus": 2}})"),
              HasSubstr("$.planner.max_gpus: the plan starts with 4 GPUs, more than the budget"));
  EXPECT_THAT(err(R"({"model": "llama-3.1-8b", "workers": [{}],
                      "planner": {"enabled": true, "max_gpus": 9}})"),
              HasSubstr("$.planner.max_gpus: 9 exceeds the system's 8 GPUs"));
  EXPECT_THAT(err(R"({"model": "llama-3.1-8b", "workers": [{}, {}],
                      "planner": {"enabled": true}})"),
              HasSubstr("$.planner: enabled: the planner scales one pool per role"));
  // The same plans are fine with the planner off.
  EXPECT_TRUE(Parse(R"({"model": "llama-3.1-8b", "workers": [{}, {}],
                        "planner": {"max_gpus": 1}})")
                  .ok());
  EXPECT_THAT(err(R"({"model": "llama-3.1-8b", "workers": [{}],
                      "planner": {"enabled": true, "percentile": 100}})"),
              HasSubstr("$.planner.percentile"));
  EXPECT_THAT(err(R"({"model": "llama-3.1-8b", "workers": [{}],
                      "router": {"policy": "kv", "temperature": -1}})"),
              HasSubstr("$.router.temperature"));
}

TEST(PlanTest, RoundTripOfEveryBundledPlan) {
  for (const std::string& name : BundledPlanNames()) {
    SCOPED_TRACE(name);
    ExpectRoundTrip(LoadPlan(name).value());
  }
}

TEST(PlanTest, PlanToJsonWritesEveryFieldInAFixedOrder) {
  const std::string json = PlanToJson(MustParse(R"({"model": "llama-3.1-8b", "workers": [{}]})"));
  EXPECT_EQ(json.find("\"model\": \"llama-3.1-8b\""), json.find("\"model\""));
  size_t last = 0;
  for (const char* key : {"\"model\"", "\"system\"", "\"gpus_per_node\": 8", "\"dtype\": \"bf16\"",
                          "\"kv_dtype\"", "\"workers\"", "\"role\": \"agg\"", "\"replicas\": 1",
                          "\"gpu_memory_utilization\": 0.9", "\"enable_chunked_prefill\": true",
                          "\"router\"", "\"disagg\"", "\"planner\"", "\"max_gpus\": 0"}) {
    const size_t at = json.find(key);
    ASSERT_NE(at, std::string::npos) << key << "\n" << json;
    EXPECT_GT(at, last) << key << "\n" << json;
    last = at;
  }
  EXPECT_EQ(json.find("description"), std::string::npos);  // only when set
}

TEST(PlanTest, HfConfigResolvesAgainstThePlanFilesDirectory) {
  const std::string dir = testing::TempDir();
  std::filesystem::create_directories(dir + "/models/my-llama");
  std::filesystem::create_directories(dir + "/plans");
  const std::string config =
      ReadFile(testing::SourceDir() + "/data/models/llama-3.1-8b/config.json").value();
  ASSERT_TRUE(WriteFileAtomic(dir + "/models/my-llama/config.json", config).ok());
  const std::string plan_path = dir + "/plans/plan.json";
  ASSERT_TRUE(
      WriteFileAtomic(plan_path, R"({"model": {"hf_config": "../models/my-llama/config.json"},
      "workers": [{"tp": 2}]})")
          .ok());
  auto plan = LoadPlan(plan_path);
  ASSERT_TRUE(plan.ok()) << plan.status().message();
  EXPECT_EQ(plan->model.name(), "my-llama");
  EXPECT_EQ(plan->model.num_layers(), 32);
  EXPECT_EQ(plan->source, plan_path);
  // Stored absolute, so PlanToJson's output loads from anywhere.
  EXPECT_EQ(
      plan->model_ref,
      std::filesystem::absolute(dir + "/models/my-llama/config.json").lexically_normal().string());
  EXPECT_NE(PlanToJson(*plan).find("\"hf_config\": \"" + plan->model_ref + "\""),
            std::string::npos);
  ExpectRoundTrip(*plan);

  // A directory holding config.json works too.
  ASSERT_TRUE(WriteFileAtomic(dir + "/plans/dir.json",
                              R"({"model": {"hf_config": "../models/my-llama/"}, "workers": [{}]})")
                  .ok());
  auto by_dir = LoadPlan(dir + "/plans/dir.json");
  ASSERT_TRUE(by_dir.ok()) << by_dir.status().message();
  EXPECT_EQ(by_dir->model.name(), "my-llama");

  // Resolved against the plan's directory, not the working directory.
  ASSERT_TRUE(WriteFileAtomic(dir + "/plans/missing.json",
                              R"({"model": {"hf_config": "models/my-llama/config.json"},
      "workers": [{}]})")
                  .ok());
  auto missing = LoadPlan(dir + "/plans/missing.json");
  ASSERT_FALSE(missing.ok());
  const std::string& msg = missing.status().message();
  EXPECT_THAT(msg, HasSubstr("$.model.hf_config: cannot read \"models/my-llama/config.json\""));
  EXPECT_THAT(msg, HasSubstr("relative to the plan file's directory"));
  EXPECT_THAT(msg, HasSubstr(dir + "/plans/models/my-llama/config.json"));
}

TEST(PlanTest, LoadPlanNamesTheBundledPlansForAnUnknownName) {
  auto plan = LoadPlan("llama8b_agx");
  ASSERT_FALSE(plan.ok());
  EXPECT_THAT(plan.status().message(), HasSubstr("unknown plan 'llama8b_agx'"));
  EXPECT_THAT(plan.status().message(), HasSubstr("llama70b_disagg_2node"));
}

TEST(PlanTest, UnknownKeysAreRejectedAtEveryLevel) {
  std::string msg = ErrorOf(R"({"model": "llama-3.1-8b", "worker": [{}]})");
  EXPECT_THAT(
      msg, HasSubstr("plan.json: $: unknown field 'worker'; allowed fields: description, model"));
  msg = ErrorOf(OneWorker("{}", "\"llama-3.1-8b\"", R"({"gpus": "h200_sxm"})"));
  EXPECT_THAT(msg, HasSubstr("$.system: unknown field 'gpus'"));
  msg = ErrorOf(OneWorker(R"({"max_num_seq": 8})"));
  EXPECT_THAT(msg, HasSubstr("$.workers[0]: unknown field 'max_num_seq'"));
  EXPECT_THAT(msg, HasSubstr("max_num_seqs"));
  msg = ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "router": {"polcy": "kv"}})");
  EXPECT_THAT(msg, HasSubstr("$.router: unknown field 'polcy'"));
  msg = ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "disagg": {"conditionl": true}})");
  EXPECT_THAT(msg, HasSubstr("$.disagg: unknown field 'conditionl'"));
  msg = ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "planner": {"ttft": 5}})");
  EXPECT_THAT(msg, HasSubstr("$.planner: unknown field 'ttft'"));
  msg = ErrorOf(R"({"model": {"hf_config": "x/config.json", "name": "x"}, "workers": [{}]})");
  EXPECT_THAT(msg, HasSubstr("$.model: unknown field 'name'"));
}

TEST(PlanTest, ModelAndWorkersAreRequired) {
  EXPECT_THAT(ErrorOf(R"({"workers": [{}]})"), HasSubstr("$: missing required field 'model'"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b"})"),
              HasSubstr("$: missing required field 'workers'"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b", "workers": []})"),
              HasSubstr("$.workers: no worker pools; add at least one"));
  EXPECT_THAT(ErrorOf(R"({"model": 8, "workers": [{}]})"),
              HasSubstr("$.model: expected a bundled model name or {\"hf_config\""));
}

TEST(PlanTest, UnknownModelListsTheBundledModels) {
  const std::string msg = ErrorOf(OneWorker("{}", "\"llama-3.1-9b\""));
  EXPECT_THAT(msg,
              HasSubstr("plan.json: $.model: unknown model \"llama-3.1-9b\"; bundled models: "));
  EXPECT_THAT(msg, HasSubstr("llama-3.1-70b, llama-3.1-8b"));
  EXPECT_THAT(msg, HasSubstr("give {\"hf_config\": \"path/config.json\"}"));
}

TEST(PlanTest, UnknownGpuListsTheBundledGpus) {
  const std::string msg = ErrorOf(OneWorker("{}", "\"llama-3.1-8b\"", R"({"gpu": "h300"})"));
  EXPECT_THAT(msg, HasSubstr("plan.json: $.system.gpu: unknown GPU \"h300\"; bundled GPUs: "));
  EXPECT_THAT(msg, HasSubstr("h200_sxm"));
  EXPECT_THAT(msg, HasSubstr("l40s"));
  EXPECT_THAT(msg, HasSubstr("or give the path of a GPU catalog file"));
}

TEST(PlanTest, TpMustDivideTheAttentionHeads) {
  auto plan = Parse(OneWorker(R"({"tp": 3})"));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(plan.status().message(),
            "plan.json: $.workers[0].tp: 3 does not divide 32 attention heads of llama-3.1-8b; "
            "use one of 1, 2, 4, 8, 16, 32");
}

TEST(PlanTest, EpMustDivideTp) {
  const std::string msg =
      ErrorOf(OneWorker(R"({"tp": 2}, {"tp": 4, "ep": 8})", "\"mixtral-8x7b\""));
  EXPECT_EQ(msg,
            "plan.json: $.workers[1].ep: 8 must divide tp 4 (experts are spread over the "
            "tensor-parallel group)");
  EXPECT_THAT(
      ErrorOf(OneWorker(R"({"ep": 2})")),
      HasSubstr(
          "$.workers[0].ep: 2 needs a mixture-of-experts model; llama-3.1-8b is dense, use ep 1"));
}

TEST(PlanTest, WeightsThatDoNotFitNameThePoolAndTheFix) {
  auto plan = Parse(OneWorker(R"({"tp": 1})", "\"llama-3.1-70b\"", R"({"gpu": "l40s"})"));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().code(), StatusCode::kFailedPrecondition);
  const std::string& msg = plan.status().message();
  EXPECT_THAT(
      msg,
      HasSubstr("plan.json: $.workers[0]: llama-3.1-70b does not fit on l40s with tp 1, pp 1"));
  EXPECT_THAT(msg, HasSubstr("use tp >= "));
  EXPECT_THAT(msg, HasSubstr("or fp8 weights"));
  // fp8 weights at tp 4 fit.
  EXPECT_TRUE(Parse(R"({"model": "llama-3.1-70b", "system": {"gpu": "l40s"}, "dtype": "fp8",
      "workers": [{"tp": 4}]})")
                  .ok());
}

TEST(PlanTest, MoreGpusThanTheSystemHas) {
  auto plan = Parse(OneWorker(R"({"role": "agg", "replicas": 6, "tp": 4})", "\"llama-3.1-8b\"",
                              R"({"gpu": "h200_sxm", "nodes": 2})"));
  ASSERT_FALSE(plan.ok());
  EXPECT_EQ(plan.status().message(),
            "plan.json: $.workers: the plan needs 24 GPUs; the system has 16 (2 nodes x 8); add "
            "nodes or reduce replicas");
  // One worker wider than the whole system.
  EXPECT_EQ(ErrorOf(OneWorker(R"({"tp": 8, "pp": 2})")),
            "plan.json: $.workers[0]: one worker needs 16 GPUs (tp 8 x pp 2); the system has 8 "
            "(1 node x 8); add nodes or reduce tp or pp");
  // Exactly full is fine.
  EXPECT_TRUE(Parse(OneWorker(R"({"replicas": 8})")).ok());
}

TEST(PlanTest, RolesMakeADeployment) {
  EXPECT_THAT(
      ErrorOf(OneWorker(R"({"role": "prefill", "replicas": 2})")),
      HasSubstr(
          "plan.json: $.workers: prefill pools and no decode pool; prefill workers hand their "
          "KV to decode workers; add a pool with \"role\": \"decode\", or make the prefill "
          "pools \"agg\""));
  EXPECT_THAT(ErrorOf(OneWorker(R"({"role": "decode"})")),
              HasSubstr("$.workers: decode pools and no prefill pool"));
  EXPECT_THAT(
      ErrorOf(OneWorker(R"({"role": "prefill"}, {"role": "agg"}, {"role": "decode"})")),
      HasSubstr(
          "plan.json: $.workers[1].role: \"agg\" is mixed with prefill/decode pools; a plan is "
          "either aggregated (only \"agg\" pools) or disaggregated"));
  EXPECT_THAT(ErrorOf(OneWorker(R"({"role": "agg"}, {"role": "prefill"})")),
              HasSubstr("$.workers[0].role: \"agg\" is mixed"));
  const Plan ok = MustParse(OneWorker(R"({"role": "prefill"}, {"role": "decode", "tp": 2})"));
  EXPECT_TRUE(ok.disaggregated());
  EXPECT_FALSE(
      MustParse(OneWorker(R"({"role": "agg"}, {"role": "agg", "tp": 2})")).disaggregated());
}

TEST(PlanTest, BadEnumsListTheAllowedValues) {
  EXPECT_THAT(ErrorOf(OneWorker(R"({"role": "aggregated"})")),
              HasSubstr("$.workers[0].role: \"aggregated\" is not one of: agg, prefill, decode"));
  EXPECT_THAT(
      ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "router": {"policy": "kv2"}})"),
      HasSubstr("$.router.policy: \"kv2\" is not one of: round_robin, least_loaded, random, kv"));
  EXPECT_THAT(
      ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "planner": {"predictor": "arima"}})"),
      HasSubstr("$.planner.predictor: \"arima\" is not one of: kalman, constant, moving_average"));
  EXPECT_THAT(
      ErrorOf(OneWorker("{}", "\"llama-3.1-8b\"", R"({"interconnect": "ib_100g"})")),
      HasSubstr("$.system.interconnect: \"ib_100g\" is not one of: ib_200g, ib_400g, ib_800g, "
                "roce_400g, eth_100g"));
  EXPECT_THAT(
      ErrorOf(R"({"model": "llama-3.1-8b", "dtype": "int4", "workers": [{}]})"),
      HasSubstr(
          "plan.json: $.dtype: \"int4\" is not a dtype; use one of fp32, bf16, fp16, fp8, fp4"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b", "kv_dtype": "int8", "workers": [{}]})"),
              HasSubstr("$.kv_dtype: \"int8\" is not a dtype"));
}

TEST(PlanTest, BlockSizeMustBeAPowerOfTwo) {
  for (const char* bad : {"24", "0", "512", "-16"}) {
    const std::string msg = ErrorOf(OneWorker(std::string(R"({"block_size": )") + bad + "}"));
    EXPECT_THAT(msg,
                HasSubstr(std::string("plan.json: $.workers[0].block_size: ") + bad +
                          " is not a power of two in [1, 256]; use 1, 2, 4, 8, 16, 32, 64, 128 or "
                          "256 (vLLM's default is 16)"));
  }
  EXPECT_TRUE(Parse(OneWorker(R"({"block_size": 1})")).ok());
  EXPECT_TRUE(Parse(OneWorker(R"({"block_size": 256})")).ok());
}

TEST(PlanTest, GpuMemoryUtilizationIsAFractionAboveZero) {
  for (const char* bad : {"0", "1.5", "-0.1"}) {
    const std::string msg =
        ErrorOf(OneWorker(std::string(R"({"gpu_memory_utilization": )") + bad + "}"));
    EXPECT_THAT(msg, HasSubstr(std::string("plan.json: $.workers[0].gpu_memory_utilization: ") +
                               bad + " is out of range; must be in (0, 1]"));
    EXPECT_THAT(msg, HasSubstr("vLLM's default is 0.9"));
  }
  EXPECT_TRUE(Parse(OneWorker(R"({"gpu_memory_utilization": 1})")).ok());
}

TEST(PlanTest, NumericBoundsNameTheField) {
  EXPECT_THAT(ErrorOf(OneWorker(R"({"replicas": 0})")),
              HasSubstr("$.workers[0].replicas: 0 is out of range; must be in [1, 100000]"));
  EXPECT_THAT(ErrorOf(OneWorker(R"({"max_num_seqs": 0})")),
              HasSubstr("$.workers[0].max_num_seqs: 0"));
  EXPECT_THAT(ErrorOf(OneWorker(R"({"max_num_batched_tokens": 2.5})")),
              HasSubstr("$.workers[0].max_num_batched_tokens: expected an integer, got 2.5"));
  EXPECT_THAT(ErrorOf(OneWorker(R"({"tp": 0})")), HasSubstr("$.workers[0].tp: 0 is out of range"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "router":
                       {"temperature": -1}})"),
              HasSubstr("$.router.temperature: -1 is out of range; must be >= 0"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "planner": {"itl_ms": 0}})"),
              HasSubstr("$.planner.itl_ms: 0 is out of range; must be > 0"));
  EXPECT_THAT(ErrorOf(R"({"model": "llama-3.1-8b", "workers": [{}], "disagg":
                       {"max_local_prefill_tokens": -1}})"),
              HasSubstr("$.disagg.max_local_prefill_tokens: -1 is out of range"));
  EXPECT_THAT(ErrorOf(OneWorker("{}", "\"llama-3.1-8b\"", R"({"nodes": 0})")),
              HasSubstr("$.system.nodes: 0 is out of range; must be in [1, 100000]"));
  // max_num_batched_tokens below max_num_seqs is allowed (vLLM only warns).
  EXPECT_TRUE(Parse(OneWorker(R"({"max_num_seqs": 512, "max_num_batched_tokens": 256})")).ok());
}

TEST(PlanTest, ClusterErrorsCarryTheSystemPath) {
  // 19 GB200 trays of 4 GPUs split the 72-GPU NVL72 domain.
  const std::string msg = ErrorOf(OneWorker("{}", "\"llama-3.1-8b\"", R"({"gpu": "gb200",
      "nodes": 19})"));
  EXPECT_THAT(
      msg, HasSubstr("plan.json: $.system.nodes: 19 x 4 gb200 GPUs split an NVLink domain of 72"));
  EXPECT_THAT(msg, HasSubstr("use a multiple of 18 nodes"));
}

TEST(PlanTest, InterconnectSetsTheNicBandwidth) {
  EXPECT_EQ(InterconnectBandwidth("ib_200g").value(), 25e9);
  EXPECT_EQ(InterconnectBandwidth("ib_400g").value(), 50e9);
  EXPECT_EQ(InterconnectBandwidth("ib_800g").value(), 100e9);
  EXPECT_EQ(InterconnectBandwidth("roce_400g").value(), 50e9);
  EXPECT_EQ(InterconnectBandwidth("eth_100g").value(), 12.5e9);
  auto bad = InterconnectBandwidth("ib_100g");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(bad.status().message(),
              HasSubstr("use one of ib_200g, ib_400g, ib_800g, roce_400g, eth_100g"));
  const Plan p = MustParse(OneWorker(
      "{}", "\"llama-3.1-8b\"", R"({"gpu": "h100_sxm", "nodes": 2, "interconnect": "eth_100g"})"));
  EXPECT_EQ(p.cluster.nic_bandwidth, 12.5e9);
  EXPECT_EQ(p.cluster.nodes, 2);
  EXPECT_EQ(p.cluster.nvlink_domain_size, 8);
}

// Offsets of the values that follow a key ("key": VALUE) outside string literals. Precondition:
// `text` is valid JSON whose strings hold no escaped quotes.
std::vector<size_t> ValueStarts(const std::string& text) {
  std::vector<size_t> starts;
  bool in_string = false;
  for (size_t i = 0; i + 1 < text.size(); ++i) {
    if (text[i] == '"') in_string = !in_string;
    if (!in_string && text[i] == ':') starts.push_back(text[i + 1] == ' ' ? i + 2 : i + 1);
  }
  return starts;
}

// Property: replacing any value of a bundled plan with another value gives either a plan that
// round-trips or an error that names the file and a JSON path; never a crash.
TEST(PlanTest, MutatedValuesGiveAPlanOrAnErrorWithAPath) {
  const char* const kValues[] = {"0",     "-1",      "1",    "3",      "2.5",        "1e9",
                                 "1e308", "null",    "true", "\"x\"",  "[]",         "{}",
                                 "256",   "\"agg\"", "0.5",  "\"kv\"", "\"decode\"", "64"};
  RngStream rng(1234, "plan_mutations");
  int ok = 0, errors = 0;
  for (const std::string& name : BundledPlanNames()) {
    const std::string text = std::string(*FindEmbeddedFile("plans/" + name + ".json"));
    ASSERT_FALSE(ValueStarts(text).empty());
    for (int iter = 0; iter < 400; ++iter) {
      SCOPED_TRACE(name + " mutation " + std::to_string(iter) + " (seed 1234)");
      std::string mutated = text;
      for (int edits = 1 + static_cast<int>(rng.Below(2)); edits > 0; --edits) {
        const std::vector<size_t> at_values = ValueStarts(mutated);
        const size_t at = at_values[rng.Below(at_values.size())];
        if (at >= mutated.size() || mutated[at] == '{' || mutated[at] == '[') continue;
        const size_t end =
            mutated[at] == '"' ? mutated.find('"', at + 1) + 1 : mutated.find_first_of(",}]\n", at);
        mutated.replace(at, end - at, kValues[rng.Below(std::size(kValues))]);
      }
      auto plan = Parse(mutated);
      if (plan.ok()) {
        ++ok;
        ExpectRoundTrip(*plan);
      } else {
        ++errors;
        EXPECT_EQ(plan.status().message().rfind("plan.json: $", 0), 0u)
            << plan.status().message() << "\n"
            << mutated;
      }
    }
  }
  // Both outcomes happen, so the mutations reach the checks.
  EXPECT_GT(ok, 100);
  EXPECT_GT(errors, 100);
}

TEST(PlanTest, WorkerRoleNames) {
  EXPECT_EQ(WorkerRoleName(WorkerRole::kAggregated), "agg");
  EXPECT_EQ(WorkerRoleName(WorkerRole::kPrefill), "prefill");
  EXPECT_EQ(WorkerRoleName(WorkerRole::kDecode), "decode");
}

}  // namespace
}  // namespace dynamo
