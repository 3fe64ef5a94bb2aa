#pragma once
// Imports NVIDIA AIConfigurator's kernel tables (CSV, latency in milliseconds) laid out as
// <dir>/{gemm,context_attention,generation_attention,custom_allreduce}_perf_<framework>_<ver>.csv
// and <dir>/nccl_perf_nccl_<ver>.csv into a performance database, mapping their dtype and
// column names to ours:
//   gemm_dtype bfloat16|float16|fp8|nvfp4 -> bf16|fp16|fp8|fp4 (fp8_block and others skipped)
//   context attention: isl -> q_len, isl + step (cached prefix) -> kv_len
//   generation attention: isl + step -> kv_len (step is the past KV length)
//   nccl: message_size is an element count -> bytes = message_size x element size; "half"
//     -> bf16 (same width and speed), "int8" -> fp8 (1-byte elements)
//   custom_allreduce (vLLM's, CUDA-graph variant) -> collective allreduce, impl "custom"
// Rows with the same key (repeated measurements) are merged: median, p10, p90, count.

#include <string>
#include <vector>

#include "core/perf/perf_db.h"
#include "core/status.h"

namespace dynamo::profiler {

struct ImportOptions {
  std::string dir;
  std::string gpu;                 // hardware catalog name, e.g. "h200_sxm"
  std::string framework = "vllm";  // which framework's tables: vllm | trtllm | sglang
};

struct ImportReport {
  std::string device_name;
  struct File {
    std::string name;
    int64_t lines = 0;    // data lines read
    int64_t rows = 0;     // rows written after merging duplicates
    int64_t skipped = 0;  // lines of a dtype/variant we do not model
    std::string skip_reason;
  };
  std::vector<File> files;
  int64_t total_rows() const;
};

// Parses every table first, then writes all rows in one transaction: an error leaves the
// database unchanged. Errors name the file, line and column.
StatusOr<ImportReport> ImportAiconfigurator(const ImportOptions& options, perf::PerfDb& db);

// Parses the tables without writing (tests, accuracy reports).
StatusOr<std::vector<perf::PerfRow>> ReadAiconfiguratorTables(const ImportOptions& options,
                                                              ImportReport* report);

}  // namespace dynamo::profiler
