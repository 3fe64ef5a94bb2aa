#include "profiler/aiconfigurator_import.h"

#include <gtest/gtest.h>

#include <sys/stat.h>

#include <fstream>
#include <map>

#include "core/perf/perf_model.h"
#include "tests/core/test_util.h"

namespace dynamo::profiler {
namespace {

std::string Dir() {
  const std::string d = testing::TempDir() + "/aic";
  ::mkdir(d.c_str(), 0755);
  return d;
}

void Write(const std::string& path, const std::string& text) { std::ofstream(path) << text; }

TEST(AiconfiguratorImportTest, MapsColumnsDtypesAndUnits) {
  const std::string d = Dir();
  Write(d + "/gemm_perf_vllm_0.9.0.csv",  // an older version, ignored
        "kernel_source,gemm_dtype,m,n,k,latency\nx,bfloat16,1,1,1,99\n");
  Write(d + "/gemm_perf_vllm_0.14.0.csv",
        "kernel_source,gemm_dtype,m,n,k,latency\n"
        "vllm_default,bfloat16,16,4096,4096,0.0125\n"
        "vllm_default,fp8,16,4096,4096,0.0100\n"
        "vllm_default,fp8_block,16,4096,4096,0.0200\n");
  Write(d + "/context_attention_perf_vllm_0.14.0.csv",
        "kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,attn_dtype,"
        "kv_cache_dtype,step,latency\n"
        "fa,2,512,32,8,128,bfloat16,fp8,0,0.05\n");
  Write(d + "/generation_attention_perf_vllm_0.14.0.csv",
        "kernel_source,batch_size,isl,num_heads,num_key_value_heads,head_dim,attn_dtype,"
        "kv_cache_dtype,step,latency\n"
        "fa,64,1,32,8,128,bfloat16,bfloat16,1023,0.03\n");
  Write(d + "/nccl_perf_nccl_2.26.2.csv",
        "kernel_source,op_name,nccl_dtype,num_gpus,message_size,latency\n"
        "NCCL,all_reduce,half,8,1024,0.016\n"
        "NCCL,all_reduce,half,8,1024,0.018\n"
        "NCCL,all_reduce,half,8,1024,0.020\n");
  Write(d + "/custom_allreduce_perf_vllm_0.14.0.csv",
        "kernel_source,backend,allreduce_dtype,num_gpus,message_size,latency\n"
        "c,vllm_graph,bfloat16,8,1024,0.007\nc,vllm_eager,bfloat16,8,1024,0.019\n");
  ImportReport report;
  auto rows = ReadAiconfiguratorTables({d, "h200_sxm", "vllm"}, &report);
  ASSERT_TRUE(rows.ok()) << rows.status().message();
  ASSERT_EQ(rows.value().size(), 6u);
  std::map<std::string, perf::PerfRow> by_key;
  for (const auto& r : rows.value()) by_key[perf::ShapeKey(r.shape, r.impl)] = r;
  EXPECT_DOUBLE_EQ(by_key.at("gemm|bf16|16|4096|4096").timing.median_us, 12.5);
  EXPECT_DOUBLE_EQ(by_key.at("gemm|fp8|16|4096|4096").timing.median_us, 10.0);
  // isl 512, step 0 -> q 512, kv 512; generation step 1023 -> kv 1024.
  EXPECT_TRUE(by_key.count("attn_context|bf16|fp8|2|512|512|32|8|128"));
  EXPECT_TRUE(by_key.count("attn_decode|bf16|bf16|64|1024|32|8|128"));
  // message_size counts elements: 1024 halves = 2048 bytes; repeats merged.
  const perf::PerfRow& ar = by_key.at("collective|allreduce|bf16|nccl|8|2048");
  EXPECT_DOUBLE_EQ(ar.timing.median_us, 18);
  EXPECT_DOUBLE_EQ(ar.timing.p10_us, 16);
  EXPECT_DOUBLE_EQ(ar.timing.p90_us, 20);
  EXPECT_EQ(ar.timing.samples, 3);
  EXPECT_DOUBLE_EQ(by_key.at("collective|allreduce|bf16|custom|8|2048").timing.median_us, 7);
  EXPECT_EQ(ar.provenance, perf::Provenance::kImported);
  EXPECT_NE(ar.source.find("nccl_perf_nccl_2.26.2.csv"), std::string::npos);
  // The fp8_block line and the eager all-reduce are skipped and counted.
  int64_t skipped = 0;
  for (const auto& f : report.files) skipped += f.skipped;
  EXPECT_EQ(skipped, 2);
}

TEST(AiconfiguratorImportTest, ErrorsNameFileLineAndColumn) {
  const std::string d = Dir();
  Write(d + "/gemm_perf_vllm_0.14.0.csv",
        "kernel_source,gemm_dtype,m,n,k,latency\nx,bfloat16,16,4096,4096,0.01\n"
        "x,bfloat16,16,4096,abc,0.01\n");
  auto r = ReadAiconfiguratorTables({d, "h200_sxm", "vllm"}, nullptr);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(),
            "gemm_perf_vllm_0.14.0.csv:3: column k: 'abc' is not a non-negative integer");
  Write(d + "/gemm_perf_vllm_0.14.0.csv", "kernel_source,gemm_dtype,m,n,latency\nx,bf16,1,2,3\n");
  r = ReadAiconfiguratorTables({d, "h200_sxm", "vllm"}, nullptr);
  EXPECT_NE(r.status().message().find("gemm_perf_vllm_0.14.0.csv:1: missing column 'k'"),
            std::string::npos)
      << r.status().message();
  Write(d + "/gemm_perf_vllm_0.14.0.csv",
        "kernel_source,gemm_dtype,m,n,k,latency\nx,bfloat16,16,4096,4096,-2\n");
  r = ReadAiconfiguratorTables({d, "h200_sxm", "vllm"}, nullptr);
  EXPECT_NE(r.status().message().find("column latency: latency '-2' must be a positive"),
            std::string::npos)
      << r.status().message();
  auto missing = ReadAiconfiguratorTables({d + "/nope", "h200_sxm", "vllm"}, nullptr);
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
}

TEST(AiconfiguratorImportTest, UnknownGpuOrFrameworkIsRefusedAndTheDatabaseUntouched) {
  const std::string d = Dir();
  Write(d + "/gemm_perf_vllm_0.14.0.csv",
        "kernel_source,gemm_dtype,m,n,k,latency\nx,bfloat16,16,4096,4096,0.01\n");
  const std::string path = d + "/db.sqlite";
  std::remove(path.c_str());
  auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
  auto bad_gpu = ImportAiconfigurator({d, "h900", "vllm"}, *db);
  ASSERT_FALSE(bad_gpu.ok());
  EXPECT_NE(bad_gpu.status().message().find("--gpu"), std::string::npos);
  auto bad_fw = ImportAiconfigurator({d, "h200_sxm", "tgi"}, *db);
  EXPECT_NE(bad_fw.status().message().find("use vllm, trtllm or sglang"), std::string::npos);
  EXPECT_TRUE(db->Devices().value().empty());
  auto ok = ImportAiconfigurator({d, "h200_sxm", "vllm"}, *db);
  ASSERT_TRUE(ok.ok()) << ok.status().message();
  EXPECT_EQ(ok.value().total_rows(), 1);
  const auto devices = db->Devices().value();
  ASSERT_EQ(devices.size(), 1u);
  EXPECT_EQ(devices[0].catalog_gpu, "h200_sxm");
  EXPECT_EQ(devices[0].kind, "imported");
}

TEST(AiconfiguratorImportTest, RealH200TablesImportWhole) {
  const std::string dir = testing::SharedData("perf-reference/aiconfigurator/h200_sxm");
  SKIP_WITHOUT(dir);
  const std::string path = testing::TempDir() + "/h200.sqlite";
  std::remove(path.c_str());
  auto db = perf::PerfDb::Open(path, perf::PerfDb::Mode::kReadWrite).value();
  auto report = ImportAiconfigurator({dir, "h200_sxm", "vllm"}, *db);
  ASSERT_TRUE(report.ok()) << report.status().message();
  // 71,484 GEMM + 10,098 context + 10,870 generation + 504 NCCL + 69 custom all-reduce keys.
  EXPECT_EQ(report.value().total_rows(), 93025);
  auto model = perf::PerfModel::FromDb(*db);
  ASSERT_TRUE(model.ok()) << model.status().message();
  auto l = model.value().Lookup(perf::GemmShape{DType::kBf16, 4096, 4096, 4096}).value();
  EXPECT_EQ(l.source, perf::LatencySource::kMeasured);
  EXPECT_NEAR(l.us, 168.732, 1e-6);  // the table's 0.168732 ms
}

}  // namespace
}  // namespace dynamo::profiler
