#include "runtime/api/prometheus.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>
#include <vector>

namespace dynamo::api {
namespace {

TEST(PrometheusTest, RenderGolden) {
  Registry r;
  Counter& ok = r.AddCounter("dynamo_frontend_requests_total", "Total requests.",
                             {{"model", "m"}, {"status", "ok"}});
  Gauge& inflight = r.AddGauge("dynamo_frontend_inflight_requests", "In flight.\nSee \\docs.");
  Counter& err = r.AddCounter("dynamo_frontend_requests_total", "Help of a later series is unused.",
                              {{"model", "m"}, {"status", "error"}});
  Histogram& ttft = r.AddHistogram("ttft_seconds", "TTFT.", {0.25, 1, 10}, {{"model", "m"}});
  ok.Inc();
  ok.Inc(2);
  inflight.Set(5);
  inflight.Add(-1.5);
  for (double v : {0.125, 0.25, 2.0, 100.0}) ttft.Observe(v);
  (void)err;
  const std::string expected =
      "# HELP dynamo_frontend_requests_total Total requests.\n"
      "# TYPE dynamo_frontend_requests_total counter\n"
      "dynamo_frontend_requests_total{model=\"m\",status=\"ok\"} 3\n"
      "dynamo_frontend_requests_total{model=\"m\",status=\"error\"} 0\n"
      "# HELP dynamo_frontend_inflight_requests In flight.\\nSee \\\\docs.\n"
      "# TYPE dynamo_frontend_inflight_requests gauge\n"
      "dynamo_frontend_inflight_requests 3.5\n"
      "# HELP ttft_seconds TTFT.\n"
      "# TYPE ttft_seconds histogram\n"
      "ttft_seconds_bucket{model=\"m\",le=\"0.25\"} 2\n"
      "ttft_seconds_bucket{model=\"m\",le=\"1\"} 2\n"
      "ttft_seconds_bucket{model=\"m\",le=\"10\"} 3\n"
      "ttft_seconds_bucket{model=\"m\",le=\"+Inf\"} 4\n"
      "ttft_seconds_sum{model=\"m\"} 102.375\n"
      "ttft_seconds_count{model=\"m\"} 4\n";
  EXPECT_EQ(r.Render(), expected);
}

TEST(PrometheusTest, EmptyRegistryRendersNothing) { EXPECT_EQ(Registry().Render(), ""); }

TEST(PrometheusTest, HistogramBucketsAreCumulativeWithInclusiveBounds) {
  Histogram h({1, 2, 4});
  for (double v : {-3.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5, 1e9}) h.Observe(v);
  EXPECT_EQ(h.count(), 9u);
  EXPECT_DOUBLE_EQ(h.sum(), -3.0 + 0.5 + 1 + 1.5 + 2 + 3 + 4 + 4.5 + 1e9);
  // <= 1: -3, 0.5, 1; (1, 2]: 1.5, 2; (2, 4]: 3, 4; +Inf: 4.5, 1e9.
  EXPECT_EQ(h.bucket_counts(), (std::vector<uint64_t>{3, 2, 2, 2}));
  Registry r;
  Histogram& rh = r.AddHistogram("h", "x", {1, 2, 4});
  for (double v : {-3.0, 0.5, 1.0, 1.5, 2.0, 3.0, 4.0, 4.5, 1e9}) rh.Observe(v);
  const std::string text = r.Render();
  EXPECT_NE(text.find("h_bucket{le=\"1\"} 3\nh_bucket{le=\"2\"} 5\nh_bucket{le=\"4\"} 7\n"
                      "h_bucket{le=\"+Inf\"} 9\nh_sum 1000000013.5\nh_count 9\n"),
            std::string::npos)
      << text;
}

TEST(PrometheusTest, NanObservationGoesToInfBucketOnly) {
  Histogram h({1, 2});
  h.Observe(std::numeric_limits<double>::quiet_NaN());
  EXPECT_EQ(h.bucket_counts(), (std::vector<uint64_t>{0, 0, 1}));
  EXPECT_TRUE(std::isnan(h.sum()));
}

TEST(PrometheusTest, LabelValuesAreEscaped) {
  Registry r;
  r.AddCounter("c_total", "h", {{"path", "a\"b\\c\nd"}, {"unicode", "mod\xc3\xa8le"}}).Inc(7);
  EXPECT_EQ(r.Render(),
            "# HELP c_total h\n# TYPE c_total counter\n"
            "c_total{path=\"a\\\"b\\\\c\\nd\",unicode=\"mod\xc3\xa8le\"} 7\n");
}

TEST(PrometheusTest, NumbersRenderShortestRoundTrip) {
  Registry r;
  r.AddGauge("a", "h").Set(1e-05);
  r.AddGauge("b", "h").Set(0.1);
  r.AddGauge("c", "h").Set(1e21);
  r.AddGauge("d", "h").Set(std::numeric_limits<double>::infinity());
  r.AddGauge("e", "h").Set(-std::numeric_limits<double>::infinity());
  r.AddGauge("f", "h").Set(std::numeric_limits<double>::quiet_NaN());
  r.AddGauge("g", "h").Set(-2);
  r.AddGauge("i", "h").Set(1.0 / 3);
  const std::string text = r.Render();
  for (const char* line : {"\na 1e-05\n", "\nb 0.1\n", "\nc 1e+21\n", "\nd +Inf\n", "\ne -Inf\n",
                           "\nf NaN\n", "\ng -2\n", "\ni 0.3333333333333333\n"}) {
    EXPECT_NE(text.find(line), std::string::npos) << line << " in\n" << text;
  }
}

TEST(PrometheusTest, ReferencesStayValidAsMetricsAreAdded) {
  Registry r;
  Counter& first = r.AddCounter("first_total", "h");
  std::vector<Counter*> more;
  for (int i = 0; i < 1000; ++i) {
    more.push_back(&r.AddCounter("many_total", "h", {{"i", std::to_string(i)}}));
  }
  first.Inc(4);
  for (Counter* c : more) c->Inc();
  EXPECT_EQ(first.value(), 4);
  EXPECT_NE(r.Render().find("many_total{i=\"999\"} 1\n"), std::string::npos);
  Registry moved = std::move(r);
  first.Inc();
  EXPECT_NE(moved.Render().find("first_total 5\n"), std::string::npos);
}

TEST(PrometheusTest, LogBucketsEndpointsAndMonotonicity) {
  struct Case {
    double min, max;
    int count;
  };
  // Dynamo's frontend histograms, plus a range too narrow for 3-digit rounding.
  for (const Case c : {Case{0.001, 480, 18}, Case{0.001, 2, 13}, Case{50, 128000, 12},
                       Case{50, 32000, 10}, Case{1, 512, 10}, Case{1, 2, 2}, Case{1, 1.001, 50}}) {
    const std::vector<double> b = LogBuckets(c.min, c.max, c.count);
    ASSERT_EQ(b.size(), static_cast<size_t>(c.count));
    EXPECT_EQ(b.front(), c.min);
    EXPECT_EQ(b.back(), c.max);
    const double step = std::log(c.max / c.min) / (c.count - 1);
    for (size_t i = 1; i < b.size(); ++i) {
      ASSERT_LT(b[i - 1], b[i]) << c.min << ".." << c.max << " at " << i;
      // Log-spaced up to 3-significant-digit rounding (relative error <= 0.5%).
      const double ideal = c.min * std::exp(step * static_cast<double>(i));
      EXPECT_NEAR(b[i] / ideal, 1.0, 0.005) << i;
    }
    Histogram h(b);  // valid bounds
    EXPECT_EQ(h.bounds(), b);
  }
  const std::vector<double> ttft = LogBuckets(0.001, 480, 18);
  EXPECT_EQ(ttft[1], 0.00216);  // 0.001 * (480 / 0.001)^(1/17) = 0.0021586...
}

TEST(PrometheusDeathTest, PreconditionViolationsAreChecks) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("x", "h");
        r.AddGauge("x", "h");
      },
      "CHECK failed");
  EXPECT_DEATH(Registry().AddCounter("1bad", "h"), "CHECK failed");
  EXPECT_DEATH(Registry().AddCounter("bad-name", "h"), "CHECK failed");
  EXPECT_DEATH(Registry().AddGauge("g", "h", {{"__reserved", "v"}}), "CHECK failed");
  EXPECT_DEATH(Registry().AddHistogram("h", "h", {1, 2}, {{"le", "v"}}), "CHECK failed");
  EXPECT_DEATH(
      {
        Registry r;
        r.AddCounter("dup_total", "h", {{"a", "1"}});
        r.AddCounter("dup_total", "h", {{"a", "1"}});
      },
      "CHECK failed");
  EXPECT_DEATH(Counter().Inc(-1), "CHECK failed");
  EXPECT_DEATH(Histogram({2, 1}), "CHECK failed");
  EXPECT_DEATH(LogBuckets(0, 1, 5), "CHECK failed");
  EXPECT_DEATH(LogBuckets(1, 2, 1), "CHECK failed");
}

}  // namespace
}  // namespace dynamo::api
