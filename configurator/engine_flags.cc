#include "configurator/engine_flags.h"

#include <algorithm>
#include <array>
#include <charconv>
#include <cmath>
#include <nlohmann/json.hpp>

#include "configurator/model_ids.h"
#include "core/check.h"

namespace dynamo::configurator {
namespace {

// Shortest text that reads back as `v` ("0.9", "0.87", "1").
std::string Number(double v) {
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  DYNAMO_CHECK(ec == std::errc());
  return std::string(buf.data(), end);
}

double RoundTo2(double v) { return std::round(v * 100.0) / 100.0; }

void Add(std::vector<std::string>* flags, std::string flag, std::string value) {
  flags->push_back(std::move(flag));
  flags->push_back(std::move(value));
}
void Add(std::vector<std::string>* flags, std::string flag, int64_t value) {
  Add(flags, std::move(flag), std::to_string(value));
}

// vLLM through Dynamo's worker (python3 -m dynamo.vllm accepts vLLM's engine arguments).
std::vector<std::string> VllmFlags(const Plan& plan, const WorkerPoolSpec& pool,
                                   std::string_view model_id) {
  std::vector<std::string> f;
  Add(&f, "--model", std::string(model_id));
  Add(&f, "--tensor-parallel-size", pool.parallelism.tp);
  Add(&f, "--pipeline-parallel-size", pool.parallelism.pp);
  // vLLM spreads experts over the whole tp (x dp) group; it has no partial expert-parallel size.
  if (pool.parallelism.ep > 1) f.push_back("--enable-expert-parallel");
  Add(&f, "--max-num-seqs", pool.max_num_seqs);
  Add(&f, "--max-num-batched-tokens", pool.max_num_batched_tokens);
  Add(&f, "--block-size", pool.block_size);
  Add(&f, "--gpu-memory-utilization", Number(EngineMemoryFraction(pool, Backend::kVllm)));
  f.push_back(pool.enable_prefix_caching ? "--enable-prefix-caching"
                                         : "--no-enable-prefix-caching");
  f.push_back(pool.enable_chunked_prefill ? "--enable-chunked-prefill"
                                          : "--no-enable-chunked-prefill");
  if (plan.weight_dtype == DType::kFp8) Add(&f, "--quantization", "fp8");
  if (plan.weight_dtype == DType::kFp16) Add(&f, "--dtype", "float16");
  if (plan.weight_dtype == DType::kFp32) Add(&f, "--dtype", "float32");
  if (plan.kv_dtype == DType::kFp8) Add(&f, "--kv-cache-dtype", "fp8");
  if (pool.role == WorkerRole::kPrefill) f.push_back("--is-prefill-worker");
  if (pool.role != WorkerRole::kAggregated) {
    Add(&f, "--kv-transfer-config", R"({"kv_connector":"NixlConnector","kv_role":"kv_both"})");
  }
  return f;
}

std::vector<std::string> SglangFlags(const Plan& plan, const WorkerPoolSpec& pool,
                                     std::string_view model_id) {
  std::vector<std::string> f;
  Add(&f, "--model-path", std::string(model_id));
  Add(&f, "--tp-size", pool.parallelism.tp);
  Add(&f, "--pp-size", pool.parallelism.pp);
  if (pool.parallelism.ep > 1) Add(&f, "--ep-size", pool.parallelism.ep);
  Add(&f, "--max-running-requests", pool.max_num_seqs);
  // SGLang's per-step prompt budget; chunking splits prompts at the same size (-1: off).
  Add(&f, "--max-prefill-tokens", pool.max_num_batched_tokens);
  Add(&f, "--chunked-prefill-size", pool.enable_chunked_prefill ? pool.max_num_batched_tokens : -1);
  Add(&f, "--page-size", pool.block_size);
  Add(&f, "--mem-fraction-static", Number(EngineMemoryFraction(pool, Backend::kSglang)));
  if (!pool.enable_prefix_caching) f.push_back("--disable-radix-cache");
  if (plan.weight_dtype == DType::kFp8) Add(&f, "--quantization", "fp8");
  if (plan.weight_dtype == DType::kFp16) Add(&f, "--dtype", "float16");
  if (plan.weight_dtype == DType::kFp32) Add(&f, "--dtype", "float32");
  if (plan.kv_dtype == DType::kFp8) Add(&f, "--kv-cache-dtype", "fp8_e4m3");
  if (pool.role != WorkerRole::kAggregated) {
    Add(&f, "--disaggregation-mode", pool.role == WorkerRole::kPrefill ? "prefill" : "decode");
    Add(&f, "--disaggregation-transfer-backend", "nixl");
  }
  return f;
}

// TensorRT-LLM through Dynamo's worker: the engine settings Dynamo has flags for are flags
// (--max-batch-size is max_batch_size, --kv-block-size is tokens_per_block, ...); the rest go
// into --override-engine-args, a JSON object merged into the engine's LLM arguments.
std::vector<std::string> TrtllmFlags(const Plan& plan, const WorkerPoolSpec& pool,
                                     std::string_view model_id) {
  std::vector<std::string> f;
  Add(&f, "--model", std::string(model_id));
  Add(&f, "--tensor-parallel-size", pool.parallelism.tp);
  Add(&f, "--pipeline-parallel-size", pool.parallelism.pp);
  if (pool.parallelism.ep > 1) Add(&f, "--expert-parallel-size", pool.parallelism.ep);
  Add(&f, "--max-batch-size", pool.max_num_seqs);
  Add(&f, "--max-num-tokens", pool.max_num_batched_tokens);
  Add(&f, "--kv-block-size", pool.block_size);
  Add(&f, "--free-gpu-memory-fraction", Number(EngineMemoryFraction(pool, Backend::kTrtllm)));
  nlohmann::ordered_json engine = nlohmann::ordered_json::object();
  engine["enable_chunked_prefill"] = pool.enable_chunked_prefill;
  engine["kv_cache_config"] = {{"enable_block_reuse", pool.enable_prefix_caching}};
  if (plan.kv_dtype == DType::kFp8) engine["kv_cache_config"]["dtype"] = "fp8";
  if (pool.role != WorkerRole::kAggregated) {
    engine["cache_transceiver_config"] = {{"backend", "NIXL"}};
  }
  Add(&f, "--override-engine-args", engine.dump());
  if (pool.role != WorkerRole::kAggregated) {
    Add(&f, "--disaggregation-mode", pool.role == WorkerRole::kPrefill ? "prefill" : "decode");
  }
  return f;
}

}  // namespace

std::string_view BackendName(Backend b) {
  switch (b) {
    case Backend::kVllm:
      return "vllm";
    case Backend::kSglang:
      return "sglang";
    case Backend::kTrtllm:
      return "trtllm";
  }
  return "?";
}

StatusOr<Backend> ParseBackend(std::string_view name) {
  for (Backend b : {Backend::kVllm, Backend::kSglang, Backend::kTrtllm}) {
    if (name == BackendName(b)) return b;
  }
  return InvalidArgument("--backend: \"" + std::string(name) +
                         "\" is not a backend; use vllm, sglang or trtllm");
}

std::string_view BackendModule(Backend b) {
  switch (b) {
    case Backend::kVllm:
      return "dynamo.vllm";
    case Backend::kSglang:
      return "dynamo.sglang";
    case Backend::kTrtllm:
      return "dynamo.trtllm";
  }
  return "?";
}

double EngineMemoryFraction(const WorkerPoolSpec& pool, Backend backend) {
  const perf::MemoryPlan& m = pool.memory;
  if (backend == Backend::kVllm || m.gpu_bytes <= 0) return pool.gpu_memory_utilization;
  const double kv = static_cast<double>(m.kv_bytes + m.sliding_window_bytes);
  double fraction = pool.gpu_memory_utilization;
  if (backend == Backend::kSglang) {
    fraction = (static_cast<double>(m.weight_bytes) + kv) / static_cast<double>(m.gpu_bytes);
  } else {
    const int64_t free_bytes = m.gpu_bytes - m.weight_bytes - m.activation_bytes - m.runtime_bytes;
    if (free_bytes > 0) fraction = kv / static_cast<double>(free_bytes);
  }
  return std::clamp(RoundTo2(fraction), 0.01, 1.0);
}

std::vector<std::string> EngineFlags(const Plan& plan, const WorkerPoolSpec& pool, Backend backend,
                                     std::string_view model_id) {
  DYNAMO_CHECK(!model_id.empty());
  switch (backend) {
    case Backend::kVllm:
      return VllmFlags(plan, pool, model_id);
    case Backend::kSglang:
      return SglangFlags(plan, pool, model_id);
    case Backend::kTrtllm:
      return TrtllmFlags(plan, pool, model_id);
  }
  return {};
}

std::vector<std::string> EngineFlags(const Plan& plan, const WorkerPoolSpec& pool,
                                     Backend backend) {
  const std::string& ref = plan.model_ref.empty() ? plan.model.name() : plan.model_ref;
  std::string_view id = BundledHfModelId(ref);
  if (id.empty()) id = plan.model.name();
  return EngineFlags(plan, pool, backend, id);
}

}  // namespace dynamo::configurator
