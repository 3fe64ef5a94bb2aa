#include "configurator/model_ids.h"

#include <gtest/gtest.h>

#include <string>

#include "core/model/model_catalog.h"

namespace dynamo::configurator {
namespace {

Plan MustLoad(const std::string& ref) {
  auto plan = LoadPlan(ref);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return plan.ok() ? *plan : Plan{};
}

TEST(ModelIdsTest, EveryBundledModelHasAnId) {
  for (const std::string& name : BundledModelNames()) {
    EXPECT_FALSE(BundledHfModelId(name).empty()) << name;
  }
  EXPECT_EQ(BundledHfModelId("llama-3.1-8b"), "meta-llama/Llama-3.1-8B-Instruct");
  EXPECT_EQ(BundledHfModelId("LLAMA-3.1-70B"), "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(BundledHfModelId("qwen3-32b"), "Qwen/Qwen3-32B");
  EXPECT_EQ(BundledHfModelId("nope"), "");
}

TEST(ModelIdsTest, ResolveModelId) {
  const Plan plan = MustLoad("llama70b_agg");
  EXPECT_EQ(*ResolveModelId(plan, ""), "meta-llama/Llama-3.1-70B-Instruct");
  EXPECT_EQ(*ResolveModelId(plan, "org/other"), "org/other");
  Plan hf = plan;
  hf.model_ref = "/models/custom/config.json";
  hf.source = "my_plan.json";
  const auto missing = ResolveModelId(hf, "");
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().message(),
            "--model-id: missing; the plan my_plan.json gives its model as {\"hf_config\": "
            "\"/models/custom/config.json\"}, which names no Hugging Face repository; pass "
            "--model-id with the repository (e.g. --model-id meta-llama/Llama-3.1-8B-Instruct) "
            "or a path inside the image");
}

}  // namespace
}  // namespace dynamo::configurator
