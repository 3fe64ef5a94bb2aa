#include "core/perf/perf_model.h"

#include <gtest/gtest.h>

#include "core/perf/analytic_model.h"

namespace dynamo::perf {
namespace {

GpuSpec H100() { return LoadGpu("h100_sxm").value(); }

PerfRow Row(OpShape s, double us, std::string impl = "") {
  return {s, std::move(impl), {us, us, us, 1}, Provenance::kImported, "test"};
}

// A synthetic device whose GEMMs run at exactly half the roofline.
PerfModel HalfRooflineGemms() {
  DeviceInfo d;
  d.name = "synthetic";
  d.catalog_gpu = "h100_sxm";
  const DeviceRoofline roof = DeviceRoofline::FromGpu(H100());
  std::vector<PerfRow> rows;
  for (int64_t m : {1, 16, 256, 4096}) {
    for (int64_t n : {1024, 4096, 16384}) {
      for (int64_t k : {1024, 4096}) {
        GemmShape g{DType::kBf16, m, n, k};
        rows.push_back(Row(g, 2 * RooflineUs(g, roof)));
      }
    }
  }
  rows.push_back(Row(AttnDecodeShape{DType::kBf16, DType::kBf16, 8, 1024, 32, 8, 128}, 50));
  rows.push_back(Row(AttnDecodeShape{DType::kBf16, DType::kBf16, 8, 4096, 32, 8, 128}, 150));
  rows.push_back(
      Row(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 20}, 40, "nccl"));
  rows.push_back(
      Row(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 20}, 30, "custom"));
  rows.push_back(
      Row(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 26}, 600, "nccl"));
  return PerfModel::FromRows(d, rows, {}, "synthetic").value();
}

TEST(PerfModelTest, SourcesMeasuredInterpolatedExtrapolated) {
  const PerfModel m = HalfRooflineGemms();
  const DeviceRoofline roof = m.roofline();
  GemmShape exact{DType::kBf16, 256, 4096, 1024};
  auto l = m.Lookup(exact).value();
  EXPECT_EQ(l.source, LatencySource::kMeasured);
  EXPECT_NEAR(l.us, 2 * RooflineUs(exact, roof), 1e-9);

  GemmShape inside{DType::kBf16, 1000, 3000, 2000};
  l = m.Lookup(inside).value();
  EXPECT_EQ(l.source, LatencySource::kInterpolated);
  EXPECT_NEAR(l.us, 2 * RooflineUs(inside, roof), 1e-6 * l.us);  // constant utilization

  GemmShape outside{DType::kBf16, 16384, 65536, 8192};
  l = m.Lookup(outside).value();
  EXPECT_EQ(l.source, LatencySource::kExtrapolated);
  EXPECT_NEAR(l.us, 2 * RooflineUs(outside, roof), 1e-6 * l.us);  // held efficiency
  EXPECT_FALSE(m.analytic());
  EXPECT_EQ(m.mode(), "database: synthetic");
}

TEST(PerfModelTest, MissingPartitionsBorrowOrFallBackToAnalytic) {
  const PerfModel m = HalfRooflineGemms();
  // fp8 GEMMs borrow the bf16 efficiency (scaled by the fp8 roofline).
  GemmShape fp8{DType::kFp8, 256, 4096, 1024};
  auto l = m.Lookup(fp8).value();
  EXPECT_EQ(l.source, LatencySource::kExtrapolated);
  EXPECT_NEAR(l.us, 2 * RooflineUs(fp8, m.roofline()), 1e-6 * l.us);
  // Head dim 64 decode borrows from head dim 128.
  l = m.Lookup(AttnDecodeShape{DType::kBf16, DType::kBf16, 8, 2048, 32, 8, 64}).value();
  EXPECT_EQ(l.source, LatencySource::kExtrapolated);
  // MLA decode borrows from standard decode attention.
  l = m.Lookup(MlaDecodeShape{DType::kBf16, DType::kBf16, 8, 2048, 16, 512, 64}).value();
  EXPECT_EQ(l.source, LatencySource::kExtrapolated);
  // No context attention rows at all: analytic.
  AttnContextShape ctx{DType::kBf16, DType::kBf16, 1, 512, 512, 32, 8, 128};
  l = m.Lookup(ctx).value();
  EXPECT_EQ(l.source, LatencySource::kAnalytic);
  EXPECT_DOUBLE_EQ(l.us, AnalyticLatencyUs(ctx, m.roofline()));
}

TEST(PerfModelTest, CollectivesTakeTheFastestImplementationThatCoversTheQuery) {
  const PerfModel m = HalfRooflineGemms();
  auto small = m.Lookup(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 20}).value();
  EXPECT_DOUBLE_EQ(small.us, 30);  // custom beats NCCL
  EXPECT_EQ(small.source, LatencySource::kMeasured);
  // Beyond the custom implementation's measured sizes: NCCL.
  auto big = m.Lookup(CollectiveShape{Collective::kAllReduce, DType::kBf16, 8, 1 << 26}).value();
  EXPECT_DOUBLE_EQ(big.us, 600);
}

TEST(PerfModelTest, AnalyticModeSaysSoAndIsMonotonic) {
  const PerfModel m = PerfModel::Analytic(H100());
  EXPECT_TRUE(m.analytic());
  EXPECT_NE(m.mode().find("analytic: h100_sxm"), std::string::npos);
  double last = 0;
  for (int64_t tokens : {1, 64, 512, 4096, 32768}) {
    auto l = m.Lookup(GemmShape{DType::kBf16, tokens, 8192, 8192}).value();
    EXPECT_EQ(l.source, LatencySource::kAnalytic);
    EXPECT_GT(l.us, last);
    last = l.us;
  }
  // fp8 GEMMs are faster than bf16 when compute-bound.
  EXPECT_LT(m.Lookup(GemmShape{DType::kFp8, 8192, 8192, 8192}).value().us,
            m.Lookup(GemmShape{DType::kBf16, 8192, 8192, 8192}).value().us);
  EXPECT_DOUBLE_EQ(m.HostOverheadUs(HostOverheadKind::kStepBase),
                   AnalyticHostOverheadUs(HostOverheadKind::kStepBase));
  EXPECT_FALSE(m.HostOverheadMeasured(HostOverheadKind::kStepBase));
}

TEST(PerfModelTest, InvalidShapesAreErrorsNamingTheField) {
  const PerfModel m = PerfModel::Analytic(H100());
  auto bad = m.Lookup(AttnContextShape{DType::kBf16, DType::kBf16, 1, 512, 100, 32, 8, 128});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("kv_len: 100 is less than q_len 512"), std::string::npos)
      << bad.status().message();
  EXPECT_FALSE(m.Lookup(GemmShape{DType::kBf16, 0, 1, 1}).ok());
  EXPECT_FALSE(m.Lookup(CollectiveShape{Collective::kAllReduce, DType::kBf16, 1, 10}).ok());
}

TEST(PerfModelTest, LeaveOneOutRemovesThePointItPredicts) {
  const PerfModel m = HalfRooflineGemms();
  const auto loo = m.LeaveOneOut("gemm");
  ASSERT_EQ(loo.size(), 24u);
  for (const LooPoint& p : loo) {
    // Constant utilization: every held-out point is recovered exactly from its neighbours.
    EXPECT_NEAR(p.relative_error(), 0, 1e-9) << Describe(p.shape);
  }
  // The grids are restored afterwards.
  EXPECT_EQ(m.Lookup(GemmShape{DType::kBf16, 256, 4096, 1024}).value().source,
            LatencySource::kMeasured);
}

TEST(PerfModelTest, HostOverheadsFromTheDatabaseWin) {
  DeviceInfo d;
  d.name = "x";
  d.catalog_gpu = "h100_sxm";
  auto m = PerfModel::FromRows(
               d, {Row(GemmShape{DType::kBf16, 1, 1, 1}, 5)},
               {{HostOverheadKind::kStepBase, {123, 100, 150, 9}, Provenance::kMeasured, "t"}}, "x")
               .value();
  EXPECT_DOUBLE_EQ(m.HostOverheadUs(HostOverheadKind::kStepBase), 123);
  EXPECT_TRUE(m.HostOverheadMeasured(HostOverheadKind::kStepBase));
}

TEST(PerfModelTest, DeviceWithoutCatalogGpuDerivesItsRooflineFromRows) {
  DeviceInfo d;
  d.name = "cpu:test";
  d.kind = "cpu";
  GemmShape g{DType::kFp32, 512, 512, 512};
  auto m = PerfModel::FromRows(d, {Row(g, 1000)}, {}, "cpu");
  ASSERT_TRUE(m.ok()) << m.status().message();
  EXPECT_NEAR(m.value().roofline().flops_fp32, 2.0 * 512 * 512 * 512 / 1e-3, 1);
  EXPECT_DOUBLE_EQ(m.value().Lookup(g).value().us, 1000);
  DeviceInfo unknown;
  unknown.name = "nothing";
  auto none = PerfModel::FromRows(
      unknown, {Row(CollectiveShape{Collective::kAllReduce, DType::kBf16, 2, 8}, 1)}, {}, "x");
  EXPECT_EQ(none.status().code(), StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace dynamo::perf
