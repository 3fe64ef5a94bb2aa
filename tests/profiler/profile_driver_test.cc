#include "profiler/profile_driver.h"

#include <gtest/gtest.h>

#include <set>

#include "core/model/model_catalog.h"
#include "core/perf/roofline.h"
#include "profiler/shape_grid.h"
#include "tests/core/test_util.h"

namespace dynamo::profiler {
namespace {

// A backend whose "kernels" take a latency derived from the shape; no clocks involved.
class FakeBackend final : public KernelBackend {
 public:
  FakeBackend() {
    device_.name = "fake:0";
    device_.kind = "cpu";
    device_.peak_flops_fp32 = 1e12;
    device_.memory_bandwidth_bytes_per_s = 1e11;
  }
  const DeviceInfo& device() const override { return device_; }
  bool Supports(const perf::OpShape& s, std::string* why) const override {
    if (std::holds_alternative<perf::CollectiveShape>(s)) {
      *why = "one process";
      return false;
    }
    return true;
  }
  StatusOr<perf::Timing> Measure(const perf::OpShape& s, const MeasureOptions&) override {
    ++measured;
    if (fail_after >= 0 && measured > fail_after) return Internal("device lost");
    const double us = 1 + static_cast<double>(perf::ShapeKey(s, "").size());
    return perf::Timing{us, us * 0.9, us * 1.1, 5};
  }
  StatusOr<std::vector<HostOverheadSample>> MeasureHostOverhead(const MeasureOptions&) override {
    ++host_calls;
    return std::vector<HostOverheadSample>{{perf::HostOverheadKind::kLaunch, {2, 1, 3, 100}},
                                           {perf::HostOverheadKind::kSync, {5, 4, 6, 100}}};
  }
  int64_t measured = 0;
  int64_t fail_after = -1;
  int host_calls = 0;

 private:
  DeviceInfo device_;
};

std::vector<perf::OpShape> Grid() {
  GridOptions o;
  o.quick = true;
  o.tps = {1, 2};
  o.gemm_dtypes = {DType::kFp32};
  o.attention_dtype = DType::kFp32;
  return BuildShapeGrid({LoadModel("llama-3.1-8b").value()}, o);
}

TEST(ProfileDriverTest, MeasuresEverySupportedShapeAndCountsTheRest) {
  const std::string path = testing::TempDir() + "/run.sqlite";
  std::remove(path.c_str());
  auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
  FakeBackend backend;
  const auto grid = Grid();
  int64_t collectives = 0;
  for (const auto& s : grid) collectives += std::holds_alternative<perf::CollectiveShape>(s);
  ASSERT_GT(collectives, 0);
  std::vector<Progress> progress;
  RunOptions o;
  o.on_progress = [&](const Progress& p) { progress.push_back(p); };
  auto r = RunProfile(backend, grid, *db, o);
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().measured, static_cast<int64_t>(grid.size()) - collectives);
  EXPECT_EQ(r.value().unsupported, collectives);
  EXPECT_EQ(r.value().unsupported_reasons.at("one process"), collectives);
  EXPECT_TRUE(r.value().host_overhead_measured);
  ASSERT_EQ(progress.size(), grid.size());
  EXPECT_EQ(progress.back().done, progress.back().total);
  EXPECT_EQ(db->Rows(1).value().size(), grid.size() - static_cast<size_t>(collectives));
  EXPECT_EQ(db->HostOverheads(1).value().size(), 2u);
  const auto devices = db->Devices().value();
  EXPECT_EQ(devices[0].tool_version.rfind("dynamo-profile ", 0), 0u);
}

TEST(ProfileDriverTest, AnInterruptedRunResumesWhereItStopped) {
  const std::string path = testing::TempDir() + "/resume.sqlite";
  std::remove(path.c_str());
  const auto grid = Grid();
  {
    auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
    FakeBackend crashing;
    crashing.fail_after = 10;  // the device fails on the 11th measurement
    auto r = RunProfile(crashing, grid, *db, {});
    ASSERT_FALSE(r.ok());
    EXPECT_NE(r.status().message().find("device lost"), std::string::npos);
    EXPECT_EQ(db->Rows(1).value().size(), 10u);  // every finished point kept, nothing partial
  }
  auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
  FakeBackend backend;
  auto r = RunProfile(backend, grid, *db, {});
  ASSERT_TRUE(r.ok()) << r.status().message();
  EXPECT_EQ(r.value().already_measured, 10);
  EXPECT_EQ(backend.host_calls, 0);  // host overhead kept from the first run
  EXPECT_EQ(r.value().measured + r.value().already_measured + r.value().unsupported,
            static_cast<int64_t>(grid.size()));
  // A third run has nothing left to do.
  FakeBackend idle;
  auto again = RunProfile(idle, grid, *db, {});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(idle.measured, 0);
}

TEST(ProfileDriverTest, StopRequestEndsCleanly) {
  const std::string path = testing::TempDir() + "/stop.sqlite";
  std::remove(path.c_str());
  auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
  FakeBackend backend;
  RunOptions o;
  int polls = 0;
  o.should_stop = [&] { return ++polls > 5; };
  auto r = RunProfile(backend, Grid(), *db, o);
  ASSERT_TRUE(r.ok());
  EXPECT_TRUE(r.value().interrupted);
  EXPECT_EQ(r.value().measured, 5);
}

TEST(ShapeGridTest, CoversTheShapesTheStepModelAsksFor) {
  GridOptions o;
  o.quick = true;
  o.tps = {1, 2, 3};  // 3 does not divide llama's heads: skipped
  auto grid = BuildShapeGrid({LoadModel("llama-3.1-8b").value()}, o);
  std::set<std::string> keys;
  for (const auto& s : grid) keys.insert(perf::ShapeKey(s, ""));
  EXPECT_EQ(keys.size(), grid.size());  // no duplicates
  // QKV at tp 1: (32 + 2 x 8) x 128 = 6144 outputs over 4096 inputs; at tp 2: 3072.
  EXPECT_TRUE(keys.count("gemm|bf16|128|6144|4096"));
  EXPECT_TRUE(keys.count("gemm|bf16|128|3072|4096"));
  EXPECT_FALSE(keys.count("gemm|bf16|128|2048|4096"));  // would be tp 3
  // Decode attention at tp 2: 16 heads, 4 KV heads.
  EXPECT_TRUE(keys.count("attn_decode|bf16|bf16|8|2048|16|4|128"));
  // Context attention with a cached prefix.
  EXPECT_TRUE(keys.count("attn_context|bf16|bf16|1|512|2560|32|8|128"));
  EXPECT_TRUE(keys.count("collective|allreduce|bf16|nccl|2|1048576"));  // 128 tokens x 4096 x 2
  // Deterministic.
  auto again = BuildShapeGrid({LoadModel("llama-3.1-8b").value()}, o);
  ASSERT_EQ(again.size(), grid.size());
  for (size_t i = 0; i < grid.size(); ++i) {
    EXPECT_EQ(perf::ShapeKey(grid[i], ""), perf::ShapeKey(again[i], ""));
  }
  // The FLOP cap drops the large shapes.
  o.max_flops = 1e9;
  for (const auto& s : BuildShapeGrid({LoadModel("llama-3.1-8b").value()}, o)) {
    EXPECT_LE(perf::WorkOf(s).flops, 1e9);
  }
}

}  // namespace
}  // namespace dynamo::profiler
