#include "configurator/deploy_target.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "core/file_io.h"

namespace dynamo::configurator {
namespace {

using ::testing::HasSubstr;

// Goldens live in tests/golden/config/. DYNAMO_UPDATE_GOLDEN=1 rewrites them (review the diff).
const std::string kGoldenDir = std::string(DYNAMO_SOURCE_DIR) + "/tests/golden/config/";

bool UpdateGolden() {
  const char* v = std::getenv("DYNAMO_UPDATE_GOLDEN");
  return v != nullptr && std::string(v) == "1";
}

// Every generated file but plan.json (PlanToJson has its own tests), each under a header line.
std::string Bundle(const std::vector<GeneratedFile>& files) {
  std::string out;
  for (const GeneratedFile& f : files) {
    if (f.name == "plan.json") continue;
    out += "==> " + f.name + (f.executable ? " (executable)" : "") + " <==\n" + f.contents;
  }
  return out;
}

void ExpectGolden(const std::string& golden_name, const std::string& actual) {
  const std::string path = kGoldenDir + golden_name;
  if (UpdateGolden()) {
    ASSERT_TRUE(WriteFileAtomic(path, actual).ok()) << path;
    std::printf("updated %s\n", path.c_str());
    return;
  }
  auto expected = ReadFile(path);
  ASSERT_TRUE(expected.ok()) << expected.status().message()
                             << "\n(run with DYNAMO_UPDATE_GOLDEN=1 to create it)";
  if (*expected == actual) return;
  // The first differing line, to make the failure readable.
  size_t line = 1, i = 0;
  while (i < expected->size() && i < actual.size() && (*expected)[i] == actual[i]) {
    if (actual[i] == '\n') ++line;
    ++i;
  }
  auto line_at = [](const std::string& s, size_t pos) {
    const size_t start = s.rfind('\n', pos == 0 ? 0 : pos - 1);
    const size_t b = start == std::string::npos ? 0 : start + 1;
    return s.substr(b, s.find('\n', b) - b);
  };
  ADD_FAILURE() << golden_name << " differs at line " << line
                << "\n  golden: " << line_at(*expected, i) << "\n  actual: " << line_at(actual, i)
                << "\nIf the change is intended: DYNAMO_UPDATE_GOLDEN=1 ctest -R deploy_target "
                   "and review the diff of tests/golden/config/.";
}

Plan MustLoad(const std::string& ref) {
  auto plan = LoadPlan(ref);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

std::vector<GeneratedFile> MustGenerate(const DeployOptions& o, const Plan* plan) {
  auto files = GenerateTarget(o, plan);
  EXPECT_TRUE(files.ok()) << files.status().message();
  return files.ok() ? *files : std::vector<GeneratedFile>{};
}

DeployOptions Options(DeployTarget t, const std::string& plan_ref) {
  DeployOptions o;
  o.target = t;
  o.plan_ref = plan_ref;
  return o;
}

class DynamoGoldenTest
    : public ::testing::TestWithParam<std::tuple<Backend, std::string /*mode*/>> {};

TEST_P(DynamoGoldenTest, MatchesGolden) {
  const auto [backend, mode] = GetParam();
  const std::string plan_ref = "llama70b_" + mode;
  const Plan plan = MustLoad(plan_ref);
  DeployOptions o = Options(DeployTarget::kDynamo, plan_ref);
  o.backend = backend;
  const auto files = MustGenerate(o, &plan);
  ExpectGolden("dynamo_" + std::string(BackendName(backend)) + "_" + mode + ".golden",
               Bundle(files));
}

INSTANTIATE_TEST_SUITE_P(BackendsAndModes, DynamoGoldenTest,
                         ::testing::Combine(::testing::Values(Backend::kVllm, Backend::kSglang,
                                                              Backend::kTrtllm),
                                            ::testing::Values("agg", "disagg")),
                         [](const auto& p) {
                           return std::string(BackendName(std::get<0>(p.param))) + "_" +
                                  std::get<1>(p.param);
                         });

TEST(DeployTargetGoldenTest, K8s) {
  const Plan plan = MustLoad("llama70b_disagg");
  ExpectGolden("k8s.golden",
               Bundle(MustGenerate(Options(DeployTarget::kK8s, "llama70b_disagg"), &plan)));
}

TEST(DeployTargetGoldenTest, Local) {
  const Plan plan = MustLoad("llama70b_agg");
  ExpectGolden("local.golden",
               Bundle(MustGenerate(Options(DeployTarget::kLocal, "llama70b_agg"), &plan)));
}

TEST(DeployTargetGoldenTest, K8sSweep) {
  DeployOptions o = Options(DeployTarget::kK8sSweep, "");
  o.sweep_args = "--model llama-3.1-70b --gpu h200_sxm --gpus 16 --isl 3000 --osl 150";
  ExpectGolden("k8s_sweep.golden", Bundle(MustGenerate(o, nullptr)));
}

TEST(DeployTargetTest, FilesOfEachTarget) {
  const Plan plan = MustLoad("llama70b_disagg");
  auto names = [](const std::vector<GeneratedFile>& files) {
    std::string s;
    for (const auto& f : files) s += f.name + " ";
    return s;
  };
  DeployOptions d = Options(DeployTarget::kDynamo, "p");
  d.backend = Backend::kVllm;
  EXPECT_EQ(names(MustGenerate(d, &plan)), "dynamo-graph-deployment.yaml README.md plan.json ");
  EXPECT_EQ(names(MustGenerate(Options(DeployTarget::kK8s, "p"), &plan)),
            "k8s.yaml README.md plan.json ");
  EXPECT_EQ(names(MustGenerate(Options(DeployTarget::kLocal, "p"), &plan)),
            "run_local.sh README.md plan.json ");
  DeployOptions s = Options(DeployTarget::kK8sSweep, "");
  s.sweep_args = "--gpus 8";
  EXPECT_EQ(names(MustGenerate(s, nullptr)), "sweep-job.yaml merge-job.yaml pvc.yaml README.md ");
  // plan.json is the canonical plan.
  EXPECT_EQ(MustGenerate(Options(DeployTarget::kK8s, "p"), &plan).back().contents,
            PlanToJson(plan));
}

TEST(DeployTargetTest, Defaults) {
  const Plan plan = MustLoad("llama70b_disagg");
  EXPECT_EQ(DefaultDeployName(&plan), "llama70b-disagg");
  EXPECT_EQ(DefaultDeployName(nullptr), "dynamo-sweep");
  Plan odd = plan;
  odd.source = "/tmp/My Plans/__Weird..Name__v2.JSON.json";
  EXPECT_EQ(DefaultDeployName(&odd), "weird-name-v2-json");
  odd.source = "/tmp/" + std::string(80, 'a') + ".json";
  EXPECT_EQ(DefaultDeployName(&odd).size(), kMaxDeployNameLength);
  odd.source = "___.json";
  EXPECT_EQ(DefaultDeployName(&odd), "dynamo");
  EXPECT_EQ(DefaultImage(DeployTarget::kDynamo, Backend::kVllm),
            "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1");
  EXPECT_EQ(DefaultImage(DeployTarget::kDynamo, Backend::kTrtllm),
            "nvcr.io/nvidia/ai-dynamo/tensorrtllm-runtime:1.0.1");
  EXPECT_EQ(DefaultImage(DeployTarget::kK8s, std::nullopt), "dynamo-planner:0.1.0");
  auto t = ParseDeployTarget("k8s-sweep");
  ASSERT_TRUE(t.ok());
  EXPECT_EQ(*t, DeployTarget::kK8sSweep);
  EXPECT_EQ(ParseDeployTarget("helm").status().message(),
            "--target: \"helm\" is not a target; use dynamo, k8s, local or k8s-sweep");
}

TEST(DeployTargetTest, OptionErrors) {
  const Plan plan = MustLoad("llama70b_agg");
  auto error = [&](DeployOptions o) {
    auto files = GenerateTarget(o, o.target == DeployTarget::kK8sSweep ? nullptr : &plan);
    EXPECT_FALSE(files.ok());
    return files.ok() ? std::string() : files.status().message();
  };
  DeployOptions o = Options(DeployTarget::kDynamo, "p");
  EXPECT_EQ(error(o),
            "--backend: missing; --target dynamo needs the engine the workers run: pass "
            "--backend vllm, sglang or trtllm");
  o.backend = Backend::kVllm;
  o.name = "Bad_Name";
  EXPECT_EQ(error(o),
            "--name: \"Bad_Name\" is not a valid name; use at most 45 lowercase letters, digits "
            "and '-', starting and ending with a letter or digit (e.g. llama70b-disagg)");
  o.name = std::string(46, 'a');
  EXPECT_THAT(error(o), HasSubstr("is not a valid name"));
  o.name = "";
  o.k8s_namespace = "-ns";
  EXPECT_EQ(error(o),
            "--namespace: \"-ns\" is not a Kubernetes namespace name; use at most 63 lowercase "
            "letters, digits and '-', starting and ending with a letter or digit (e.g. dynamo)");
  o.k8s_namespace = "dynamo";
  o.image = "my image";
  EXPECT_THAT(error(o), HasSubstr("--image: \"my image\" is not an image reference"));
  o.image = "";
  o.model_id = "a b";
  EXPECT_THAT(error(o), HasSubstr("--model-id: \"a b\" has blanks"));
  o.model_id = "";
  o.pvc = "Bad";
  EXPECT_THAT(error(o), HasSubstr("--pvc: \"Bad\" is not a PersistentVolumeClaim name"));
  o.pvc = std::string(kDefaultSweepPvc);
  o.shards = 0;
  EXPECT_EQ(error(o), "--shards: 0 is out of range; use 1 to 100000");
  DeployOptions k = Options(DeployTarget::kK8s, "p");
  auto no_plan = GenerateTarget(k, nullptr);
  ASSERT_FALSE(no_plan.ok());
  EXPECT_EQ(no_plan.status().message(),
            "--plan: missing; --target k8s emits a deployment of a plan: pass a bundled plan "
            "name (e.g. llama70b_disagg) or a plan.json path");
  DeployOptions s = Options(DeployTarget::kK8sSweep, "");
  EXPECT_THAT(error(s), HasSubstr("--sweep-args: missing;"));
}

TEST(DeployTargetTest, NameImageAndNamespaceReachTheManifests) {
  const Plan plan = MustLoad("llama70b_agg");
  DeployOptions o = Options(DeployTarget::kDynamo, "p");
  o.backend = Backend::kSglang;
  o.name = "prod-70b";
  o.image = "registry.example.com/dynamo/sglang:9";
  o.k8s_namespace = "serving";
  const std::string yaml = MustGenerate(o, &plan)[0].contents;
  EXPECT_THAT(yaml, HasSubstr("  name: prod-70b\n  namespace: serving\n"));
  EXPECT_THAT(yaml, HasSubstr("image: registry.example.com/dynamo/sglang:9\n"));
}

}  // namespace
}  // namespace dynamo::configurator
