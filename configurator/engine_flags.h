#pragma once
// EngineFlags: the command-line flags that make a vLLM, SGLang or TensorRT-LLM worker (as run
// by Dynamo: `python3 -m dynamo.vllm|dynamo.sglang|dynamo.trtllm`) behave like one worker pool
// of a plan: parallelism, batch limits, KV block size, memory, prefix caching, chunked prefill,
// fp8, and the disaggregation role with its KV transfer (NIXL). The mapping table is in
// docs/config.md ("Engine flags").
//
// The memory knobs differ between engines; each is derived so that the engine ends up with the
// KV capacity the plan's memory model computed (WorkerPoolSpec::memory):
//   vLLM   --gpu-memory-utilization: the plan's gpu_memory_utilization (the same semantics);
//   SGLang --mem-fraction-static: (weights + KV cache) / GPU memory;
//   TRT-LLM --free-gpu-memory-fraction: KV cache / (GPU memory - weights - activations - runtime).
#include <string>
#include <string_view>
#include <vector>

#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::configurator {

enum class Backend : uint8_t { kVllm, kSglang, kTrtllm };
std::string_view BackendName(Backend b);  // "vllm", "sglang", "trtllm"
StatusOr<Backend> ParseBackend(std::string_view name);
// The Dynamo worker module: "dynamo.vllm", "dynamo.sglang", "dynamo.trtllm".
std::string_view BackendModule(Backend b);

// The flags for one worker of `pool`, model id first. `model_id` is the Hugging Face id (or a
// path) the engine loads. Flags with values are two elements ("--tensor-parallel-size", "4").
// Precondition: `pool` is one of plan.workers and model_id is not empty.
std::vector<std::string> EngineFlags(const Plan& plan, const WorkerPoolSpec& pool, Backend backend,
                                     std::string_view model_id);
// As above, with the model id of a bundled model (HfModelId), else the plan's model name.
std::vector<std::string> EngineFlags(const Plan& plan, const WorkerPoolSpec& pool, Backend backend);

// The engine's memory fraction for the pool (see the file comment), rounded to 2 decimals.
// Falls back to the pool's gpu_memory_utilization when the memory plan is not filled.
double EngineMemoryFraction(const WorkerPoolSpec& pool, Backend backend);

}  // namespace dynamo::configurator
