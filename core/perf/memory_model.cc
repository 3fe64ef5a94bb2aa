#include "core/perf/memory_model.h"

#include <algorithm>
#include <cstdio>

namespace dynamo::perf {
namespace {

constexpr int64_t kGiB = int64_t{1} << 30;
constexpr double kActBytes = 2;

std::string GiB(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f GiB",
                static_cast<double>(bytes) / static_cast<double>(kGiB));
  return buf;
}

// Runtime reserve: CUDA context and cuBLAS workspaces (~0.6 GiB), CUDA graphs (~0.4 GiB;
// vLLM logs 0.3-1 GiB for graph capture), NCCL buffers when tensor-parallel (~0.4 GiB).
// Assumptions in line with vLLM start-up logs; AIConfigurator reserves 3.5 GiB "other".
int64_t RuntimeBytes(const Parallelism& p) {
  return kGiB + (p.tp > 1 || p.pp > 1 ? 2 * kGiB / 5 : 0);
}

// Peak activations of one forward pass over `tokens`: the residual stream and its normed copy,
// QKV, attention output, the FFN's gate/up output (MoE: of the routed copies), kept in bf16,
// plus fp32 logits and probabilities for up to max_num_seqs sampled rows.
int64_t ActivationBytes(const ModelSpec& m, const MemoryConfig& c) {
  const Parallelism& p = c.parallelism;
  const double t = static_cast<double>(c.max_num_batched_tokens);
  const double hidden = static_cast<double>(m.hidden_size());
  const double qkv =
      static_cast<double>((m.num_heads() + 2 * m.num_kv_heads()) * m.head_dim()) / p.tp;
  double ffn = 2.0 * static_cast<double>(m.intermediate_size()) / p.tp;
  if (m.moe()) {
    const MoeSpec& e = *m.moe();
    ffn = std::max(ffn, 2.0 * static_cast<double>(e.experts_per_token * e.expert_intermediate) /
                            (p.tp / p.ep));
  }
  const double per_token = (4 * hidden + qkv + 1.5 * ffn) * kActBytes;
  const double logits = static_cast<double>(std::min(c.max_num_seqs, c.max_num_batched_tokens)) *
                        static_cast<double>(m.vocab_size()) / p.tp * 4 * 2;
  return static_cast<int64_t>(t * per_token + logits);
}

}  // namespace

StatusOr<MemoryPlan> PlanMemory(const ModelSpec& model, const GpuSpec& gpu, const MemoryConfig& c) {
  if (!(c.gpu_memory_utilization > 0 && c.gpu_memory_utilization <= 1)) {
    return InvalidArgument("gpu_memory_utilization: " + std::to_string(c.gpu_memory_utilization) +
                           " must be in (0, 1]");
  }
  if (c.block_size < 1 || c.max_num_batched_tokens < 1 || c.max_num_seqs < 1) {
    return InvalidArgument("block_size, max_num_batched_tokens and max_num_seqs must be >= 1");
  }
  RETURN_IF_ERROR(model.CheckParallelism(c.parallelism));
  MemoryPlan m;
  m.block_size = c.block_size;
  m.gpu_bytes = gpu.memory_bytes;
  m.budget_bytes =
      static_cast<int64_t>(static_cast<double>(gpu.memory_bytes) * c.gpu_memory_utilization);
  m.weight_bytes = model.WeightBytesPerGpu(c.parallelism, c.weight_dtype);
  m.activation_bytes = ActivationBytes(model, c);
  m.runtime_bytes = RuntimeBytes(c.parallelism);
  const int64_t per_token = model.KvBytesPerTokenPerGpu(c.kv_dtype, c.parallelism);
  if (model.sliding_window() > 0) {
    // Sliding-window layers hold at most the window per sequence, split like the full layers.
    const double share =
        static_cast<double>(per_token) /
        static_cast<double>(std::max<int64_t>(1, model.KvBytesPerToken(c.kv_dtype)));
    m.sliding_window_bytes =
        static_cast<int64_t>(static_cast<double>(c.max_num_seqs) *
                             static_cast<double>(model.SlidingWindowKvBytes(c.kv_dtype)) * share);
  }
  m.kv_bytes_per_block = per_token * c.block_size;
  m.kv_bytes = m.budget_bytes - m.weight_bytes - m.activation_bytes - m.runtime_bytes -
               m.sliding_window_bytes;
  m.kv_blocks = m.kv_bytes > 0 && m.kv_bytes_per_block > 0 ? m.kv_bytes / m.kv_bytes_per_block : 0;
  if (m.kv_blocks < 1) {
    // Suggest the smallest larger tensor parallelism that fits, if any.
    std::string fix;
    for (int tp = c.parallelism.tp * 2; tp <= 64 && fix.empty(); tp *= 2) {
      MemoryConfig bigger = c;
      bigger.parallelism.tp = tp;
      if (!model.CheckParallelism(bigger.parallelism).ok()) continue;
      auto plan = PlanMemory(model, gpu, bigger);
      if (plan.ok()) fix = "use tp >= " + std::to_string(tp);
    }
    const bool wide = c.weight_dtype == DType::kBf16 || c.weight_dtype == DType::kFp16 ||
                      c.weight_dtype == DType::kFp32;
    if (fix.empty()) fix = "use more GPUs per worker (pp)";
    if (wide) fix += " or fp8 weights";
    return FailedPrecondition(
        model.name() + " does not fit on " + gpu.name + " with tp " +
        std::to_string(c.parallelism.tp) + ", pp " + std::to_string(c.parallelism.pp) +
        ": weights " + GiB(m.weight_bytes) + " + activations " + GiB(m.activation_bytes) +
        " + runtime " + GiB(m.runtime_bytes) +
        (m.sliding_window_bytes ? " + sliding-window KV " + GiB(m.sliding_window_bytes) : "") +
        " leave no KV-cache room in the " + GiB(m.budget_bytes) +
        " budget (gpu_memory_utilization " + std::to_string(c.gpu_memory_utilization).substr(0, 4) +
        " of " + GiB(m.gpu_bytes) + "); " + fix);
  }
  m.kv_bytes = m.kv_blocks * m.kv_bytes_per_block;
  return m;
}

}  // namespace dynamo::perf
