#include "core/perf/step_latency.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"
#include "core/perf/analytic_model.h"
#include "core/rng.h"

namespace dynamo::perf {
namespace {

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

}  // namespace

// Collects lookups, remembering the least reliable source.
struct StepLatencyModel::Tally {
  const PerfModel& perf;
  LatencySource worst = LatencySource::kMeasured;
  double Us(const OpShape& s) {
    auto l = perf.Lookup(s);
    DYNAMO_CHECK(l.ok());  // shapes are built from a validated model and batch
    worst = std::max(worst, l.value().source);
    return l.value().us;
  }
  double Gemm(DType d, int64_t m, int64_t n, int64_t k) {
    return Us(
        GemmShape{d, std::max<int64_t>(m, 1), std::max<int64_t>(n, 1), std::max<int64_t>(k, 1)});
  }
  double AllReduce(int64_t gpus, double bytes) {
    if (gpus <= 1 || bytes <= 0) return 0;
    return Us(
        CollectiveShape{Collective::kAllReduce, DType::kBf16, gpus, static_cast<int64_t>(bytes)});
  }
};

size_t StepLatencyModel::KeyHash::operator()(const std::vector<int64_t>& k) const {
  uint64_t h = 0x9E3779B97F4A7C15ull;
  for (int64_t v : k) h = Mix64(h ^ static_cast<uint64_t>(v));
  return static_cast<size_t>(h);
}

StepLatencyModel::StepLatencyModel(const ModelSpec& model, const WorkerConfig& config,
                                   std::shared_ptr<const PerfModel> perf)
    : model_(model),
      config_(config),
      perf_(std::move(perf)),
      act_(config.weight_dtype == DType::kFp32 ? DType::kFp32 : DType::kBf16),
      act_bytes_(DTypeBytes(act_)) {}

StatusOr<StepLatencyModel> StepLatencyModel::Create(const ModelSpec& model,
                                                    const WorkerConfig& config,
                                                    std::shared_ptr<const PerfModel> perf) {
  DYNAMO_CHECK(perf != nullptr);
  RETURN_IF_ERROR(model.CheckParallelism(config.parallelism));
  StepLatencyModel m(model, config, std::move(perf));
  const int64_t pp = config.parallelism.pp, layers = model.num_layers();
  m.stage_layers_.assign(static_cast<size_t>(pp), {0, 0, 0, 0});
  for (int64_t l = 0; l < layers; ++l) {
    // Contiguous stages, the first ones one layer larger when pp does not divide the layers.
    const int64_t stage = std::min(pp - 1, l * pp / layers);
    const int kind = (model.IsMoeLayer(l) ? 2 : 0) + (model.IsSlidingLayer(l) ? 1 : 0);
    ++m.stage_layers_[static_cast<size_t>(stage)][kind];
  }
  return m;
}

const StepCost& StepLatencyModel::Evaluate(const BatchComposition& b) {
  key_.clear();
  key_.push_back(b.decode_seqs);
  key_.push_back(b.decode_kv_tokens);
  for (const PrefillChunk& c : b.prefill) {
    key_.push_back(c.q_len);
    key_.push_back(c.kv_len * 2 + (c.sample ? 1 : 0));
  }
  auto it = memo_.find(key_);
  if (it != memo_.end()) return it->second;
  // Bound the memo: a sweep's compositions repeat, a pathological stream should not grow it
  // without limit.
  if (memo_.size() >= (1u << 20)) memo_.clear();
  return memo_.emplace(key_, EvaluateUncached(b)).first->second;
}

void StepLatencyModel::Attention(const BatchComposition& b, bool sliding, LayerCost& c,
                                 Tally& t) const {
  const Parallelism& p = config_.parallelism;
  const int64_t heads = model_.num_heads() / p.tp;
  const int64_t kv_heads = std::max<int64_t>(1, model_.num_kv_heads() / p.tp);
  const int64_t hd = model_.head_dim();
  const int64_t window = sliding ? model_.sliding_window() : 0;
  const DType kv = config_.kv_dtype;
  if (!b.prefill.empty()) {
    // One varlen kernel serves every chunk: sum the per-chunk times, counting the fixed
    // launch/tail cost once.
    const double floor = t.Us(AttnContextShape{act_, kv, 1, 1, 1, heads, kv_heads, hd});
    double sum = 0, largest = 0;
    for (const PrefillChunk& ch : b.prefill) {
      int64_t kv_len = ch.kv_len;
      if (window > 0) kv_len = std::min(kv_len, window + ch.q_len);
      const double us = t.Us(AttnContextShape{act_, kv, 1, ch.q_len, kv_len, heads, kv_heads, hd});
      sum += us;
      largest = std::max(largest, us);
    }
    c.attention_us += std::max(largest, sum - floor * static_cast<double>(b.prefill.size() - 1));
  }
  if (b.decode_seqs > 0) {
    int64_t kv_len = CeilDiv(b.decode_kv_tokens, b.decode_seqs);
    if (window > 0) kv_len = std::min(kv_len, window);
    c.attention_us += t.Us(AttnDecodeShape{act_, kv, b.decode_seqs, std::max<int64_t>(kv_len, 1),
                                           heads, kv_heads, hd});
  }
}

void StepLatencyModel::MlaAttention(const BatchComposition& b, LayerCost& c, Tally& t) const {
  const MlaSpec& a = *model_.mla();
  const int64_t heads = model_.num_heads() / config_.parallelism.tp;
  const DType w = config_.weight_dtype, kv = config_.kv_dtype;
  if (!b.prefill.empty()) {
    // Context: decompress every key of the chunks' contexts, then attention per chunk.
    int64_t ctx_tokens = 0;
    double sum = 0;
    for (const PrefillChunk& ch : b.prefill) {
      ctx_tokens += ch.kv_len;
      sum += t.Us(MlaContextShape{act_, kv, 1, ch.q_len, ch.kv_len, heads, a.kv_lora_rank,
                                  a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim});
    }
    c.gemm_us += t.Gemm(w, ctx_tokens, heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank);
    c.attention_us += sum;
  }
  if (b.decode_seqs > 0) {
    // Absorbed decode: queries projected into the latent space, attention over the latent,
    // values projected back.
    const int64_t kv_len = std::max<int64_t>(1, CeilDiv(b.decode_kv_tokens, b.decode_seqs));
    c.gemm_us += t.Gemm(act_, b.decode_seqs, heads * a.kv_lora_rank, a.qk_nope_head_dim);
    c.attention_us += t.Us(
        MlaDecodeShape{act_, kv, b.decode_seqs, kv_len, heads, a.kv_lora_rank, a.qk_rope_head_dim});
    c.gemm_us += t.Gemm(act_, b.decode_seqs, heads * a.v_head_dim, a.kv_lora_rank);
  }
}

void StepLatencyModel::Ffn(int64_t tokens, bool moe, LayerCost& c, Tally& t) const {
  const Parallelism& p = config_.parallelism;
  const int64_t hidden = model_.hidden_size();
  const DType w = config_.weight_dtype;
  if (!moe) {
    const int64_t inter = model_.intermediate_size() / p.tp;
    c.gemm_us += t.Gemm(w, tokens, 2 * inter, hidden) + t.Gemm(w, tokens, hidden, inter);
    c.elementwise_us += tokens * inter * 3 * act_bytes_ /
                        (perf_->roofline().hbm_bytes_per_s * kAnalyticElementwiseMemoryEfficiency) *
                        1e6;
    if (p.tp > 1) c.comm_us += t.AllReduce(p.tp, tokens * hidden * act_bytes_);
    return;
  }
  const MoeSpec& e = *model_.moe();
  const int64_t local = e.num_experts / p.ep, expert_tp = p.tp / p.ep;
  const int64_t inter = e.expert_intermediate / expert_tp;
  // Uniform routing: tokens x top-k picks land on E experts; the local ones that receive any
  // token are expected to number L (1 - (1 - 1/E)^picks), and share the local picks evenly.
  const double picks = static_cast<double>(tokens * e.experts_per_token);
  const double experts = static_cast<double>(e.num_experts);
  const double hit = 1.0 - std::pow(1.0 - 1.0 / experts, picks);
  const int64_t active = std::clamp<int64_t>(
      static_cast<int64_t>(std::ceil(static_cast<double>(local) * hit - 1e-9)), 1, local);
  const int64_t per_expert =
      std::max<int64_t>(1, static_cast<int64_t>(std::ceil(picks * static_cast<double>(local) /
                                                          experts / static_cast<double>(active))));
  c.gemm_us += t.Gemm(act_, tokens, e.num_experts, hidden);  // router
  // A fused MoE kernel runs the active local experts back to back: their times add, the
  // launch overhead (a 1x128x128 GEMM's time) is paid once.
  const double launch = t.Gemm(w, 1, 128, 128);
  const double up = t.Gemm(w, per_expert, 2 * inter, hidden);
  const double down = t.Gemm(w, per_expert, hidden, inter);
  c.gemm_us +=
      static_cast<double>(active) * (up + down) - static_cast<double>(active - 1) * 2 * launch;
  if (e.num_shared_experts > 0) {
    const int64_t shared = e.num_shared_experts * e.shared_intermediate / p.tp;
    c.gemm_us += t.Gemm(w, tokens, 2 * shared, hidden) + t.Gemm(w, tokens, hidden, shared);
  }
  c.elementwise_us += tokens * e.experts_per_token * inter * 3 * act_bytes_ /
                      (perf_->roofline().hbm_bytes_per_s * kAnalyticElementwiseMemoryEfficiency) *
                      1e6;
  if (p.ep > 1) {
    // Dispatch and combine: each rank sends its share of the routed token copies.
    const double bytes = static_cast<double>(CeilDiv(tokens * e.experts_per_token, p.ep)) *
                         static_cast<double>(hidden) * act_bytes_;
    const double a2a = t.Us(CollectiveShape{Collective::kAllToAll, DType::kBf16, p.ep,
                                            std::max<int64_t>(1, static_cast<int64_t>(bytes))});
    c.comm_us += 2 * a2a;
    if (expert_tp > 1) c.comm_us += t.AllReduce(expert_tp, tokens * hidden * act_bytes_);
  } else if (p.tp > 1) {
    c.comm_us += t.AllReduce(p.tp, tokens * hidden * act_bytes_);
  }
}

StepLatencyModel::LayerCost StepLatencyModel::Layer(const BatchComposition& b, bool moe,
                                                    bool sliding, Tally& t) const {
  const Parallelism& p = config_.parallelism;
  const int64_t hidden = model_.hidden_size();
  int64_t tokens = b.decode_seqs;
  for (const PrefillChunk& c : b.prefill) tokens += c.q_len;
  LayerCost c;
  const DType w = config_.weight_dtype;
  if (model_.mla()) {
    const MlaSpec& a = *model_.mla();
    const int64_t heads = model_.num_heads() / p.tp;
    const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
      c.gemm_us +=
          t.Gemm(w, tokens, a.q_lora_rank, hidden) + t.Gemm(w, tokens, heads * qk, a.q_lora_rank);
    } else {
      c.gemm_us += t.Gemm(w, tokens, heads * qk, hidden);
    }
    c.gemm_us += t.Gemm(w, tokens, a.kv_lora_rank + a.qk_rope_head_dim, hidden);
    MlaAttention(b, c, t);
    c.gemm_us += t.Gemm(w, tokens, hidden, heads * a.v_head_dim);
  } else {
    const int64_t heads = model_.num_heads() / p.tp;
    const int64_t kv_heads = std::max<int64_t>(1, model_.num_kv_heads() / p.tp);
    const int64_t hd = model_.head_dim();
    c.gemm_us += t.Gemm(w, tokens, (heads + 2 * kv_heads) * hd, hidden);
    Attention(b, sliding, c, t);
    c.gemm_us += t.Gemm(w, tokens, hidden, heads * hd);
  }
  if (p.tp > 1) c.comm_us += t.AllReduce(p.tp, tokens * hidden * act_bytes_);
  Ffn(tokens, moe, c, t);
  // Two norms, two residual adds, rotary: ~6 small kernels reading and writing the hidden
  // state (bf16).
  constexpr double kSmallKernels = 6;
  c.elementwise_us +=
      kSmallKernels * kAnalyticKernelGapUs +
      tokens * hidden * act_bytes_ * 10 /
          (perf_->roofline().hbm_bytes_per_s * kAnalyticElementwiseMemoryEfficiency) * 1e6;
  return c;
}

StepCost StepLatencyModel::EvaluateUncached(const BatchComposition& b) const {
  DYNAMO_CHECK(!b.empty());
  const Parallelism& p = config_.parallelism;
  Tally t{*perf_};
  int64_t tokens = b.decode_seqs, sampled = b.decode_seqs;
  for (const PrefillChunk& c : b.prefill) {
    DYNAMO_CHECK(c.q_len > 0 && c.kv_len >= c.q_len);
    tokens += c.q_len;
    sampled += c.sample ? 1 : 0;
  }
  const int64_t hidden = model_.hidden_size();
  const double hbm = perf_->roofline().hbm_bytes_per_s * kAnalyticElementwiseMemoryEfficiency;
  StepCost cost;
  StepBreakdown& bd = cost.breakdown;

  // Per layer kind, computed once.
  LayerCost kinds[4];
  bool have[4] = {false, false, false, false};
  for (const auto& stage : stage_layers_) {
    for (int k = 0; k < 4; ++k) {
      if (stage[k] > 0 && !have[k]) kinds[k] = Layer(b, k >= 2, k % 2 == 1, t), have[k] = true;
    }
  }
  // Embedding (vocab-parallel: an all-reduce) on the first stage; final norm, LM head,
  // logits gather and sampling on the last.
  double first_extra = tokens * hidden * act_bytes_ / hbm * 1e6 + kAnalyticKernelGapUs;
  if (p.tp > 1) first_extra += t.AllReduce(p.tp, tokens * hidden * act_bytes_);
  double last_gemm = 0, last_extra = 0;
  if (sampled > 0) {
    last_gemm = t.Gemm(config_.weight_dtype, sampled, model_.vocab_size() / p.tp, hidden);
    if (p.tp > 1) {
      last_extra += t.Us(CollectiveShape{Collective::kAllGather, DType::kBf16, p.tp,
                                         sampled * model_.vocab_size() * 2});
    }
    // Softmax / top-k / sampling over fp32 logits: ~3 passes.
    last_extra += 3 * kAnalyticKernelGapUs + sampled * model_.vocab_size() * 4.0 * 3 / hbm * 1e6;
  }
  double p2p = 0;
  if (p.pp > 1) {
    p2p = t.Us(
        TransferShape{TransferKind::kPeer, "", tokens * hidden * static_cast<int64_t>(act_bytes_)});
  }

  double total_us = 0, slowest_stage = 0;
  for (size_t s = 0; s < stage_layers_.size(); ++s) {
    double stage = 0;
    for (int k = 0; k < 4; ++k) {
      const double n = static_cast<double>(stage_layers_[s][k]);
      if (n == 0) continue;
      stage += n * kinds[k].total();
      bd.gemm_us += n * kinds[k].gemm_us;
      bd.attention_us += n * kinds[k].attention_us;
      bd.communication_us += n * kinds[k].comm_us;
      bd.elementwise_us += n * kinds[k].elementwise_us;
    }
    if (s == 0) stage += first_extra;
    if (s + 1 == stage_layers_.size()) stage += last_gemm + last_extra;
    if (s + 1 < stage_layers_.size()) stage += p2p;
    total_us += stage;
    slowest_stage = std::max(slowest_stage, stage);
  }
  bd.elementwise_us += first_extra + last_extra;
  bd.gemm_us += last_gemm;
  bd.communication_us += p2p * static_cast<double>(p.pp - 1);
  bd.host_us = perf_->HostOverheadUs(HostOverheadKind::kStepBase) +
               perf_->HostOverheadUs(HostOverheadKind::kPerSeq) *
                   static_cast<double>(b.decode_seqs + static_cast<int64_t>(b.prefill.size()));
  cost.total = Duration::FromSecondsF((total_us + bd.host_us) * 1e-6);
  cost.pipeline_stage = Duration::FromSecondsF((slowest_stage + bd.host_us) * 1e-6);
  cost.source = t.worst;
  return cost;
}

}  // namespace dynamo::perf
