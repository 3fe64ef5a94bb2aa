#include "profiler/shape_grid.h"

#include <algorithm>
#include <map>
#include <set>

#include "core/perf/perf_db.h"
#include "core/perf/roofline.h"

namespace dynamo::profiler {
namespace {

using perf::OpShape;

class Collector {
 public:
  explicit Collector(const GridOptions& o) : o_(o) {}
  void Add(const OpShape& s) {
    if (!perf::Validate(s).ok()) return;
    if (o_.max_flops > 0 && perf::WorkOf(s).flops > o_.max_flops) return;
    const std::string key = perf::ShapeKey(s, "");
    if (seen_.insert(key).second) shapes_.emplace_back(key, s);
  }
  std::vector<OpShape> Take() {
    // Deterministic: by family, then key.
    std::sort(shapes_.begin(), shapes_.end(), [](const auto& a, const auto& b) {
      if (a.second.index() != b.second.index()) return a.second.index() < b.second.index();
      return a.first < b.first;
    });
    std::vector<OpShape> out;
    for (auto& [k, s] : shapes_) out.push_back(std::move(s));
    return out;
  }

 private:
  const GridOptions& o_;
  std::set<std::string> seen_;
  std::vector<std::pair<std::string, OpShape>> shapes_;
};

std::vector<int64_t> Tokens(bool quick) {
  if (quick) return {1, 8, 32, 128, 512, 2048};
  return {1,   2,   4,   8,   16,   32,   48,   64,   96,   128,  192,
          256, 384, 512, 768, 1024, 1536, 2048, 3072, 4096, 8192, 16384};
}

}  // namespace

std::vector<OpShape> BuildShapeGrid(const std::vector<ModelSpec>& models, const GridOptions& o) {
  Collector c(o);
  const auto tokens = Tokens(o.quick);
  const DType attn = o.attention_dtype;
  const DType kv = o.attention_dtype;
  // Context chunks: q_len with and without a cached prefix; decode: batch x KV length.
  const std::vector<int64_t> q_lens =
      o.quick ? std::vector<int64_t>{16, 128, 512, 2048}
              : std::vector<int64_t>{1, 16, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384};
  const std::vector<int64_t> prefixes =
      o.quick ? std::vector<int64_t>{0, 2048} : std::vector<int64_t>{0, 512, 2048, 8192, 32768};
  const std::vector<int64_t> batches = o.quick
                                           ? std::vector<int64_t>{1, 8, 64}
                                           : std::vector<int64_t>{1, 4, 16, 32, 64, 128, 256, 512};
  const std::vector<int64_t> kv_lens =
      o.quick ? std::vector<int64_t>{256, 2048}
              : std::vector<int64_t>{128, 512, 1024, 2048, 4096, 8192, 16384, 32768, 131072};

  for (const ModelSpec& m : models) {
    for (int tp : o.tps) {
      Parallelism p{tp, 1, 1};
      if (!m.CheckParallelism(p).ok()) continue;
      const int64_t hidden = m.hidden_size();
      const int64_t heads = m.num_heads() / tp;
      const int64_t kv_heads = std::max<int64_t>(1, m.num_kv_heads() / tp);
      const int64_t hd = m.head_dim();
      std::vector<std::pair<int64_t, int64_t>> nk;  // (n, k) of the per-token GEMMs
      if (m.mla()) {
        const MlaSpec& a = *m.mla();
        const int64_t qk = a.qk_nope_head_dim + a.qk_rope_head_dim;
        if (a.q_lora_rank > 0) {
          nk.push_back({a.q_lora_rank, hidden});
          nk.push_back({heads * qk, a.q_lora_rank});
        } else {
          nk.push_back({heads * qk, hidden});
        }
        nk.push_back({a.kv_lora_rank + a.qk_rope_head_dim, hidden});
        nk.push_back({hidden, heads * a.v_head_dim});
        nk.push_back({heads * (a.qk_nope_head_dim + a.v_head_dim), a.kv_lora_rank});
      } else {
        nk.push_back({(heads + 2 * kv_heads) * hd, hidden});
        nk.push_back({hidden, heads * hd});
      }
      if (m.intermediate_size() > 0) {
        nk.push_back({2 * m.intermediate_size() / tp, hidden});
        nk.push_back({hidden, m.intermediate_size() / tp});
      }
      nk.push_back({m.vocab_size() / tp, hidden});
      for (DType d : o.gemm_dtypes) {
        for (auto [n, k] : nk) {
          for (int64_t t : tokens) c.Add(perf::GemmShape{d, t, n, k});
        }
        if (m.moe()) {
          const MoeSpec& e = *m.moe();
          for (int64_t t : tokens) c.Add(perf::GemmShape{attn, t, e.num_experts, hidden});
          const int64_t inter = e.expert_intermediate / tp;  // ep 1: experts split tp ways
          for (int64_t t : {int64_t{1}, int64_t{4}, int64_t{16}, int64_t{64}, int64_t{256}}) {
            c.Add(perf::GemmShape{d, t, 2 * inter, hidden});
            c.Add(perf::GemmShape{d, t, hidden, inter});
          }
        }
      }
      if (m.mla()) {
        const MlaSpec& a = *m.mla();
        for (int64_t q : q_lens) {
          for (int64_t prefix : prefixes) {
            c.Add(perf::MlaContextShape{attn, kv, 1, q, q + prefix, heads, a.kv_lora_rank,
                                        a.qk_nope_head_dim, a.qk_rope_head_dim, a.v_head_dim});
          }
        }
        for (int64_t b : batches) {
          for (int64_t len : kv_lens) {
            c.Add(
                perf::MlaDecodeShape{attn, kv, b, len, heads, a.kv_lora_rank, a.qk_rope_head_dim});
          }
        }
      } else {
        for (int64_t q : q_lens) {
          for (int64_t prefix : prefixes) {
            c.Add(perf::AttnContextShape{attn, kv, 1, q, q + prefix, heads, kv_heads, hd});
          }
        }
        c.Add(perf::AttnContextShape{attn, kv, 1, 1, 1, heads, kv_heads, hd});
        for (int64_t b : batches) {
          for (int64_t len : kv_lens) {
            c.Add(perf::AttnDecodeShape{attn, kv, b, len, heads, kv_heads, hd});
          }
        }
      }
      if (o.collectives && tp > 1) {
        for (int64_t t : tokens) {
          c.Add(perf::CollectiveShape{perf::Collective::kAllReduce, DType::kBf16, tp,
                                      t * hidden * 2});
        }
        for (int64_t t : {int64_t{1}, int64_t{32}, int64_t{256}}) {
          c.Add(perf::CollectiveShape{perf::Collective::kAllGather, DType::kBf16, tp,
                                      t * m.vocab_size() * 2});
        }
      }
    }
  }
  if (!o.quick) {  // generic square-ish GEMMs around the model shapes
    for (DType d : o.gemm_dtypes) {
      for (int64_t n : {1024, 4096, 8192, 16384}) {
        for (int64_t k : {1024, 4096, 8192, 16384}) {
          for (int64_t t : tokens) c.Add(perf::GemmShape{d, t, n, k});
        }
      }
    }
  }
  if (o.transfers) {
    for (int64_t bytes :
         {int64_t{4} << 10, int64_t{256} << 10, int64_t{4} << 20, int64_t{64} << 20}) {
      for (auto kind : {perf::TransferKind::kH2D, perf::TransferKind::kD2H,
                        perf::TransferKind::kD2D, perf::TransferKind::kPeer}) {
        c.Add(perf::TransferShape{kind, "", bytes});
      }
    }
  }
  return c.Take();
}

}  // namespace dynamo::profiler
