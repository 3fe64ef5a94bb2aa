#include "planner/load_predictor.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <vector>

namespace dynamo::planner {
namespace {

PredictorConfig Kind(PredictorKind k, int window = 5) {
  PredictorConfig c;
  c.kind = k;
  c.window = window;
  return c;
}

// An independent local-linear-trend filter in scalar arithmetic: state [l, t], symmetric
// covariance [[p00, p01], [p01, p11]], F = [[1, 1], [0, 1]], H = [1, 0].
struct HandKalman {
  double q_level = 1.0, q_trend = 0.1, r = 10.0, p0 = 1000.0;
  bool started = false;
  double l = 0, t = 0, p00 = 0, p01 = 0, p11 = 0;

  void Predict() {
    l = l + t;
    // F P F' + Q with F = [[1, 1], [0, 1]].
    const double n00 = p00 + 2 * p01 + p11 + q_level;
    const double n01 = p01 + p11;
    const double n11 = p11 + q_trend;
    p00 = n00;
    p01 = n01;
    p11 = n11;
  }
  void Observe(double z) {
    if (!started) {
      started = true;
      l = z;
      t = 0;
      p00 = p11 = p0;
      p01 = 0;
      return;
    }
    Predict();
    const double s = p00 + r;
    const double k0 = p00 / s;
    const double k1 = p01 / s;
    const double y = z - l;
    l += k0 * y;
    t += k1 * y;
    // P = (I - K H) P, I - K H = [[1 - k0, 0], [-k1, 1]].
    const double n00 = (1 - k0) * p00;
    const double n01 = (1 - k0) * p01;
    const double n11 = p11 - k1 * p01;
    p00 = n00;
    p01 = n01;
    p11 = n11;
  }
  // Forecast `k` steps ahead from the state after the last observation (does not mutate).
  double Forecast(int k) const {
    const double level = l + t;  // one predict step
    return std::max(0.0, level + (k - 1) * t);
  }
  double Stddev() const { return std::sqrt(p00 + 2 * p01 + p11 + q_level + r); }
};

TEST(PredictorKindTest, NamesRoundTripAndUnknownNamesListTheChoices) {
  for (PredictorKind k :
       {PredictorKind::kKalman, PredictorKind::kConstant, PredictorKind::kMovingAverage}) {
    auto parsed = ParsePredictorKind(PredictorKindName(k));
    ASSERT_TRUE(parsed.ok());
    EXPECT_EQ(*parsed, k);
  }
  EXPECT_EQ(PredictorKindName(PredictorKind::kMovingAverage), "moving_average");
  auto bad = ParsePredictorKind("arima");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(),
            "unknown load predictor 'arima'; use one of kalman, constant, moving_average");
}

TEST(KalmanPredictorTest, ConvergesOnANoiselessLinearSeries) {
  LoadPredictor p(PredictorConfig{});
  for (int t = 0; t < 60; ++t) {
    p.Observe(3 + 2.0 * t);
    if (t >= 50) {
      EXPECT_LT(std::abs(p.Predict(1) - (3 + 2.0 * (t + 1))), 1e-3) << t;
      EXPECT_LT(std::abs(p.Predict(4) - (3 + 2.0 * (t + 4))), 1e-3) << t;
    }
  }
  EXPECT_EQ(p.observations(), 60);
}

TEST(KalmanPredictorTest, MatchesAnIndependentScalarComputation) {
  const std::vector<double> series = {10, 12, 15, 13, 18};
  // `eager` forecasts after every observation (the planner's pattern), `lazy` only at the end:
  // both must follow the same filter.
  LoadPredictor eager(PredictorConfig{});
  LoadPredictor lazy(PredictorConfig{});
  HandKalman hand;
  for (double z : series) {
    eager.Observe(z);
    lazy.Observe(z);
    hand.Observe(z);
    EXPECT_NEAR(eager.ForecastStddev(), hand.Stddev(), 1e-9);  // before the predict step
    EXPECT_NEAR(eager.Predict(1), hand.Forecast(1), 1e-9) << z;
    EXPECT_NEAR(eager.Predict(3), hand.Forecast(3), 1e-9) << z;
    EXPECT_NEAR(eager.ForecastStddev(), hand.Stddev(), 1e-9);  // after it: unchanged
  }
  EXPECT_NEAR(lazy.Predict(1), hand.Forecast(1), 1e-9);
  EXPECT_NEAR(lazy.Predict(2), hand.Forecast(2), 1e-9);
  // The hand values themselves, so that a shared mistake cannot pass: after the first point
  // the level is 10 with P = 1000 I; the second point (after one predict step, P00 = 2001,
  // P01 = 1000) moves the level by 2001 / 2011 of the innovation.
  HandKalman two;
  two.Observe(10);
  two.Observe(12);
  EXPECT_NEAR(two.l, 10 + 2.0 * 2001 / 2011, 1e-12);
  EXPECT_NEAR(two.t, 2.0 * 1000 / 2011, 1e-12);
}

TEST(KalmanPredictorTest, ForecastsStayNonNegativeOnADecline) {
  LoadPredictor p(PredictorConfig{});
  for (double v : {100.0, 80.0, 60.0, 40.0, 20.0, 5.0}) {
    p.Observe(v);
    EXPECT_GE(p.Predict(1), 0);
  }
  EXPECT_EQ(p.Predict(1), 0);  // the raw level + trend is negative here
  EXPECT_EQ(p.Predict(10), 0);
}

TEST(KalmanPredictorTest, RepeatedPredictDoesNotAdvanceTheFilter) {
  LoadPredictor a(PredictorConfig{});
  LoadPredictor b(PredictorConfig{});
  for (double v : {5.0, 9.0, 14.0}) {
    a.Observe(v);
    b.Observe(v);
  }
  const double first = a.Predict(1);
  EXPECT_EQ(a.Predict(1), first);
  EXPECT_GT(a.Predict(3), first);  // rising trend
  EXPECT_EQ(a.Predict(1), first);
  EXPECT_EQ(b.Predict(1), first);  // one call or many: the same filter
  a.Observe(20);
  b.Observe(20);
  EXPECT_EQ(a.Predict(1), b.Predict(1));
  EXPECT_EQ(a.observations(), 4);
}

TEST(KalmanPredictorTest, LeadingZerosAreSkippedAndLaterZerosKept) {
  LoadPredictor p(PredictorConfig{});
  p.Observe(0);
  p.Observe(std::numeric_limits<double>::quiet_NaN());  // NaN counts as 0
  p.Observe(0);
  EXPECT_FALSE(p.ready());
  EXPECT_EQ(p.observations(), 0);
  EXPECT_EQ(p.Predict(1), 0);
  EXPECT_EQ(p.ForecastStddev(), 0);
  p.Observe(50);
  EXPECT_TRUE(p.ready());
  EXPECT_EQ(p.Predict(1), 50);  // the first point sets the level, trend 0
  p.Observe(0);
  EXPECT_EQ(p.observations(), 2);
  EXPECT_LT(p.Predict(1), 50);

  LoadPredictor c(Kind(PredictorKind::kConstant));
  c.Observe(0);
  c.Observe(7);
  c.Observe(0);
  EXPECT_EQ(c.observations(), 2);
  EXPECT_EQ(c.Predict(1), 0);
  c.ResetIdleSkip();
  c.Observe(0);  // skipped again
  EXPECT_EQ(c.observations(), 2);
  c.Observe(3);
  EXPECT_EQ(c.observations(), 3);
  EXPECT_EQ(c.Predict(1), 3);
}

TEST(KalmanPredictorTest, Log1pModeFiltersInLogSpace) {
  PredictorConfig cfg;
  cfg.log1p = true;
  // A steady value is reproduced exactly.
  LoadPredictor steady(cfg);
  for (int i = 0; i < 5; ++i) steady.Observe(100);
  EXPECT_NEAR(steady.Predict(1), 100, 1e-9);
  // Exponential growth is linear in log1p space, so the filter follows it.
  LoadPredictor growth(cfg);
  for (int t = 0; t < 80; ++t) growth.Observe(std::expm1(0.1 * t));
  EXPECT_NEAR(growth.Predict(1), std::expm1(0.1 * 80), 1e-3 * std::expm1(0.1 * 80));
  EXPECT_NEAR(growth.Predict(3), std::expm1(0.1 * 82), 1e-3 * std::expm1(0.1 * 82));
  // First-order spread: exp(level) x the log-space spread.
  HandKalman hand;
  LoadPredictor mapped(cfg);
  for (double v : {10.0, 20.0, 30.0}) {
    mapped.Observe(v);
    hand.Observe(std::log1p(v));
  }
  EXPECT_NEAR(mapped.ForecastStddev(), hand.Stddev() * std::exp(hand.l + hand.t), 1e-9);
  // Negative values count as 0 in log space.
  LoadPredictor negative(cfg);
  negative.Observe(-5);
  EXPECT_EQ(negative.Predict(1), 0);
}

TEST(SimplePredictorTest, ConstantAndMovingAverage) {
  LoadPredictor c(Kind(PredictorKind::kConstant));
  LoadPredictor m(Kind(PredictorKind::kMovingAverage, 3));
  for (double v : {1.0, 2.0, 3.0, 4.0}) {
    c.Observe(v);
    m.Observe(v);
  }
  EXPECT_EQ(c.Predict(1), 4);
  EXPECT_EQ(c.Predict(7), 4);
  EXPECT_DOUBLE_EQ(m.Predict(1), 3);  // mean of 2, 3, 4
  EXPECT_DOUBLE_EQ(m.Predict(7), 3);
  EXPECT_DOUBLE_EQ(m.ForecastStddev(), 1);                       // sample std of 2, 3, 4
  EXPECT_NEAR(c.ForecastStddev(), std::sqrt(5.0 / 3.0), 1e-12);  // of 1, 2, 3, 4
  LoadPredictor one(Kind(PredictorKind::kMovingAverage, 3));
  one.Observe(8);
  EXPECT_EQ(one.Predict(1), 8);
  EXPECT_EQ(one.ForecastStddev(), 0);  // fewer than 2 values
}

TEST(BucketByIntervalTest, EmitsEmptyMiddleBuckets) {
  Workload wl;
  auto add = [&](double seconds, int isl, int osl) {
    Request r;
    r.arrival = Time::Zero() + Duration::FromSecondsF(seconds);
    r.isl = isl;
    r.osl = osl;
    wl.requests.push_back(r);
  };
  add(0.0, 100, 10);
  add(9.999, 300, 30);
  add(35.0, 50, 5);
  const std::vector<IntervalLoad> b = BucketByInterval(wl, Duration::Seconds(10));
  ASSERT_EQ(b.size(), 4u);
  EXPECT_EQ(b[0].requests, 2);
  EXPECT_EQ(b[0].mean_isl, 200);
  EXPECT_EQ(b[0].mean_osl, 20);
  for (int i : {1, 2}) {
    EXPECT_EQ(b[i].requests, 0) << i;
    EXPECT_EQ(b[i].mean_isl, 0) << i;
  }
  EXPECT_EQ(b[3].requests, 1);
  EXPECT_EQ(b[3].mean_isl, 50);
  EXPECT_TRUE(BucketByInterval(Workload{}, Duration::Seconds(10)).empty());
}

}  // namespace
}  // namespace dynamo::planner
