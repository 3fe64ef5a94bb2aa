#pragma once
// ModelSpec: the architecture facts of a transformer LLM, parsed from its Hugging Face
// config.json, and the figures derived from them (parameter counts, weights per GPU, KV bytes
// per token, FLOPs per token). Supported architectures: Llama, Qwen2, Qwen3, Mistral, Mixtral,
// Qwen3-MoE, DeepSeek-V3 (MLA; MoE with shared experts and dense first layers), GPT-OSS.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace dynamo {

class JsonNode;

enum class Architecture {
  kLlama,
  kQwen2,
  kQwen3,
  kMistral,
  kMixtral,
  kQwen3Moe,
  kDeepseekV3,
  kGptOss
};
std::string_view ArchitectureName(Architecture a);  // the Hugging Face class name

// Multi-head latent attention (DeepSeek-V2/V3): the KV cache holds one compressed latent of
// kv_lora_rank plus a shared rope key of qk_rope_head_dim per token and layer.
struct MlaSpec {
  int64_t q_lora_rank = 0;  // 0: plain q projection
  int64_t kv_lora_rank = 0;
  int64_t qk_nope_head_dim = 0;
  int64_t qk_rope_head_dim = 0;
  int64_t v_head_dim = 0;
};

struct MoeSpec {
  int64_t num_experts = 0;        // routed experts per MoE layer
  int64_t experts_per_token = 0;  // top-k
  int64_t expert_intermediate = 0;
  int64_t num_shared_experts = 0;   // always-active experts (DeepSeek)
  int64_t shared_intermediate = 0;  // per shared expert
  bool expert_bias = false;         // GPT-OSS experts and router carry biases
  bool router_bias = false;
};

// A worker's parallelism. GPUs = tp x pp. Experts are spread over the tensor-parallel group:
// ep divides tp; each expert is further split tp/ep ways.
struct Parallelism {
  int tp = 1;
  int pp = 1;
  int ep = 1;
  int gpus() const { return tp * pp; }
};

struct ParamCounts {
  int64_t total = 0;
  // Total minus the routed experts a token does not use (Mistral's and Qwen's convention:
  // Mixtral-8x7B 12.9B, Qwen3-235B-A22B 22B).
  int64_t active = 0;
  // Active minus the input embedding table, whose lookup is no matmul (DeepSeek's and OpenAI's
  // convention: DeepSeek-V3 37B, gpt-oss-120b 5.1B).
  int64_t active_excl_embedding = 0;
  int64_t embedding = 0;  // input embedding table
  int64_t lm_head = 0;    // 0 when tied to the embedding
  int64_t attention = 0;  // all layers, incl. attention norms/biases
  int64_t dense_mlp = 0;  // dense FFN layers
  int64_t routed_experts = 0;
  int64_t shared_experts = 0;
  int64_t routers = 0;
  int64_t norms = 0;  // layer norms and the final norm
};

class ModelSpec {
 public:
  // Parses a config.json. `name` labels the model in messages and outputs.
  static StatusOr<ModelSpec> FromConfig(const JsonNode& root, std::string name);

  const std::string& name() const { return name_; }
  Architecture architecture() const { return arch_; }
  int64_t hidden_size() const { return hidden_; }
  int64_t num_layers() const { return layers_; }
  int64_t num_heads() const { return heads_; }
  int64_t num_kv_heads() const { return kv_heads_; }
  int64_t head_dim() const { return head_dim_; }
  int64_t intermediate_size() const { return intermediate_; }
  int64_t vocab_size() const { return vocab_; }
  int64_t max_position_embeddings() const { return max_positions_; }
  bool tie_word_embeddings() const { return tie_embeddings_; }
  DType native_dtype() const { return native_dtype_; }
  const std::optional<MlaSpec>& mla() const { return mla_; }
  const std::optional<MoeSpec>& moe() const { return moe_; }
  bool is_moe() const { return moe_.has_value(); }
  // Sliding-window attention (GPT-OSS alternates sliding and full layers); 0 when none.
  int64_t sliding_window() const { return sliding_window_; }
  bool IsSlidingLayer(int64_t layer) const;
  bool IsMoeLayer(int64_t layer) const;
  int64_t num_moe_layers() const;

  ParamCounts Params() const;

  // KV-cache bytes one token adds, whole model (summed over layers and all GPUs), counting
  // full-attention layers only (sliding-window layers are bounded: SlidingWindowKvBytes); MLA
  // counts the compressed latent + rope key.
  int64_t KvBytesPerToken(DType kv_dtype) const;
  // Bytes a sequence holds in sliding-window layers once longer than the window (bounded).
  int64_t SlidingWindowKvBytes(DType kv_dtype) const;
  // KV bytes per token on one GPU of a worker: KV heads split over tp (replicated when
  // tp > kv heads; MLA latents replicated on every rank), layers split over pp (largest stage).
  int64_t KvBytesPerTokenPerGpu(DType kv_dtype, const Parallelism& p) const;

  // 2 x the weights a token multiplies: active params minus the input embedding lookup and the
  // norm scales.
  double MatmulFlopsPerToken() const;
  // Attention score and value FLOPs for one token attending to `context_len` tokens.
  double AttentionFlopsPerToken(int64_t context_len) const;

  // Rejects parallelisms the model cannot split into, with the allowed values:
  // "tp: 3 does not divide 64 attention heads; use 1, 2, 4, 8, 16, 32, 64".
  Status CheckParallelism(const Parallelism& p) const;
  // Weight bytes on the most loaded GPU of a worker. Linear layers (attention projections,
  // FFN, experts) are stored in `weight_dtype`; embeddings, norms, routers and biases in bf16.
  // Precondition: CheckParallelism(p).ok().
  int64_t WeightBytesPerGpu(const Parallelism& p, DType weight_dtype) const;

 private:
  struct LayerParams {
    int64_t attention_linear = 0;  // quantizable projection weights
    int64_t attention_other = 0;   // biases, q/k norms, sinks (kept in bf16)
    int64_t mlp_linear = 0;        // dense FFN or routed+shared experts
    int64_t routed_experts = 0;
    int64_t shared_experts = 0;
    int64_t router = 0;
    int64_t expert_biases = 0;
    int64_t norms = 0;
  };
  LayerParams ParamsOfLayer(int64_t layer) const;
  int64_t AttentionLinearPerGpu(int tp) const;

  std::string name_;
  Architecture arch_ = Architecture::kLlama;
  int64_t hidden_ = 0, layers_ = 0, heads_ = 0, kv_heads_ = 0, head_dim_ = 0;
  int64_t intermediate_ = 0, vocab_ = 0, max_positions_ = 0;
  bool tie_embeddings_ = false, qkv_bias_ = false, o_bias_ = false, qk_norm_ = false;
  bool attention_sinks_ = false;
  DType native_dtype_ = DType::kBf16;
  std::optional<MlaSpec> mla_;
  std::optional<MoeSpec> moe_;
  int64_t first_dense_layers_ = 0;     // DeepSeek first_k_dense_replace
  int64_t moe_layer_step_ = 1;         // Qwen-MoE decoder_sparse_step
  std::vector<int64_t> dense_layers_;  // Qwen-MoE mlp_only_layers
  int64_t sliding_window_ = 0;
  std::vector<bool> sliding_layers_;  // [layer]
};

}  // namespace dynamo
