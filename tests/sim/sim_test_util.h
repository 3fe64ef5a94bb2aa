#pragma once
// Helpers shared by the simulator's tests: a plan or a synthetic workload from inline JSON.
#include <gtest/gtest.h>

#include <string>

#include "core/json.h"
#include "core/plan/plan.h"
#include "core/workload/synthetic_workload.h"

namespace dynamo::sim::testing_util {

inline Plan MakePlan(const std::string& json) {
  auto root = JsonDocument::Parse(json, "test_plan.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto plan = ParsePlan(*root);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return *plan;
}

inline Workload MakeWorkload(const std::string& json) {
  auto root = JsonDocument::Parse(json, "test_workload.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto spec = SyntheticSpec::Parse(*root, "");
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  auto wl = GenerateWorkload(*spec, "test_workload.json");
  EXPECT_TRUE(wl.ok()) << wl.status().message();
  return *wl;
}

}  // namespace dynamo::sim::testing_util
