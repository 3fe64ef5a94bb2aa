#pragma once
// The dynamo-profile subcommands: argument structs filled by CLI11 in dynamo_profile_main.cc,
// and the functions that run them and render their output.

#include <cstdint>
#include <string>
#include <vector>

#include "core/status.h"

namespace dynamo::cli {

struct ProfileRunArgs {
  std::string backend = "cpu";
  std::vector<std::string> models;
  std::vector<int> tps = {1};
  std::string out;
  bool quick = false;
  std::vector<std::string> dtypes;  // GEMM dtypes; default bf16 (+fp8 where supported) / fp32
  int threads = 0;
  int device_index = 0;
  int repetitions = 10;
  int warmup = 3;
  double max_gflop = 0;  // 0: backend default (CPU: 20 GFLOP per shape)
  int64_t max_points = 0;
  bool no_progress = false;
};
Status ProfileRun(const ProfileRunArgs& args);

struct ImportArgs {
  std::string dir;
  std::string gpu;
  std::string out;
  std::string framework = "vllm";
};
Status ProfileImport(const ImportArgs& args);

Status ProfileShow(const std::string& db, const std::string& device, bool json);
Status ProfileUpgrade(const std::string& db);

struct QueryArgs {
  std::string db;  // empty with gpu set: analytic mode
  std::string gpu;
  std::string device;
  std::string op;
  std::string dtype = "bf16";
  std::string kv_dtype;  // default: dtype
  int64_t m = 0, n = 0, k = 0;
  int64_t batch = 1, q_len = 0, kv_len = 0, heads = 0, kv_heads = 0, head_dim = 128;
  int64_t gpus = 0, bytes = 0;
  bool json = false;
};
Status ProfileQuery(const QueryArgs& args);

struct EstimateArgs {
  std::string db;
  std::string gpu;
  std::string device;
  std::string model;
  int tp = 1, pp = 1, ep = 1;
  std::string dtype = "bf16";
  std::string kv_dtype;
  std::vector<std::string> prefill;  // "Q" or "Q:KV" per chunk
  int64_t decode = 0;                // decode sequences
  int64_t decode_kv = 1024;          // mean KV length of the decode sequences
  double gpu_memory_utilization = 0.9;
  int64_t block_size = 16;
  int64_t max_num_batched_tokens = 8192;
  int64_t max_num_seqs = 256;
  bool json = false;
};
Status ProfileEstimate(const EstimateArgs& args);

struct ValidateArgs {
  std::string db;
  std::string device;
  std::string model = "qwen2.5-0.5b";
  int threads = 0;
  int repetitions = 5;
  bool json = false;
};
// CPU only: StepLatency predictions from a CPU database against directly timed steps.
Status ProfileValidate(const ValidateArgs& args);

}  // namespace dynamo::cli
