#pragma once
// StepLatencyModel: the duration of one engine iteration (a forward pass over a batch of
// prefill chunks and decode tokens) on one worker, built from operator latencies (PerfModel):
// per layer the QKV / O / FFN GEMMs (MoE: router, expert GEMMs for the tokens routed to each
// local expert, shared experts, all-to-all under EP), context and decode attention (MLA for
// DeepSeek-style models), TP all-reduces, then embedding, LM head, sampling, PP point-to-point
// hand-offs and the per-step host overhead. docs/perf-model.md has the formulas.
//
// Memoized on the batch composition: sweeps ask the same compositions millions of times.
// Not thread-safe (the memo); use one model per thread (they share the immutable PerfModel).

#include <array>
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <vector>

#include "core/model/model_spec.h"
#include "core/perf/perf_model.h"
#include "core/time.h"

namespace dynamo::perf {

struct WorkerConfig {
  Parallelism parallelism;
  DType weight_dtype = DType::kBf16;  // GEMM input format (fp8 weights -> fp8 GEMMs)
  DType kv_dtype = DType::kBf16;
};

struct PrefillChunk {
  int64_t q_len = 0;   // new tokens computed this step
  int64_t kv_len = 0;  // cached prefix + earlier chunks + this chunk
  bool sample = true;  // the prompt's last chunk: produces the first token
};

struct BatchComposition {
  std::vector<PrefillChunk> prefill;
  int64_t decode_seqs = 0;       // sequences generating one token each
  int64_t decode_kv_tokens = 0;  // sum of their KV lengths (including the new token)
  bool empty() const { return prefill.empty() && decode_seqs == 0; }
};

struct StepBreakdown {  // microseconds, whole step
  double gemm_us = 0;
  double attention_us = 0;
  double communication_us = 0;
  double elementwise_us = 0;  // norms, activations, residuals, embedding, sampling
  double host_us = 0;
};

struct StepCost {
  Duration total;           // one iteration, host overhead included
  Duration pipeline_stage;  // the slowest pipeline stage incl. its hand-off (= total at pp 1)
  StepBreakdown breakdown;
  LatencySource source = LatencySource::kMeasured;  // least reliable kernel lookup
};

class StepLatencyModel {
 public:
  // Checks the parallelism against the model. `perf` is shared by every model of a sweep.
  static StatusOr<StepLatencyModel> Create(const ModelSpec& model, const WorkerConfig& config,
                                           std::shared_ptr<const PerfModel> perf);

  // Precondition: !batch.empty(), every chunk has 0 < q_len <= kv_len. The reference stays
  // valid until the next Evaluate.
  const StepCost& Evaluate(const BatchComposition& batch);
  StepCost EvaluateUncached(const BatchComposition& batch) const;

  size_t memo_size() const { return memo_.size(); }
  const PerfModel& perf() const { return *perf_; }
  const ModelSpec& model() const { return model_; }
  const WorkerConfig& config() const { return config_; }

 private:
  struct KeyHash {
    size_t operator()(const std::vector<int64_t>& k) const;
  };
  struct LayerCost {
    double gemm_us = 0, attention_us = 0, comm_us = 0, elementwise_us = 0;
    double total() const { return gemm_us + attention_us + comm_us + elementwise_us; }
  };
  struct Tally;  // lookups with the least reliable source seen

  StepLatencyModel(const ModelSpec& model, const WorkerConfig& config,
                   std::shared_ptr<const PerfModel> perf);
  LayerCost Layer(const BatchComposition& b, bool moe, bool sliding, Tally& tally) const;
  void Attention(const BatchComposition& b, bool sliding, LayerCost& c, Tally& tally) const;
  void MlaAttention(const BatchComposition& b, LayerCost& c, Tally& tally) const;
  void Ffn(int64_t tokens, bool moe, LayerCost& c, Tally& tally) const;

  ModelSpec model_;
  WorkerConfig config_;
  std::shared_ptr<const PerfModel> perf_;
  // Activations, attention and communication payloads: bf16, or fp32 for an fp32 model (CPU).
  DType act_;
  double act_bytes_;
  // Layers of each kind per pipeline stage: [stage][moe * 2 + sliding].
  std::vector<std::array<int64_t, 4>> stage_layers_;
  std::unordered_map<std::vector<int64_t>, StepCost, KeyHash> memo_;
  std::vector<int64_t> key_;  // scratch
};

}  // namespace dynamo::perf
