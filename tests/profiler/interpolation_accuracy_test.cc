// Leave-one-out accuracy of the database interpolation, and the analytic mode's error, on the
// imported AIConfigurator H200 tables (../shared/data; skipped when absent). The figures are
// printed for the issue note and docs/perf-model.md.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdio>

#include "core/hardware/gpu_spec.h"
#include "core/perf/perf_model.h"
#include "profiler/aiconfigurator_import.h"
#include "tests/core/test_util.h"

namespace dynamo {
namespace {

struct Stats {
  size_t n = 0;
  double median = 0, p90 = 0;
};

Stats Summarize(std::vector<double> errors) {
  Stats s;
  s.n = errors.size();
  if (errors.empty()) return s;
  std::sort(errors.begin(), errors.end());
  s.median = errors[errors.size() / 2];
  s.p90 = errors[std::min(errors.size() - 1, errors.size() * 9 / 10)];
  return s;
}

class H200Tables : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const std::string dir = testing::SharedData("perf-reference/aiconfigurator/h200_sxm");
    if (dir.empty()) return;
    profiler::ImportOptions o{dir, "h200_sxm", "vllm"};
    auto rows = profiler::ReadAiconfiguratorTables(o, nullptr);
    ASSERT_TRUE(rows.ok()) << rows.status().message();
    perf::DeviceInfo d;
    d.name = "h200";
    d.catalog_gpu = "h200_sxm";
    auto m = perf::PerfModel::FromRows(d, rows.value(), {}, "h200 tables");
    ASSERT_TRUE(m.ok()) << m.status().message();
    model_ = new perf::PerfModel(std::move(m.value()));
  }
  static void TearDownTestSuite() {
    delete model_;
    model_ = nullptr;
  }
  void SetUp() override {
    SKIP_WITHOUT(testing::SharedData("perf-reference/aiconfigurator/h200_sxm"));
  }
  static perf::PerfModel* model_;
};
perf::PerfModel* H200Tables::model_ = nullptr;

TEST_F(H200Tables, LeaveOneOutInterpolationIsWithinTarget) {
  for (const char* family : {"gemm", "attn_context", "attn_decode"}) {
    std::vector<double> all, interior;
    for (const perf::LooPoint& p : model_->LeaveOneOut(family)) {
      all.push_back(p.relative_error());
      if (!p.frontier) interior.push_back(p.relative_error());
    }
    const Stats a = Summarize(all), i = Summarize(interior);
    std::printf(
        "LOO %-13s all: n=%zu median=%.2f%% p90=%.2f%% | interior: n=%zu median=%.2f%% "
        "p90=%.2f%%\n",
        family, a.n, 100 * a.median, 100 * a.p90, i.n, 100 * i.median, 100 * i.p90);
    ASSERT_GT(a.n, 1000u) << family;
    EXPECT_LE(a.median, 0.05) << family;
    EXPECT_LE(a.p90, 0.15) << family;
  }
}

TEST_F(H200Tables, AnalyticModeErrorAgainstMeasured) {
  auto gpu = LoadGpu("h200_sxm");
  ASSERT_TRUE(gpu.ok());
  const perf::PerfModel analytic = perf::PerfModel::Analytic(gpu.value());
  std::map<std::string, std::vector<double>> errors;
  for (const perf::PerfRow& r : model_->rows()) {
    auto l = analytic.Lookup(r.shape);
    ASSERT_TRUE(l.ok());
    EXPECT_EQ(l.value().source, perf::LatencySource::kAnalytic);
    std::string family(perf::OpFamilyName(r.shape));
    if (auto* c = std::get_if<perf::CollectiveShape>(&r.shape)) {
      family = std::string(perf::CollectiveName(c->op)) + "/" + r.impl;
    }
    errors[family].push_back(std::abs(l.value().us / r.timing.median_us - 1));
  }
  for (auto& [family, e] : errors) {
    const Stats s = Summarize(e);
    std::printf("analytic %-22s n=%zu median=%.1f%% p90=%.1f%%\n", family.c_str(), s.n,
                100 * s.median, 100 * s.p90);
    // Not a target, a sanity bound: analytic figures within a factor of ~2 at the median.
    EXPECT_LT(s.median, 1.0) << family;
  }
}

}  // namespace
}  // namespace dynamo
