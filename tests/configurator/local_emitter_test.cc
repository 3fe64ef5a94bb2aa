#include "configurator/local_emitter.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <string>

namespace dynamo::configurator {
namespace {

using ::testing::HasSubstr;

TEST(LocalEmitterTest, ScriptRunsDynamoRunOnThePlanBesideIt) {
  auto plan = LoadPlan("llama8b_agg");
  ASSERT_TRUE(plan.ok());
  DeployOptions o;
  o.target = DeployTarget::kLocal;
  o.name = "llama8b-agg";
  o.plan_ref = "llama8b_agg";
  const auto files = EmitLocalTarget(*plan, o);
  ASSERT_EQ(files.size(), 2u);
  EXPECT_EQ(files[0].name, "run_local.sh");
  EXPECT_TRUE(files[0].executable);
  const std::string& s = files[0].contents;
  EXPECT_EQ(s.rfind("#!/usr/bin/env bash\n", 0), 0u);
  EXPECT_THAT(s, HasSubstr("\nset -euo pipefail\n"));
  EXPECT_THAT(s, HasSubstr("ENGINE=\"${ENGINE:-mock}\""));
  EXPECT_THAT(s, HasSubstr("exec \"$DYNAMO_RUN\" --plan \"$DIR/plan.json\" --engine \"$ENGINE\""));
  EXPECT_THAT(s, HasSubstr("--run-dir \"$RUN_DIR\""));
  EXPECT_EQ(files[1].name, "README.md");
  EXPECT_FALSE(files[1].executable);
}

}  // namespace
}  // namespace dynamo::configurator
