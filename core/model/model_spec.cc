#include "core/model/model_spec.h"

#include <algorithm>
#include <cmath>

#include "core/json.h"

namespace dynamo {
namespace {

// Upper bounds that keep every derived figure far from int64 overflow.
constexpr double kMaxDim = 1 << 20;
constexpr double kMaxLayers = 10'000;
constexpr double kMaxExperts = 65'536;
constexpr double kMaxVocab = 1e8;

struct ArchEntry {
  std::string_view hf_class;
  std::string_view model_type;
  Architecture arch;
};
constexpr ArchEntry kArchitectures[] = {
    {"LlamaForCausalLM", "llama", Architecture::kLlama},
    {"Qwen2ForCausalLM", "qwen2", Architecture::kQwen2},
    {"Qwen3ForCausalLM", "qwen3", Architecture::kQwen3},
    {"MistralForCausalLM", "mistral", Architecture::kMistral},
    {"MixtralForCausalLM", "mixtral", Architecture::kMixtral},
    {"Qwen3MoeForCausalLM", "qwen3_moe", Architecture::kQwen3Moe},
    {"DeepseekV3ForCausalLM", "deepseek_v3", Architecture::kDeepseekV3},
    {"GptOssForCausalLM", "gpt_oss", Architecture::kGptOss},
};

std::string SupportedArchitectures() {
  std::string s;
  for (const auto& e : kArchitectures) s += (s.empty() ? "" : ", ") + std::string(e.hf_class);
  return s;
}

StatusOr<Architecture> ParseArchitecture(const JsonNode& root) {
  if (auto archs = root.Find("architectures")) {
    ASSIGN_OR_RETURN(auto list, archs->Elements());
    if (list.empty()) return archs->Error("empty list; name the model class");
    ASSIGN_OR_RETURN(std::string cls, list[0].AsString());
    for (const auto& e : kArchitectures) {
      if (e.hf_class == cls) return e.arch;
    }
    return list[0].Error("unsupported architecture \"" + cls +
                         "\"; supported: " + SupportedArchitectures());
  }
  auto type = root.Find("model_type");
  if (!type) {
    return root.Error(
        "missing 'architectures' (and 'model_type'); is this a Hugging Face "
        "config.json?");
  }
  ASSIGN_OR_RETURN(std::string t, type->AsString());
  for (const auto& e : kArchitectures) {
    if (e.model_type == t) return e.arch;
  }
  return type->Error("unsupported model_type \"" + t +
                     "\"; supported architectures: " + SupportedArchitectures());
}

std::string JoinInts(const std::vector<int64_t>& v) {
  std::string s;
  for (int64_t x : v) s += (s.empty() ? "" : ", ") + std::to_string(x);
  return s;
}

std::vector<int64_t> Divisors(int64_t n, int64_t limit) {
  std::vector<int64_t> d;
  for (int64_t i = 1; i <= std::min(n, limit); ++i) {
    if (n % i == 0) d.push_back(i);
  }
  return d;
}

// Layer range [first, last) of pipeline stage `stage` out of `pp`.
std::pair<int64_t, int64_t> StageLayers(int64_t layers, int pp, int stage) {
  return {layers * stage / pp, layers * (stage + 1) / pp};
}

}  // namespace

std::string_view ArchitectureName(Architecture a) {
  for (const auto& e : kArchitectures) {
    if (e.arch == a) return e.hf_class;
  }
  return "?";
}

StatusOr<ModelSpec> ModelSpec::FromConfig(const JsonNode& root, std::string name) {
  if (!root.IsObject()) return root.Error("expected a config.json object, got " + root.Render());
  ModelSpec m;
  m.name_ = std::move(name);
  ASSIGN_OR_RETURN(m.arch_, ParseArchitecture(root));
  const Bounds dim = Bounds::Between(1, kMaxDim);
  ASSIGN_OR_RETURN(m.hidden_, root.GetInt("hidden_size", dim));
  ASSIGN_OR_RETURN(m.layers_, root.GetInt("num_hidden_layers", Bounds::Between(1, kMaxLayers)));
  ASSIGN_OR_RETURN(m.heads_, root.GetInt("num_attention_heads", dim));
  ASSIGN_OR_RETURN(m.kv_heads_, root.GetIntOr("num_key_value_heads", m.heads_, dim));
  ASSIGN_OR_RETURN(m.vocab_, root.GetInt("vocab_size", Bounds::Between(1, kMaxVocab)));
  ASSIGN_OR_RETURN(m.max_positions_,
                   root.GetIntOr("max_position_embeddings", 0, Bounds::Between(0, 1e9)));
  ASSIGN_OR_RETURN(m.tie_embeddings_, root.GetBoolOr("tie_word_embeddings", false));
  if (auto dt = root.Find("torch_dtype")) {
    ASSIGN_OR_RETURN(std::string s, dt->AsString());
    auto parsed = ParseDType(s);
    if (!parsed.ok()) return dt->Error(parsed.status().message());
    m.native_dtype_ = *parsed;
  }
  if (auto q = root.Find("quantization_config")) {  // e.g. DeepSeek-V3 fp8, gpt-oss mxfp4
    ASSIGN_OR_RETURN(std::string method, q->GetStringOr("quant_method", ""));
    if (auto parsed = ParseDType(method); parsed.ok()) m.native_dtype_ = *parsed;
  }
  if (m.heads_ % m.kv_heads_ != 0) {
    return root.Error("num_key_value_heads " + std::to_string(m.kv_heads_) +
                      " does not divide num_attention_heads " + std::to_string(m.heads_));
  }
  if (auto hd = root.Find("head_dim")) {
    ASSIGN_OR_RETURN(m.head_dim_, hd->AsInt(dim));
  } else {
    if (m.hidden_ % m.heads_ != 0) {
      return root.Error("no head_dim and hidden_size " + std::to_string(m.hidden_) +
                        " is not a multiple of num_attention_heads " + std::to_string(m.heads_));
    }
    m.head_dim_ = m.hidden_ / m.heads_;
  }
  const bool default_bias = m.arch_ == Architecture::kQwen2 || m.arch_ == Architecture::kGptOss;
  ASSIGN_OR_RETURN(bool attention_bias, root.GetBoolOr("attention_bias", default_bias));
  m.qkv_bias_ = attention_bias;
  m.o_bias_ = attention_bias && m.arch_ != Architecture::kQwen2;  // Qwen2 biases q, k, v only
  m.qk_norm_ = m.arch_ == Architecture::kQwen3 || m.arch_ == Architecture::kQwen3Moe;
  m.attention_sinks_ = m.arch_ == Architecture::kGptOss;

  switch (m.arch_) {
    case Architecture::kLlama:
    case Architecture::kQwen2:
    case Architecture::kQwen3:
    case Architecture::kMistral: {
      ASSIGN_OR_RETURN(m.intermediate_, root.GetInt("intermediate_size", dim));
      break;
    }
    case Architecture::kMixtral:
    case Architecture::kGptOss: {
      MoeSpec moe;
      const char* experts_key = "num_local_experts";
      ASSIGN_OR_RETURN(moe.num_experts, root.GetInt(experts_key, Bounds::Between(1, kMaxExperts)));
      const char* topk_key =
          root.Has("num_experts_per_tok") ? "num_experts_per_tok" : "experts_per_token";
      ASSIGN_OR_RETURN(
          moe.experts_per_token,
          root.GetInt(topk_key, Bounds::Between(1, static_cast<double>(moe.num_experts))));
      ASSIGN_OR_RETURN(moe.expert_intermediate, root.GetInt("intermediate_size", dim));
      moe.expert_bias = moe.router_bias = m.arch_ == Architecture::kGptOss;
      m.intermediate_ = moe.expert_intermediate;
      m.moe_ = moe;
      break;
    }
    case Architecture::kQwen3Moe: {
      MoeSpec moe;
      ASSIGN_OR_RETURN(moe.num_experts,
                       root.GetInt("num_experts", Bounds::Between(1, kMaxExperts)));
      ASSIGN_OR_RETURN(moe.experts_per_token,
                       root.GetInt("num_experts_per_tok",
                                   Bounds::Between(1, static_cast<double>(moe.num_experts))));
      ASSIGN_OR_RETURN(moe.expert_intermediate, root.GetInt("moe_intermediate_size", dim));
      ASSIGN_OR_RETURN(m.intermediate_,
                       root.GetIntOr("intermediate_size", 0, Bounds::Between(0, kMaxDim)));
      ASSIGN_OR_RETURN(m.moe_layer_step_,
                       root.GetIntOr("decoder_sparse_step", 1, Bounds::Between(1, kMaxLayers)));
      if (auto dense = root.Find("mlp_only_layers")) {
        ASSIGN_OR_RETURN(auto list, dense->Elements());
        for (const JsonNode& l : list) {
          ASSIGN_OR_RETURN(int64_t idx,
                           l.AsInt(Bounds::Between(0, static_cast<double>(m.layers_ - 1))));
          m.dense_layers_.push_back(idx);
        }
      }
      if ((!m.dense_layers_.empty() || m.moe_layer_step_ > 1) && m.intermediate_ == 0) {
        return root.Error("dense layers present but intermediate_size is missing");
      }
      m.moe_ = moe;
      break;
    }
    case Architecture::kDeepseekV3: {
      MlaSpec mla;
      if (auto q = root.Find("q_lora_rank")) {
        ASSIGN_OR_RETURN(mla.q_lora_rank, q->AsInt(Bounds::Between(0, kMaxDim)));
      }
      ASSIGN_OR_RETURN(mla.kv_lora_rank, root.GetInt("kv_lora_rank", dim));
      ASSIGN_OR_RETURN(mla.qk_nope_head_dim, root.GetInt("qk_nope_head_dim", dim));
      ASSIGN_OR_RETURN(mla.qk_rope_head_dim, root.GetInt("qk_rope_head_dim", dim));
      ASSIGN_OR_RETURN(mla.v_head_dim, root.GetInt("v_head_dim", dim));
      m.mla_ = mla;
      m.head_dim_ = mla.qk_nope_head_dim + mla.qk_rope_head_dim;
      m.kv_heads_ = m.heads_;  // MLA: every head has its own (decompressed) K and V
      MoeSpec moe;
      ASSIGN_OR_RETURN(moe.num_experts,
                       root.GetInt("n_routed_experts", Bounds::Between(1, kMaxExperts)));
      ASSIGN_OR_RETURN(moe.experts_per_token,
                       root.GetInt("num_experts_per_tok",
                                   Bounds::Between(1, static_cast<double>(moe.num_experts))));
      ASSIGN_OR_RETURN(moe.expert_intermediate, root.GetInt("moe_intermediate_size", dim));
      ASSIGN_OR_RETURN(moe.num_shared_experts,
                       root.GetIntOr("n_shared_experts", 0, Bounds::Between(0, kMaxExperts)));
      moe.shared_intermediate = moe.expert_intermediate;
      moe.router_bias = true;  // e_score_correction_bias
      ASSIGN_OR_RETURN(m.intermediate_, root.GetInt("intermediate_size", dim));
      ASSIGN_OR_RETURN(m.first_dense_layers_,
                       root.GetIntOr("first_k_dense_replace", 0,
                                     Bounds::Between(0, static_cast<double>(m.layers_))));
      ASSIGN_OR_RETURN(m.moe_layer_step_,
                       root.GetIntOr("moe_layer_freq", 1, Bounds::Between(1, kMaxLayers)));
      m.moe_ = moe;
      break;
    }
  }

  // Sliding-window attention: explicit per-layer types (GPT-OSS), or Mistral's all-layer window.
  if (auto types = root.Find("layer_types")) {
    ASSIGN_OR_RETURN(auto list, types->Elements());
    if (static_cast<int64_t>(list.size()) != m.layers_) {
      return types->Error(std::to_string(list.size()) + " entries but num_hidden_layers is " +
                          std::to_string(m.layers_));
    }
    for (const JsonNode& t : list) {
      ASSIGN_OR_RETURN(std::string s, t.AsString());
      if (s != "sliding_attention" && s != "full_attention") {
        return t.Error("\"" + s + "\" is not one of: sliding_attention, full_attention");
      }
      m.sliding_layers_.push_back(s == "sliding_attention");
    }
    if (std::count(m.sliding_layers_.begin(), m.sliding_layers_.end(), true) > 0) {
      ASSIGN_OR_RETURN(m.sliding_window_, root.GetInt("sliding_window", Bounds::Between(1, 1e9)));
    }
  } else if (m.arch_ == Architecture::kMistral) {
    ASSIGN_OR_RETURN(m.sliding_window_,
                     root.GetIntOr("sliding_window", 0, Bounds::Between(0, 1e9)));
    if (m.sliding_window_ > 0) m.sliding_layers_.assign(m.layers_, true);
  }
  return m;
}

bool ModelSpec::IsSlidingLayer(int64_t layer) const {
  return !sliding_layers_.empty() && sliding_layers_[layer];
}

bool ModelSpec::IsMoeLayer(int64_t layer) const {
  if (!moe_) return false;
  if (layer < first_dense_layers_) return false;
  if (std::find(dense_layers_.begin(), dense_layers_.end(), layer) != dense_layers_.end()) {
    return false;
  }
  // DeepSeek counts MoE layers from 0 (layer % freq); Qwen-MoE from 1 ((layer + 1) % step).
  if (arch_ == Architecture::kDeepseekV3) return layer % moe_layer_step_ == 0;
  return (layer + 1) % moe_layer_step_ == 0;
}

int64_t ModelSpec::num_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < layers_; ++l) n += IsMoeLayer(l) ? 1 : 0;
  return n;
}

ModelSpec::LayerParams ModelSpec::ParamsOfLayer(int64_t layer) const {
  LayerParams p;
  if (mla_) {
    const MlaSpec& a = *mla_;
    const int64_t qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim;
    if (a.q_lora_rank > 0) {
      p.attention_linear += hidden_ * a.q_lora_rank + a.q_lora_rank * heads_ * qk_dim;
      p.attention_other += a.q_lora_rank;  // q_a_layernorm
    } else {
      p.attention_linear += hidden_ * heads_ * qk_dim;
    }
    p.attention_linear += hidden_ * (a.kv_lora_rank + a.qk_rope_head_dim);  // kv_a_proj_with_mqa
    p.attention_other += a.kv_lora_rank;                                    // kv_a_layernorm
    p.attention_linear += a.kv_lora_rank * heads_ * (a.qk_nope_head_dim + a.v_head_dim);
    p.attention_linear += heads_ * a.v_head_dim * hidden_;  // o_proj
  } else {
    const int64_t q = heads_ * head_dim_, kv = kv_heads_ * head_dim_;
    p.attention_linear = hidden_ * (q + 2 * kv) + q * hidden_;
    if (qkv_bias_) p.attention_other += q + 2 * kv;
    if (o_bias_) p.attention_other += hidden_;
    if (qk_norm_) p.attention_other += 2 * head_dim_;
    if (attention_sinks_) p.attention_other += heads_;
  }
  p.norms = 2 * hidden_;
  if (IsMoeLayer(layer)) {
    const MoeSpec& e = *moe_;
    p.routed_experts = e.num_experts * 3 * hidden_ * e.expert_intermediate;
    p.shared_experts = e.num_shared_experts * 3 * hidden_ * e.shared_intermediate;
    p.router = hidden_ * e.num_experts + (e.router_bias ? e.num_experts : 0);
    if (e.expert_bias) p.expert_biases = e.num_experts * (2 * e.expert_intermediate + hidden_);
    p.mlp_linear = p.routed_experts + p.shared_experts;
  } else {
    p.mlp_linear = 3 * hidden_ * intermediate_;
  }
  return p;
}

ParamCounts ModelSpec::Params() const {
  ParamCounts c;
  c.embedding = vocab_ * hidden_;
  c.lm_head = tie_embeddings_ ? 0 : vocab_ * hidden_;
  c.norms = hidden_;  // final norm
  int64_t unused_expert_params = 0;
  for (int64_t l = 0; l < layers_; ++l) {
    LayerParams p = ParamsOfLayer(l);
    c.attention += p.attention_linear + p.attention_other;
    c.norms += p.norms;
    c.routers += p.router;
    c.routed_experts += p.routed_experts + p.expert_biases;
    c.shared_experts += p.shared_experts;
    if (!IsMoeLayer(l)) c.dense_mlp += p.mlp_linear;
    if (IsMoeLayer(l)) {
      const MoeSpec& e = *moe_;
      const int64_t per_expert = (p.routed_experts + p.expert_biases) / e.num_experts;
      unused_expert_params += per_expert * (e.num_experts - e.experts_per_token);
    }
  }
  c.total = c.embedding + c.lm_head + c.norms + c.attention + c.dense_mlp + c.routed_experts +
            c.shared_experts + c.routers;
  c.active = c.total - unused_expert_params;
  c.active_excl_embedding = c.active - c.embedding;
  return c;
}

int64_t ModelSpec::KvBytesPerToken(DType kv_dtype) const {
  double per_layer = mla_ ? static_cast<double>(mla_->kv_lora_rank + mla_->qk_rope_head_dim)
                          : 2.0 * kv_heads_ * head_dim_;
  int64_t full_layers = 0;
  for (int64_t l = 0; l < layers_; ++l) full_layers += IsSlidingLayer(l) ? 0 : 1;
  return std::llround(per_layer * full_layers * DTypeBytes(kv_dtype));
}

int64_t ModelSpec::SlidingWindowKvBytes(DType kv_dtype) const {
  int64_t sliding = 0;
  for (int64_t l = 0; l < layers_; ++l) sliding += IsSlidingLayer(l) ? 1 : 0;
  return std::llround(2.0 * kv_heads_ * head_dim_ * sliding * sliding_window_ *
                      DTypeBytes(kv_dtype));
}

int64_t ModelSpec::KvBytesPerTokenPerGpu(DType kv_dtype, const Parallelism& p) const {
  const double per_layer = mla_ ? static_cast<double>(mla_->kv_lora_rank + mla_->qk_rope_head_dim)
                                : 2.0 * std::max<int64_t>(1, kv_heads_ / p.tp) * head_dim_;
  int64_t max_full = 0;
  for (int s = 0; s < p.pp; ++s) {
    auto [first, last] = StageLayers(layers_, p.pp, s);
    int64_t full = 0;
    for (int64_t l = first; l < last; ++l) full += IsSlidingLayer(l) ? 0 : 1;
    max_full = std::max(max_full, full);
  }
  return std::llround(per_layer * max_full * DTypeBytes(kv_dtype));
}

double ModelSpec::MatmulFlopsPerToken() const {
  ParamCounts c = Params();
  return 2.0 * static_cast<double>(c.active - c.embedding - c.norms);
}

double ModelSpec::AttentionFlopsPerToken(int64_t context_len) const {
  const double qk = mla_ ? static_cast<double>(mla_->qk_nope_head_dim + mla_->qk_rope_head_dim)
                         : static_cast<double>(head_dim_);
  const double v = mla_ ? static_cast<double>(mla_->v_head_dim) : static_cast<double>(head_dim_);
  double flops = 0.0;
  for (int64_t l = 0; l < layers_; ++l) {
    const int64_t ctx = IsSlidingLayer(l) ? std::min(context_len, sliding_window_) : context_len;
    flops += 2.0 * heads_ * (qk + v) * static_cast<double>(ctx);
  }
  return flops;
}

Status ModelSpec::CheckParallelism(const Parallelism& p) const {
  if (p.tp < 1) return InvalidArgument("tp: " + std::to_string(p.tp) + " must be >= 1");
  if (p.pp < 1) return InvalidArgument("pp: " + std::to_string(p.pp) + " must be >= 1");
  if (p.ep < 1) return InvalidArgument("ep: " + std::to_string(p.ep) + " must be >= 1");
  if (heads_ % p.tp != 0) {
    return FailedPrecondition("tp: " + std::to_string(p.tp) + " does not divide " +
                              std::to_string(heads_) + " attention heads of " + name_ +
                              "; use one of " + JoinInts(Divisors(heads_, 64)));
  }
  if (!mla_ && kv_heads_ % p.tp != 0 && p.tp % kv_heads_ != 0) {
    return FailedPrecondition("tp: " + std::to_string(p.tp) + " and the " +
                              std::to_string(kv_heads_) + " KV heads of " + name_ +
                              " must divide one another; use a divisor or multiple of " +
                              std::to_string(kv_heads_));
  }
  if (p.pp > layers_) {
    return FailedPrecondition("pp: " + std::to_string(p.pp) + " exceeds the " +
                              std::to_string(layers_) + " layers of " + name_);
  }
  const int64_t dense_inter = intermediate_;
  if (dense_inter > 0 && (num_moe_layers() < layers_) && dense_inter % p.tp != 0) {
    return FailedPrecondition("tp: " + std::to_string(p.tp) +
                              " does not divide intermediate_size " + std::to_string(dense_inter) +
                              " of " + name_);
  }
  if (!moe_) {
    if (p.ep != 1) {
      return FailedPrecondition("ep: " + std::to_string(p.ep) +
                                " needs a mixture-of-experts model; " + name_ +
                                " is dense, use ep 1");
    }
    return Status::Ok();
  }
  if (moe_->num_experts % p.ep != 0) {
    return FailedPrecondition("ep: " + std::to_string(p.ep) + " does not divide the " +
                              std::to_string(moe_->num_experts) + " experts of " + name_ +
                              "; use one of " + JoinInts(Divisors(moe_->num_experts, p.tp)));
  }
  if (p.tp % p.ep != 0) {
    return FailedPrecondition("ep: " + std::to_string(p.ep) + " must divide tp " +
                              std::to_string(p.tp) +
                              " (experts are spread over the tensor-parallel group)");
  }
  const int64_t expert_tp = p.tp / p.ep;
  if (moe_->expert_intermediate % expert_tp != 0) {
    return FailedPrecondition("tp/ep: " + std::to_string(expert_tp) +
                              " does not divide the expert intermediate size " +
                              std::to_string(moe_->expert_intermediate) + " of " + name_);
  }
  return Status::Ok();
}

int64_t ModelSpec::AttentionLinearPerGpu(int tp) const {
  if (mla_) {
    const MlaSpec& a = *mla_;
    const int64_t qk_dim = a.qk_nope_head_dim + a.qk_rope_head_dim;
    // Down projections are replicated on every rank; up projections and o_proj split by heads.
    int64_t replicated = hidden_ * (a.kv_lora_rank + a.qk_rope_head_dim);
    int64_t split = a.kv_lora_rank * heads_ * (a.qk_nope_head_dim + a.v_head_dim) +
                    heads_ * a.v_head_dim * hidden_;
    if (a.q_lora_rank > 0) {
      replicated += hidden_ * a.q_lora_rank;
      split += a.q_lora_rank * heads_ * qk_dim;
    } else {
      split += hidden_ * heads_ * qk_dim;
    }
    return replicated + split / tp;
  }
  const int64_t q = heads_ * head_dim_;
  const int64_t kv_per_rank = std::max<int64_t>(1, kv_heads_ / tp);  // replicated if tp > kv
  return 2 * hidden_ * q / tp + 2 * hidden_ * kv_per_rank * head_dim_;
}

int64_t ModelSpec::WeightBytesPerGpu(const Parallelism& p, DType weight_dtype) const {
  DYNAMO_CHECK(CheckParallelism(p).ok());
  const double wb = DTypeBytes(weight_dtype);
  const double bf16 = DTypeBytes(DType::kBf16);
  const double tp = p.tp;
  double max_stage = 0.0;
  for (int s = 0; s < p.pp; ++s) {
    auto [first, last] = StageLayers(layers_, p.pp, s);
    double bytes = 0.0;
    for (int64_t l = first; l < last; ++l) {
      LayerParams lp = ParamsOfLayer(l);
      bytes += wb * static_cast<double>(AttentionLinearPerGpu(p.tp));
      bytes += bf16 * static_cast<double>(lp.attention_other + lp.norms + lp.router);
      bytes += wb * static_cast<double>(lp.mlp_linear) / tp;
      bytes += bf16 * static_cast<double>(lp.expert_biases) / tp;
    }
    const double vocab_shard = bf16 * static_cast<double>(vocab_ * hidden_) / tp;
    if (s == 0) bytes += vocab_shard;  // input embedding
    if (s == p.pp - 1) {
      // The last stage needs an output projection of its own unless it also holds the tied input
      // embedding (pp == 1).
      if (!tie_embeddings_ || p.pp > 1) bytes += vocab_shard;
      bytes += bf16 * static_cast<double>(hidden_);  // final norm
    }
    max_stage = std::max(max_stage, bytes);
  }
  return std::llround(max_stage);
}

}  // namespace dynamo
