#include "core/workload/arrival.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dynamo {
namespace {

RateShape Shape(const std::string& json) {
  auto node = JsonDocument::Parse(json, "shape.json");
  EXPECT_TRUE(node.ok());
  auto shape = RateShape::Parse(*node);
  EXPECT_TRUE(shape.ok()) << shape.status().message();
  return *shape;
}

// RateAt is the derivative of Cumulative, and InverseCumulative inverts Cumulative.
void CheckConsistent(const RateShape& s, double horizon_s) {
  for (double t = 0.5; t < horizon_s; t += horizon_s / 97) {
    const double h = 1e-4;
    const double slope = (s.Cumulative(t + h) - s.Cumulative(t - h)) / (2 * h);
    EXPECT_NEAR(slope, s.RateAt(t), 1e-6 * std::max(1.0, s.RateAt(t))) << "t=" << t;
    const double lambda = s.Cumulative(t);
    if (s.RateAt(t) > 0) {
      EXPECT_NEAR(s.InverseCumulative(lambda), t, 1e-6) << "t=" << t;
    }
  }
}

TEST(RateShapeTest, SinusoidStartsAtMinAndPeaksAtHalfPeriod) {
  RateShape s = Shape(R"({"kind": "sinusoid", "period_s": 600, "min_rps": 1, "max_rps": 9})");
  EXPECT_DOUBLE_EQ(s.RateAt(0), 1);
  EXPECT_DOUBLE_EQ(s.RateAt(300), 9);
  EXPECT_NEAR(s.Cumulative(600), 5 * 600, 1e-9);  // mean rate over a period
  CheckConsistent(s, 1200);
}

TEST(RateShapeTest, StepsArePiecewiseConstant) {
  RateShape s = Shape(R"({"kind": "steps", "steps": [[0, 2], [10, 0], [20, 5]]})");
  EXPECT_DOUBLE_EQ(s.RateAt(9.9), 2);
  EXPECT_DOUBLE_EQ(s.RateAt(15), 0);
  EXPECT_DOUBLE_EQ(s.RateAt(25), 5);
  EXPECT_DOUBLE_EQ(s.Cumulative(30), 20 + 0 + 50);
  // Operational time 20 is reached at t = 10 and stays there through the idle step.
  EXPECT_DOUBLE_EQ(s.InverseCumulative(20), 10);
  EXPECT_DOUBLE_EQ(s.InverseCumulative(25), 21);
  CheckConsistent(s, 40);
}

TEST(RateShapeTest, BurstsRepeatUntilTheEnd) {
  RateShape s = Shape(
      R"({"kind": "bursts", "base_rps": 2, "burst_rps": 20, "period_s": 100, "burst_s": 10,
          "until_s": 300})");
  EXPECT_DOUBLE_EQ(s.RateAt(5), 20);
  EXPECT_DOUBLE_EQ(s.RateAt(50), 2);
  EXPECT_DOUBLE_EQ(s.RateAt(205), 20);
  EXPECT_DOUBLE_EQ(s.RateAt(305), 2);  // after until_s: the base rate
  EXPECT_DOUBLE_EQ(s.Cumulative(300), 3 * (10 * 20 + 90 * 2));
  CheckConsistent(s, 400);
}

TEST(RateShapeTest, BadShapesNameTheField) {
  auto parse = [](const std::string& json) {
    return RateShape::Parse(*JsonDocument::Parse(json, "shape.json")).status().message();
  };
  EXPECT_EQ(parse(R"({"kind": "steps", "steps": [[1, 2]]})"),
            "shape.json: $.steps[0][0]: the first step must start at 0");
  EXPECT_EQ(parse(R"({"kind": "steps", "steps": [[0, 2], [0, 3]]})"),
            "shape.json: $.steps[1][0]: step start times must increase");
  EXPECT_EQ(parse(R"({"kind": "sinusoid", "period_s": 60, "min_rps": 5, "max_rps": 2})"),
            "shape.json: $: max_rps 2 is below min_rps 5");
  EXPECT_EQ(parse(R"({"kind": "bursts", "base_rps": 1, "burst_rps": 5, "period_s": 10,
                      "burst_s": 10})"),
            "shape.json: $: burst_s 10 must be shorter than period_s 10");
}

}  // namespace
}  // namespace dynamo
