#include "configurator/dgd_emitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/json.h"

namespace dynamo::configurator {
namespace {

using ::testing::HasSubstr;

Plan MustParse(const std::string& json) {
  auto root = JsonDocument::Parse(json, "plan.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto plan = ParsePlan(*root);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

Plan MustLoad(const std::string& ref) {
  auto plan = LoadPlan(ref);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

DeployOptions Options(Backend backend) {
  DeployOptions o;
  o.target = DeployTarget::kDynamo;
  o.backend = backend;
  o.name = "test";
  o.image = "img:1";
  o.plan_ref = "plan.json";
  return o;
}

YamlNode MustBuild(const Plan& plan, const DeployOptions& opts) {
  auto doc = BuildDynamoGraphDeployment(plan, opts);
  EXPECT_TRUE(doc.ok()) << doc.status().message();
  return doc.ok() ? *doc : YamlNode::Map();
}

const YamlNode& Service(const YamlNode& doc, const std::string& name) {
  static const YamlNode kMissing;
  const YamlNode* services = doc.Find("spec")->Find("services");
  const YamlNode* s = services->Find(name);
  EXPECT_NE(s, nullptr) << "no service " << name;
  return s != nullptr ? *s : kMissing;
}

std::vector<std::string> Strings(const YamlNode& seq) {
  std::vector<std::string> out;
  for (const YamlNode& n : seq.items()) out.push_back(n.string_value());
  return out;
}

std::vector<std::string> Args(const YamlNode& service) {
  return Strings(*service.Find("extraPodSpec")->Find("mainContainer")->Find("args"));
}

TEST(DgdEmitterTest, DisaggregatedServices) {
  const Plan plan = MustLoad("llama70b_disagg");
  const YamlNode doc = MustBuild(plan, Options(Backend::kVllm));
  EXPECT_EQ(doc.Find("apiVersion")->string_value(), "nvidia.com/v1alpha1");
  EXPECT_EQ(doc.Find("kind")->string_value(), "DynamoGraphDeployment");
  EXPECT_EQ(doc.Find("spec")->Find("backendFramework")->string_value(), "vllm");
  const YamlNode* services = doc.Find("spec")->Find("services");
  ASSERT_EQ(services->size(), 3u);  // Frontend, prefill, decode; no planner
  const YamlNode& prefill = Service(doc, "VllmPrefillWorker");
  EXPECT_EQ(prefill.Find("componentType")->string_value(), "worker");
  EXPECT_EQ(prefill.Find("subComponentType")->string_value(), "prefill");
  EXPECT_EQ(prefill.Find("replicas")->int_value(), 2);
  EXPECT_EQ(prefill.Find("resources")->Find("limits")->Find("gpu")->string_value(), "2");
  EXPECT_EQ(prefill.Find("envFromSecret")->string_value(), "hf-token-secret");
  EXPECT_EQ(prefill.Find("multinode"), nullptr);
  const YamlNode& decode = Service(doc, "VllmDecodeWorker");
  EXPECT_EQ(decode.Find("subComponentType")->string_value(), "decode");
  EXPECT_EQ(decode.Find("resources")->Find("limits")->Find("gpu")->string_value(), "4");
  const YamlNode* main = decode.Find("extraPodSpec")->Find("mainContainer");
  EXPECT_EQ(main->Find("image")->string_value(), "img:1");
  EXPECT_EQ(Strings(*main->Find("command")),
            (std::vector<std::string>{"python3", "-m", "dynamo.vllm"}));
  EXPECT_EQ(Args(decode)[1], "meta-llama/Llama-3.1-70B-Instruct");
}

TEST(DgdEmitterTest, AggregatedWorkerHasNoSubComponent) {
  const Plan plan = MustLoad("llama70b_agg");
  const YamlNode doc = MustBuild(plan, Options(Backend::kSglang));
  const YamlNode& w = Service(doc, "SglangWorker");
  EXPECT_EQ(w.Find("subComponentType"), nullptr);
  EXPECT_EQ(w.Find("replicas")->int_value(), 2);
  EXPECT_EQ(Strings(*w.Find("extraPodSpec")->Find("mainContainer")->Find("command")),
            (std::vector<std::string>{"python3", "-m", "dynamo.sglang"}));
}

TEST(DgdEmitterTest, RouterModes) {
  Plan plan = MustLoad("llama70b_agg");
  auto frontend_args = [&](const Plan& p) {
    return Args(Service(MustBuild(p, Options(Backend::kVllm)), "Frontend"));
  };
  EXPECT_EQ(frontend_args(plan),
            (std::vector<std::string>{"--http-port", "8000", "--router-mode", "round-robin"}));
  plan.router.policy = "random";
  EXPECT_EQ(frontend_args(plan).back(), "random");
  plan.router.policy = "least_loaded";
  EXPECT_EQ(frontend_args(plan).back(), "least-loaded");
  EXPECT_THAT(Service(MustBuild(plan, Options(Backend::kVllm)), "Frontend").comment(),
              HasSubstr("least_loaded -> --router-mode least-loaded"));
  plan.router.policy = "kv";
  EXPECT_EQ(frontend_args(plan),
            (std::vector<std::string>{"--http-port", "8000", "--router-mode", "kv"}));
  plan.router.overlap_weight = 2.5;
  plan.router.temperature = 0.5;
  plan.router.queue_threshold = 2;
  EXPECT_EQ(frontend_args(plan),
            (std::vector<std::string>{"--http-port", "8000", "--router-mode", "kv",
                                      "--kv-overlap-score-weight", "2.5", "--router-temperature",
                                      "0.5", "--router-queue-threshold", "2.0"}));
}

// A worker wider than a node: multinode, GPUs per node in limits.gpu.
TEST(DgdEmitterTest, MultinodeWorker) {
  const Plan plan = MustParse(R"({
    "model": "llama-3.1-70b", "system": {"gpu": "h200_sxm", "nodes": 2},
    "workers": [{"role": "agg", "tp": 8, "pp": 2}]})");
  const YamlNode doc = MustBuild(plan, Options(Backend::kTrtllm));
  const YamlNode& w = Service(doc, "TrtllmWorker");
  ASSERT_NE(w.Find("multinode"), nullptr);
  EXPECT_EQ(w.Find("multinode")->Find("nodeCount")->int_value(), 2);
  EXPECT_EQ(w.Find("resources")->Find("limits")->Find("gpu")->string_value(), "8");
  EXPECT_THAT(w.comment(), HasSubstr("over 2 nodes of 8 GPUs"));
}

TEST(DgdEmitterTest, PlaceWorker) {
  WorkerPoolSpec w;
  auto place = [&](int tp, int pp, int per_node) {
    w.parallelism.tp = tp;
    w.parallelism.pp = pp;
    const WorkerPlacement p = PlaceWorker(w, per_node);
    return std::to_string(p.nodes) + "x" + std::to_string(p.gpus_per_node);
  };
  EXPECT_EQ(place(4, 1, 8), "1x4");
  EXPECT_EQ(place(8, 1, 8), "1x8");
  EXPECT_EQ(place(8, 2, 8), "2x8");
  EXPECT_EQ(place(8, 4, 8), "4x8");
  EXPECT_EQ(place(4, 3, 8), "2x6");  // 12 GPUs on nodes of 8: two nodes of 6
  EXPECT_EQ(place(8, 1, 4), "2x4");  // GB200 trays
  EXPECT_EQ(place(3, 3, 4), "3x3");
}

TEST(DgdEmitterTest, PlannerService) {
  Plan plan = MustLoad("llama70b_disagg");
  plan.planner.enabled = true;
  plan.planner.ttft_ms = 400;
  plan.planner.itl_ms = 25;
  plan.planner.interval_s = 30;
  const YamlNode doc = MustBuild(plan, Options(Backend::kVllm));
  const YamlNode& p = Service(doc, "Planner");
  EXPECT_EQ(p.Find("componentType")->string_value(), "planner");
  EXPECT_EQ(p.Find("replicas")->int_value(), 1);
  const auto args = Args(p);
  ASSERT_EQ(args.size(), 2u);
  EXPECT_EQ(args[0], "--config");
  EXPECT_EQ(args[1], R"({"environment":"kubernetes","backend":"vllm","mode":"disagg",)"
                     R"("optimization_target":"sla","ttft":400.0,"itl":25.0,)"
                     R"("enable_throughput_scaling":true,"enable_load_scaling":false,)"
                     R"("throughput_adjustment_interval":30,"load_predictor":"kalman",)"
                     R"("load_predictor_log1p":false,"kalman_q_level":1.0,"kalman_q_trend":0.1,)"
                     R"("kalman_r":10.0,"max_gpu_budget":8,"min_endpoint":1,)"
                     R"("prefill_engine_num_gpu":2,"decode_engine_num_gpu":4})");
  EXPECT_THAT(p.comment(), HasSubstr("percentile 90.0"));
}

// Dynamo's aggregated planner scales the service it finds as decode, with load scaling.
TEST(DgdEmitterTest, AggregatedPlanner) {
  Plan plan = MustLoad("llama70b_agg");
  plan.planner.enabled = true;
  plan.planner.predictor = "moving_average";
  plan.planner.max_gpus = 8;
  const YamlNode doc = MustBuild(plan, Options(Backend::kSglang));
  EXPECT_EQ(Service(doc, "SglangWorker").Find("subComponentType")->string_value(), "decode");
  const std::string config = Args(Service(doc, "Planner"))[1];
  EXPECT_THAT(config, HasSubstr(R"("mode":"agg")"));
  EXPECT_THAT(config, HasSubstr(R"("enable_load_scaling":true,"load_adjustment_interval":60)"));
  EXPECT_THAT(config, HasSubstr(R"("load_predictor":"constant")"));
  EXPECT_THAT(config, HasSubstr(R"("decode_engine_num_gpu":4)"));
  EXPECT_THAT(Service(doc, "Planner").comment(), HasSubstr("moving_average has no Dynamo"));
}

TEST(DgdEmitterTest, SeveralPoolsOfOneRoleGetIndexedNames) {
  const Plan plan = MustParse(R"({
    "model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg", "tp": 1, "replicas": 2}, {"role": "agg", "tp": 2}]})");
  const YamlNode doc = MustBuild(plan, Options(Backend::kVllm));
  EXPECT_NE(doc.Find("spec")->Find("services")->Find("VllmWorker0"), nullptr);
  EXPECT_NE(doc.Find("spec")->Find("services")->Find("VllmWorker1"), nullptr);
}

TEST(DgdEmitterTest, HfConfigModelNeedsModelId) {
  Plan plan = MustLoad("llama70b_agg");
  plan.model_ref = "/abs/models/x/config.json";
  const auto doc = BuildDynamoGraphDeployment(plan, Options(Backend::kVllm));
  ASSERT_FALSE(doc.ok());
  EXPECT_THAT(doc.status().message(), HasSubstr("--model-id: missing"));
  DeployOptions with_id = Options(Backend::kVllm);
  with_id.model_id = "org/x";
  EXPECT_EQ(Args(Service(MustBuild(plan, with_id), "VllmWorker"))[1], "org/x");
}

TEST(DgdEmitterTest, SecretsOnlyByReference) {
  const Plan plan = MustLoad("llama70b_disagg");
  const std::string text = EmitYaml(MustBuild(plan, Options(Backend::kVllm)));
  EXPECT_THAT(text, HasSubstr("envFromSecret: hf-token-secret"));
  EXPECT_THAT(text, ::testing::Not(HasSubstr("hf_")));
}

}  // namespace
}  // namespace dynamo::configurator
