#include "profiler/cpu/cpu_reference_step.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <numeric>
#include <span>
#include <string>

#include "core/check.h"
#include "core/rng.h"
#include "profiler/cpu/cpu_backend.h"
#include "profiler/cpu/cpu_kernels.h"
#include "profiler/cpu/cpu_thread_pool.h"
#include "profiler/cpu/cpu_timing.h"

namespace dynamo::profiler {
namespace {

constexpr uint64_t kWeightSeed = 0x7e57'5eed;
// Layers get their own weights and KV caches while all of them fit in this budget; beyond it
// layer l uses set l % sets (a 70B model would need 280 GB in fp32). A set is still far larger
// than the last-level cache, so every layer streams its weights from memory as a real step
// does, and the GEMM shapes are unchanged.
constexpr int64_t kLayerSetBudgetBytes = int64_t{4} << 30;
// The embedding gather reads one row per token, whatever the table's size, so the table holds
// at most this many rows (token ids are drawn below it).
constexpr int64_t kEmbeddingRows = 4096;
// The whole step (weights, caches, activations) must fit in this share of physical memory.
constexpr double kMemoryFraction = 0.5;
constexpr float kRmsNormEpsilon = 1e-6f;
// Elementwise work is split over the pool in blocks of at least this many rows.
constexpr int64_t kRowsPerTask = 16;

int64_t CeilDiv(int64_t a, int64_t b) { return (a + b - 1) / b; }

std::string FormatGiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2f GiB", bytes / static_cast<double>(int64_t{1} << 30));
  return buf;
}

Status CheckModel(const ModelSpec& model, int64_t layers) {
  if (model.is_moe()) {
    return FailedPrecondition("model " + model.name() + ": the CPU reference step runs dense " +
                              "models only, and " + model.name() + " is a mixture of " +
                              std::to_string(model.moe()->num_experts) +
                              " experts; use a dense model (Llama, Qwen2, Qwen3, Mistral)");
  }
  if (model.mla().has_value()) {
    return FailedPrecondition("model " + model.name() +
                              ": the CPU reference step has no multi-head latent attention "
                              "(MLA); use a model with grouped-query attention");
  }
  if (layers < 0 || layers > model.num_layers()) {
    return InvalidArgument("layers: " + std::to_string(layers) + " is outside [0, " +
                           std::to_string(model.num_layers()) + "] for model " + model.name() +
                           " (0: all layers)");
  }
  return Status::Ok();
}

Status CheckBatch(const ModelSpec& model, const ReferenceBatch& batch) {
  if (batch.prefill.empty() && batch.decode_kv_lens.empty()) {
    return InvalidArgument(
        "empty batch: no prefill chunk and no decode sequence; give at least one");
  }
  const int64_t max_pos = model.max_position_embeddings();
  auto check_len = [&](const std::string& where, int64_t kv_len) -> Status {
    if (max_pos > 0 && kv_len > max_pos) {
      return InvalidArgument(where + ": kv_len " + std::to_string(kv_len) + " exceeds " +
                             model.name() + "'s max_position_embeddings " +
                             std::to_string(max_pos));
    }
    return Status::Ok();
  };
  for (size_t i = 0; i < batch.prefill.size(); ++i) {
    const auto [q_len, kv_len] = batch.prefill[i];
    const std::string where = "prefill[" + std::to_string(i) + "]";
    if (q_len < 1) {
      return InvalidArgument(where + ": q_len " + std::to_string(q_len) + " must be >= 1");
    }
    if (kv_len < q_len) {
      return InvalidArgument(where + ": kv_len " + std::to_string(kv_len) + " is less than q_len " +
                             std::to_string(q_len) +
                             "; kv_len counts the cached prefix plus the chunk");
    }
    RETURN_IF_ERROR(check_len(where, kv_len));
  }
  for (size_t i = 0; i < batch.decode_kv_lens.size(); ++i) {
    const std::string where = "decode_kv_lens[" + std::to_string(i) + "]";
    const int64_t kv_len = batch.decode_kv_lens[i];
    if (kv_len < 1) {
      return InvalidArgument(where + ": " + std::to_string(kv_len) +
                             " must be >= 1 (the new token's key counts)");
    }
    RETURN_IF_ERROR(check_len(where, kv_len));
  }
  return Status::Ok();
}

// Model dimensions (tp = 1) and the step's token layout. Rows of every [T][...] activation:
// the prefill chunks' tokens in order, then one row per decode sequence.
struct StepShape {
  int64_t hidden = 0, heads = 0, kv_heads = 0, head_dim = 0, intermediate = 0, vocab = 0;
  int64_t q_dim = 0, kv_dim = 0, qkv_dim = 0;  // heads*head_dim, kv_heads*head_dim, q+2kv
  int64_t tokens = 0;                          // T
  std::vector<int64_t> chunk_row;              // [chunk] first row
  int64_t decode_row = 0;                      // first decode row
  int64_t decodes = 0;
  std::vector<int64_t> sampled_rows;  // last row of each chunk, then every decode row
  DecodeAttentionDims paged;          // the decode sequences' paged pool
  std::vector<int32_t> block_table;   // [decodes][paged.max_blocks_per_seq]

  StepShape(const ModelSpec& m, const ReferenceBatch& batch)
      : hidden(m.hidden_size()),
        heads(m.num_heads()),
        kv_heads(m.num_kv_heads()),
        head_dim(m.head_dim()),
        intermediate(m.intermediate_size()),
        vocab(m.vocab_size()),
        q_dim(heads * head_dim),
        kv_dim(kv_heads * head_dim),
        qkv_dim(q_dim + 2 * kv_dim) {
    for (const auto& [q_len, kv_len] : batch.prefill) {
      chunk_row.push_back(tokens);
      tokens += q_len;
      sampled_rows.push_back(tokens - 1);
    }
    decode_row = tokens;
    decodes = static_cast<int64_t>(batch.decode_kv_lens.size());
    tokens += decodes;
    for (int64_t s = 0; s < decodes; ++s) sampled_rows.push_back(decode_row + s);

    paged.batch = std::max<int64_t>(decodes, 1);
    paged.heads = heads;
    paged.kv_heads = kv_heads;
    paged.head_dim = head_dim;
    paged.block_size = kDefaultKvBlockSize;
    int64_t longest = 1, blocks = 0;
    for (int64_t len : batch.decode_kv_lens) {
      longest = std::max(longest, len);
      blocks += CeilDiv(len, paged.block_size);
    }
    paged.max_blocks_per_seq = CeilDiv(longest, paged.block_size);
    paged.num_blocks = std::max<int64_t>(blocks, 1);
    // Shuffled block ids, as a block manager's free list hands them out after a while.
    std::vector<int32_t> ids(static_cast<size_t>(paged.num_blocks));
    std::iota(ids.begin(), ids.end(), 0);
    RngStream rng(kWeightSeed, "reference-step-block-table");
    for (size_t i = ids.size() - 1; i > 0; --i) std::swap(ids[i], ids[rng.Below(i + 1)]);
    block_table.assign(static_cast<size_t>(paged.batch * paged.max_blocks_per_seq), 0);
    size_t next = 0;
    for (int64_t s = 0; s < decodes; ++s) {
      const int64_t n = CeilDiv(batch.decode_kv_lens[s], paged.block_size);
      for (int64_t i = 0; i < n; ++i) {
        block_table[static_cast<size_t>(s * paged.max_blocks_per_seq + i)] = ids[next++];
      }
    }
  }

  int64_t LayerWeightFloats() const {
    return 2 * hidden + hidden * qkv_dim + q_dim * hidden + hidden * 2 * intermediate +
           intermediate * hidden;
  }
  int64_t LayerKvFloats(const ReferenceBatch& batch) const {
    int64_t chunk_tokens = 0;
    for (const auto& [q_len, kv_len] : batch.prefill) chunk_tokens += kv_len;
    return 2 * kv_dim * (chunk_tokens + paged.num_blocks * paged.block_size);
  }
  int64_t FixedFloats() const {  // embedding, final norm, LM head, activations
    const int64_t sampled = static_cast<int64_t>(sampled_rows.size());
    return std::min(vocab, kEmbeddingRows) * hidden + hidden + hidden * vocab +
           tokens * (3 * hidden + qkv_dim + 2 * q_dim + 3 * intermediate) +
           sampled * (hidden + vocab);
  }
};

// One set of layer weights: [in][out] matrices, so a layer's GEMM is activations x weight.
struct LayerWeights {
  std::vector<float> attn_norm;  // [hidden]
  std::vector<float> qkv;        // [hidden][q_dim + 2 kv_dim]: q, k, v columns
  std::vector<float> o;          // [q_dim][hidden]
  std::vector<float> mlp_norm;   // [hidden]
  std::vector<float> gate_up;    // [hidden][2 intermediate]: gate columns, then up
  std::vector<float> down;       // [intermediate][hidden]
};

// One set of KV caches for the batch's sequences.
struct LayerKv {
  std::vector<std::vector<float>> chunk_k, chunk_v;  // [chunk][kv_len][kv_heads][head_dim]
  std::vector<float> k_pool, v_pool;                 // [num_blocks][block_size][kv_heads][head_dim]
};

std::vector<float> RandomVector(ThreadPool& pool, int64_t n, uint64_t stream, float scale) {
  std::vector<float> x(static_cast<size_t>(n));
  FillRandom(pool, kWeightSeed + stream, scale, x);
  return x;
}

float InverseSqrt(int64_t fan_in) { return 1.0f / std::sqrt(static_cast<float>(fan_in)); }

// The model and the step's buffers; Run() is one forward step.
class ReferenceStep {
 public:
  ReferenceStep(ThreadPool& pool, const ModelSpec& model, int64_t layers, int64_t sets,
                const ReferenceBatch& batch)
      : pool_(pool), shape_(model, batch), batch_(batch), layers_(layers) {
    const StepShape& s = shape_;
    uint64_t stream = 0;
    for (int64_t i = 0; i < sets; ++i) {
      LayerWeights w;
      w.attn_norm.assign(static_cast<size_t>(s.hidden), 1.0f);
      w.mlp_norm.assign(static_cast<size_t>(s.hidden), 1.0f);
      w.qkv = RandomVector(pool, s.hidden * s.qkv_dim, ++stream, InverseSqrt(s.hidden));
      w.o = RandomVector(pool, s.q_dim * s.hidden, ++stream, InverseSqrt(s.q_dim));
      w.gate_up =
          RandomVector(pool, s.hidden * 2 * s.intermediate, ++stream, InverseSqrt(s.hidden));
      w.down = RandomVector(pool, s.intermediate * s.hidden, ++stream, InverseSqrt(s.intermediate));
      weights_.push_back(std::move(w));
      // Caches hold random keys and values for the prefixes and previous tokens.
      LayerKv kv;
      for (const auto& [q_len, kv_len] : batch.prefill) {
        kv.chunk_k.push_back(RandomVector(pool, kv_len * s.kv_dim, ++stream, 1.0f));
        kv.chunk_v.push_back(RandomVector(pool, kv_len * s.kv_dim, ++stream, 1.0f));
      }
      const int64_t pool_floats = s.paged.num_blocks * s.paged.block_size * s.kv_dim;
      kv.k_pool = RandomVector(pool, pool_floats, ++stream, 1.0f);
      kv.v_pool = RandomVector(pool, pool_floats, ++stream, 1.0f);
      kv_.push_back(std::move(kv));
    }
    embedding_ = RandomVector(pool, std::min(s.vocab, kEmbeddingRows) * s.hidden, ++stream, 1.0f);
    final_norm_.assign(static_cast<size_t>(s.hidden), 1.0f);
    lm_head_ = RandomVector(pool, s.hidden * s.vocab, ++stream, InverseSqrt(s.hidden));
    const int64_t t = s.tokens;
    const int64_t sampled = static_cast<int64_t>(s.sampled_rows.size());
    x_.resize(static_cast<size_t>(t * s.hidden));
    normed_.resize(static_cast<size_t>(t * s.hidden));
    proj_.resize(static_cast<size_t>(t * s.hidden));
    qkv_.resize(static_cast<size_t>(t * s.qkv_dim));
    q_.resize(static_cast<size_t>(t * s.q_dim));
    attn_.resize(static_cast<size_t>(t * s.q_dim));
    gate_up_.resize(static_cast<size_t>(t * 2 * s.intermediate));
    act_.resize(static_cast<size_t>(t * s.intermediate));
    sampled_.resize(static_cast<size_t>(sampled * s.hidden));
    logits_.resize(static_cast<size_t>(sampled * s.vocab));
    decode_kv_lens_ = batch.decode_kv_lens;
  }

  void Run() {
    Embed();
    for (int64_t l = 0; l < layers_; ++l) {
      const size_t set = static_cast<size_t>(l) % weights_.size();
      Layer(weights_[set], kv_[set]);
    }
    LmHead();
  }

 private:
  // Runs fn(begin, end) over row blocks of [0, rows).
  void ForRows(int64_t rows, const std::function<void(int64_t, int64_t)>& fn) {
    const int64_t tasks = std::clamp<int64_t>(rows / kRowsPerTask, 1, pool_.size());
    const int64_t per_task = CeilDiv(rows, tasks);
    pool_.ParallelFor(tasks, [&](int64_t i) {
      const int64_t begin = i * per_task;
      const int64_t end = std::min(rows, begin + per_task);
      if (begin < end) fn(begin, end);
    });
  }

  // out[r] = in[r] / rms(in[r]) * gain, for `rows` rows of [rows][hidden].
  void RmsNorm(int64_t rows, const float* in, const std::vector<float>& gain, float* out) {
    const int64_t h = shape_.hidden;
    ForRows(rows, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const float* x = in + r * h;
        double sq = 0;
        for (int64_t i = 0; i < h; ++i) sq += double{x[i]} * x[i];
        const float inv = 1.0f / std::sqrt(static_cast<float>(sq / h) + kRmsNormEpsilon);
        for (int64_t i = 0; i < h; ++i) out[r * h + i] = x[i] * inv * gain[i];
      }
    });
  }

  void AddResidual() {  // x += proj, [T][hidden]
    const int64_t h = shape_.hidden;
    ForRows(shape_.tokens, [&](int64_t begin, int64_t end) {
      for (int64_t i = begin * h; i < end * h; ++i) x_[i] += proj_[i];
    });
  }

  void Embed() {
    const int64_t h = shape_.hidden;
    const int64_t rows = static_cast<int64_t>(embedding_.size()) / h;
    ForRows(shape_.tokens, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        const int64_t id =
            static_cast<int64_t>(Mix64(static_cast<uint64_t>(r)) % static_cast<uint64_t>(rows));
        std::memcpy(&x_[r * h], &embedding_[id * h], sizeof(float) * h);
      }
    });
  }

  // Splits qkv_ rows into q_ ([T][heads][head_dim]) and the caches: a chunk's keys and values
  // go to positions prefix .. kv_len - 1 of its contiguous cache, a decode token's to slot
  // kv_len - 1 of its paged sequence.
  // Rotary position embedding is skipped: it is elementwise over q and k, negligible next to
  // the GEMMs and attention.
  void ScatterQkv(LayerKv& kv) {
    const StepShape& s = shape_;
    const size_t kv_bytes = sizeof(float) * s.kv_dim;
    ForRows(s.tokens, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        std::memcpy(&q_[r * s.q_dim], &qkv_[r * s.qkv_dim], sizeof(float) * s.q_dim);
      }
    });
    for (size_t c = 0; c < batch_.prefill.size(); ++c) {
      const auto [q_len, kv_len] = batch_.prefill[c];
      const int64_t prefix = kv_len - q_len;
      for (int64_t i = 0; i < q_len; ++i) {
        const float* row = &qkv_[(s.chunk_row[c] + i) * s.qkv_dim];
        std::memcpy(&kv.chunk_k[c][(prefix + i) * s.kv_dim], row + s.q_dim, kv_bytes);
        std::memcpy(&kv.chunk_v[c][(prefix + i) * s.kv_dim], row + s.q_dim + s.kv_dim, kv_bytes);
      }
    }
    for (int64_t d = 0; d < s.decodes; ++d) {
      const int64_t pos = decode_kv_lens_[d] - 1;
      const int64_t block = s.block_table[static_cast<size_t>(d * s.paged.max_blocks_per_seq +
                                                              pos / s.paged.block_size)];
      const int64_t slot = (block * s.paged.block_size + pos % s.paged.block_size) * s.kv_dim;
      const float* row = &qkv_[(s.decode_row + d) * s.qkv_dim];
      std::memcpy(&kv.k_pool[slot], row + s.q_dim, kv_bytes);
      std::memcpy(&kv.v_pool[slot], row + s.q_dim + s.kv_dim, kv_bytes);
    }
  }

  void Attention(LayerKv& kv) {
    const StepShape& s = shape_;
    const std::span<const float> q(q_);
    const std::span<float> out(attn_);
    for (size_t c = 0; c < batch_.prefill.size(); ++c) {
      const auto [q_len, kv_len] = batch_.prefill[c];
      const ContextAttentionDims d{.batch = 1,
                                   .q_len = q_len,
                                   .kv_len = kv_len,
                                   .heads = s.heads,
                                   .kv_heads = s.kv_heads,
                                   .head_dim = s.head_dim};
      const auto rows = static_cast<size_t>(s.chunk_row[c] * s.q_dim);
      const auto n = static_cast<size_t>(q_len * s.q_dim);
      ContextAttention(pool_, d, q.subspan(rows, n), kv.chunk_k[c], kv.chunk_v[c],
                       out.subspan(rows, n));
    }
    if (s.decodes > 0) {
      const auto rows = static_cast<size_t>(s.decode_row * s.q_dim);
      const auto n = static_cast<size_t>(s.decodes * s.q_dim);
      PagedDecodeAttention(pool_, s.paged, q.subspan(rows, n), kv.k_pool, kv.v_pool, s.block_table,
                           decode_kv_lens_, out.subspan(rows, n));
    }
  }

  void Layer(const LayerWeights& w, LayerKv& kv) {
    const StepShape& s = shape_;
    const int64_t t = s.tokens;
    RmsNorm(t, x_.data(), w.attn_norm, normed_.data());
    Gemm(pool_, t, s.qkv_dim, s.hidden, normed_, w.qkv, qkv_);
    ScatterQkv(kv);
    Attention(kv);
    Gemm(pool_, t, s.hidden, s.q_dim, attn_, w.o, proj_);
    AddResidual();
    RmsNorm(t, x_.data(), w.mlp_norm, normed_.data());
    Gemm(pool_, t, 2 * s.intermediate, s.hidden, normed_, w.gate_up, gate_up_);
    const int64_t inter = s.intermediate;
    ForRows(t, [&](int64_t begin, int64_t end) {  // act = silu(gate) * up
      for (int64_t r = begin; r < end; ++r) {
        const float* gate = &gate_up_[r * 2 * inter];
        for (int64_t i = 0; i < inter; ++i) {
          act_[r * inter + i] = gate[i] / (1.0f + std::exp(-gate[i])) * gate[inter + i];
        }
      }
    });
    Gemm(pool_, t, s.hidden, inter, act_, w.down, proj_);
    AddResidual();
  }

  // Final norm of the sampled rows, then logits = sampled x lm_head.
  void LmHead() {
    const StepShape& s = shape_;
    const int64_t sampled = static_cast<int64_t>(s.sampled_rows.size());
    for (int64_t i = 0; i < sampled; ++i) {
      std::memcpy(&proj_[i * s.hidden], &x_[s.sampled_rows[static_cast<size_t>(i)] * s.hidden],
                  sizeof(float) * s.hidden);
    }
    RmsNorm(sampled, proj_.data(), final_norm_, sampled_.data());
    Gemm(pool_, sampled, s.vocab, s.hidden, sampled_, lm_head_, logits_);
  }

  ThreadPool& pool_;
  const StepShape shape_;
  const ReferenceBatch& batch_;
  const int64_t layers_;
  std::vector<LayerWeights> weights_;  // [set]
  std::vector<LayerKv> kv_;            // [set]
  std::vector<int64_t> decode_kv_lens_;
  std::vector<float> embedding_;   // [min(vocab, kEmbeddingRows)][hidden]
  std::vector<float> final_norm_;  // [hidden]
  std::vector<float> lm_head_;     // [hidden][vocab]
  // Activations, [T][...] unless stated.
  std::vector<float> x_, normed_, proj_;  // [T][hidden]: residual stream, normed, projection
  std::vector<float> qkv_;                // [T][q_dim + 2 kv_dim]
  std::vector<float> q_, attn_;           // [T][heads][head_dim]
  std::vector<float> gate_up_;            // [T][2 intermediate]
  std::vector<float> act_;                // [T][intermediate]
  std::vector<float> sampled_;            // [sampled][hidden]
  std::vector<float> logits_;             // [sampled][vocab]
};

}  // namespace

StatusOr<perf::Timing> TimeReferenceStep(const ModelSpec& model, int64_t layers,
                                         const ReferenceBatch& batch, int threads,
                                         const MeasureOptions& options) {
  RETURN_IF_ERROR(CheckModel(model, layers));
  RETURN_IF_ERROR(CheckBatch(model, batch));
  if (threads < 0) {
    return InvalidArgument("threads: " + std::to_string(threads) +
                           " must be >= 0 (0: every hardware thread)");
  }
  if (layers == 0) layers = model.num_layers();
  const StepShape shape(model, batch);
  const double set_bytes =
      sizeof(float) * static_cast<double>(shape.LayerWeightFloats() + shape.LayerKvFloats(batch));
  const int64_t sets = std::clamp<int64_t>(
      static_cast<int64_t>(static_cast<double>(kLayerSetBudgetBytes) / set_bytes), 1, layers);
  const double total_bytes = static_cast<double>(sets) * set_bytes +
                             sizeof(float) * static_cast<double>(shape.FixedFloats());
  const double cap_bytes = kMemoryFraction * static_cast<double>(PhysicalMemoryBytes());
  if (cap_bytes > 0 && total_bytes > cap_bytes) {
    return FailedPrecondition("model " + model.name() + ": the reference step needs " +
                              FormatGiB(total_bytes) + " (" + std::to_string(sets) +
                              " layer weight sets, caches and activations), over half of "
                              "physical memory (" +
                              FormatGiB(cap_bytes) + "); use fewer tokens or a smaller model");
  }
  ThreadPool pool(ThreadPool::ResolveThreads(threads));
  ReferenceStep step(pool, model, layers, sets, batch);
  CacheFlusher flusher;
  return TimeCalls([&] { step.Run(); }, options, &flusher);
}

}  // namespace dynamo::profiler
