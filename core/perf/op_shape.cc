#include "core/perf/op_shape.h"

#include <array>
#include <cstdio>

namespace dynamo::perf {
namespace {

constexpr std::array<std::string_view, 4> kCollectiveNames = {"allreduce", "allgather",
                                                              "reducescatter", "alltoall"};
constexpr std::array<std::string_view, 5> kTransferNames = {"h2d", "d2h", "d2d", "peer", "ucx"};
constexpr std::array<std::string_view, 4> kHostOverheadNames = {"launch", "sync", "step_base",
                                                                "per_seq"};

template <typename Enum, size_t N>
StatusOr<Enum> ParseName(std::string_view s, const std::array<std::string_view, N>& names,
                         std::string_view what) {
  std::string choices;
  for (size_t i = 0; i < N; ++i) {
    if (s == names[i]) return static_cast<Enum>(i);
    choices += (i ? ", " : "") + std::string(names[i]);
  }
  return InvalidArgument("unknown " + std::string(what) + " '" + std::string(s) + "'; use one of " +
                         choices);
}

std::string Dims(const char* fmt, auto... values) {
  char buf[256];
  std::snprintf(buf, sizeof buf, fmt, values...);
  return buf;
}

Status Positive(int64_t v, std::string_view field) {
  if (v >= 1) return Status::Ok();
  return InvalidArgument(std::string(field) + ": " + std::to_string(v) + " must be >= 1");
}

}  // namespace

std::string_view CollectiveName(Collective c) { return kCollectiveNames[static_cast<int>(c)]; }
StatusOr<Collective> ParseCollective(std::string_view s) {
  if (s == "all_reduce") return Collective::kAllReduce;  // NCCL / AIConfigurator spellings
  if (s == "all_gather") return Collective::kAllGather;
  if (s == "reduce_scatter") return Collective::kReduceScatter;
  if (s == "all_to_all") return Collective::kAllToAll;
  return ParseName<Collective>(s, kCollectiveNames, "collective");
}

std::string_view TransferKindName(TransferKind k) { return kTransferNames[static_cast<int>(k)]; }
StatusOr<TransferKind> ParseTransferKind(std::string_view s) {
  return ParseName<TransferKind>(s, kTransferNames, "transfer kind");
}

std::string_view HostOverheadName(HostOverheadKind k) {
  return kHostOverheadNames[static_cast<int>(k)];
}
StatusOr<HostOverheadKind> ParseHostOverhead(std::string_view s) {
  return ParseName<HostOverheadKind>(s, kHostOverheadNames, "host overhead kind");
}

DType ComputeDType(const OpShape& s) {
  struct Visitor {
    DType operator()(const GemmShape& g) const { return g.dtype; }
    DType operator()(const AttnContextShape& a) const { return a.dtype; }
    DType operator()(const AttnDecodeShape& a) const { return a.dtype; }
    DType operator()(const MlaContextShape& a) const { return a.dtype; }
    DType operator()(const MlaDecodeShape& a) const { return a.dtype; }
    DType operator()(const CollectiveShape&) const { return DType::kBf16; }
    DType operator()(const TransferShape&) const { return DType::kBf16; }
  };
  return std::visit(Visitor{}, s);
}

std::string_view OpFamilyName(const OpShape& s) {
  constexpr std::array<std::string_view, 7> kNames = {
      "gemm", "attn_context", "attn_decode", "mla_context", "mla_decode", "collective", "transfer"};
  return kNames[s.index()];
}

std::string Describe(const OpShape& shape) {
  struct Visitor {
    std::string operator()(const GemmShape& g) const {
      return Dims("gemm %s m=%lld n=%lld k=%lld", DTypeName(g.dtype).data(), (long long)g.m,
                  (long long)g.n, (long long)g.k);
    }
    std::string operator()(const AttnContextShape& a) const {
      return Dims("attn_context %s kv=%s batch=%lld q=%lld kv_len=%lld heads=%lld/%lld hd=%lld",
                  DTypeName(a.dtype).data(), DTypeName(a.kv_dtype).data(), (long long)a.batch,
                  (long long)a.q_len, (long long)a.kv_len, (long long)a.heads,
                  (long long)a.kv_heads, (long long)a.head_dim);
    }
    std::string operator()(const AttnDecodeShape& a) const {
      return Dims("attn_decode %s kv=%s batch=%lld kv_len=%lld heads=%lld/%lld hd=%lld",
                  DTypeName(a.dtype).data(), DTypeName(a.kv_dtype).data(), (long long)a.batch,
                  (long long)a.kv_len, (long long)a.heads, (long long)a.kv_heads,
                  (long long)a.head_dim);
    }
    std::string operator()(const MlaContextShape& a) const {
      return Dims("mla_context %s kv=%s batch=%lld q=%lld kv_len=%lld heads=%lld",
                  DTypeName(a.dtype).data(), DTypeName(a.kv_dtype).data(), (long long)a.batch,
                  (long long)a.q_len, (long long)a.kv_len, (long long)a.heads);
    }
    std::string operator()(const MlaDecodeShape& a) const {
      return Dims("mla_decode %s kv=%s batch=%lld kv_len=%lld heads=%lld",
                  DTypeName(a.dtype).data(), DTypeName(a.kv_dtype).data(), (long long)a.batch,
                  (long long)a.kv_len, (long long)a.heads);
    }
    std::string operator()(const CollectiveShape& c) const {
      return Dims("%s %s gpus=%lld bytes=%lld", CollectiveName(c.op).data(),
                  DTypeName(c.dtype).data(), (long long)c.gpus, (long long)c.bytes);
    }
    std::string operator()(const TransferShape& t) const {
      return Dims("transfer %s%s%s bytes=%lld", TransferKindName(t.kind).data(),
                  t.transport.empty() ? "" : "/", t.transport.c_str(), (long long)t.bytes);
    }
  };
  return std::visit(Visitor{}, shape);
}

Status Validate(const OpShape& shape) {
  struct Visitor {
    Status operator()(const GemmShape& g) const {
      RETURN_IF_ERROR(Positive(g.m, "m"));
      RETURN_IF_ERROR(Positive(g.n, "n"));
      return Positive(g.k, "k");
    }
    Status Heads(int64_t heads, int64_t kv_heads, int64_t head_dim) const {
      RETURN_IF_ERROR(Positive(heads, "heads"));
      RETURN_IF_ERROR(Positive(kv_heads, "kv_heads"));
      RETURN_IF_ERROR(Positive(head_dim, "head_dim"));
      if (heads % kv_heads != 0) {
        return InvalidArgument("heads: " + std::to_string(heads) +
                               " is not a multiple of kv_heads " + std::to_string(kv_heads));
      }
      return Status::Ok();
    }
    Status operator()(const AttnContextShape& a) const {
      RETURN_IF_ERROR(Positive(a.batch, "batch"));
      RETURN_IF_ERROR(Positive(a.q_len, "q_len"));
      RETURN_IF_ERROR(Positive(a.kv_len, "kv_len"));
      if (a.kv_len < a.q_len) {
        return InvalidArgument("kv_len: " + std::to_string(a.kv_len) + " is less than q_len " +
                               std::to_string(a.q_len) +
                               "; kv_len counts the cached prefix plus the chunk");
      }
      return Heads(a.heads, a.kv_heads, a.head_dim);
    }
    Status operator()(const AttnDecodeShape& a) const {
      RETURN_IF_ERROR(Positive(a.batch, "batch"));
      RETURN_IF_ERROR(Positive(a.kv_len, "kv_len"));
      return Heads(a.heads, a.kv_heads, a.head_dim);
    }
    Status operator()(const MlaContextShape& a) const {
      RETURN_IF_ERROR(Positive(a.batch, "batch"));
      RETURN_IF_ERROR(Positive(a.q_len, "q_len"));
      RETURN_IF_ERROR(Positive(a.heads, "heads"));
      RETURN_IF_ERROR(Positive(a.kv_lora_rank, "kv_lora_rank"));
      if (a.kv_len < a.q_len) {
        return InvalidArgument("kv_len: " + std::to_string(a.kv_len) + " is less than q_len " +
                               std::to_string(a.q_len));
      }
      return Status::Ok();
    }
    Status operator()(const MlaDecodeShape& a) const {
      RETURN_IF_ERROR(Positive(a.batch, "batch"));
      RETURN_IF_ERROR(Positive(a.kv_len, "kv_len"));
      RETURN_IF_ERROR(Positive(a.heads, "heads"));
      return Positive(a.kv_lora_rank, "kv_lora_rank");
    }
    Status operator()(const CollectiveShape& c) const {
      if (c.gpus < 2) {
        return InvalidArgument("gpus: " + std::to_string(c.gpus) +
                               " must be >= 2 for a collective");
      }
      return Positive(c.bytes, "bytes");
    }
    Status operator()(const TransferShape& t) const { return Positive(t.bytes, "bytes"); }
  };
  return std::visit(Visitor{}, shape);
}

}  // namespace dynamo::perf
