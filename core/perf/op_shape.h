#pragma once
// The operator shapes the performance model prices and the profiler measures. One struct per
// operator family; OpShape is the closed set. Shapes are per GPU (already divided by tensor
// parallelism): `heads` is the query heads one GPU computes.

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>

#include "core/dtype.h"
#include "core/status.h"

namespace dynamo::perf {

// C[m, n] = A[m, k] x B[k, n]; m is the token count. Inputs in `dtype`, output bf16 (fp32 for
// fp32 inputs).
struct GemmShape {
  DType dtype = DType::kBf16;
  int64_t m = 1, n = 1, k = 1;
};

// Causal flash-attention forward for `batch` sequences, each with a chunk of `q_len` new query
// tokens attending to `kv_len` keys: the cached prefix (kv_len - q_len) plus the chunk itself.
struct AttnContextShape {
  DType dtype = DType::kBf16;     // Q/K/V/O compute dtype
  DType kv_dtype = DType::kBf16;  // KV-cache storage dtype
  int64_t batch = 1, q_len = 1, kv_len = 1;
  int64_t heads = 1, kv_heads = 1, head_dim = 128;
  int64_t prefix_len() const { return kv_len - q_len; }
};

// Paged decode attention: `batch` sequences, one new query token each, `kv_len` keys each
// (including the new token's).
struct AttnDecodeShape {
  DType dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  int64_t batch = 1, kv_len = 1;
  int64_t heads = 1, kv_heads = 1, head_dim = 128;
};

// Multi-head latent attention (DeepSeek-V2/V3), context phase: queries of qk_nope + qk_rope
// dims per head over a decompressed KV of `heads` heads; the cache holds kv_lora_rank +
// qk_rope_dim per token.
struct MlaContextShape {
  DType dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  int64_t batch = 1, q_len = 1, kv_len = 1, heads = 1;
  int64_t kv_lora_rank = 512, qk_nope_dim = 128, qk_rope_dim = 64, v_head_dim = 128;
  int64_t prefix_len() const { return kv_len - q_len; }
};

// MLA decode in the weight-absorbed form: every head attends over the shared latent
// (kv_lora_rank + qk_rope_dim per token), i.e. multi-query attention with a wide head.
struct MlaDecodeShape {
  DType dtype = DType::kBf16;
  DType kv_dtype = DType::kBf16;
  int64_t batch = 1, kv_len = 1, heads = 1;
  int64_t kv_lora_rank = 512, qk_rope_dim = 64;
};

enum class Collective { kAllReduce, kAllGather, kReduceScatter, kAllToAll };
std::string_view CollectiveName(Collective c);  // "allreduce", "allgather", ...
StatusOr<Collective> ParseCollective(std::string_view s);

// `bytes` follows nccl-tests' "size": the buffer of all-reduce, the gathered output of
// all-gather, the input of reduce-scatter, the per-rank send buffer of all-to-all.
struct CollectiveShape {
  Collective op = Collective::kAllReduce;
  DType dtype = DType::kBf16;
  int64_t gpus = 2;
  int64_t bytes = 0;
};

// Copies: host to device, device to host, within one device, device to a peer device, and
// UCX transfers per transport ("rc", "tcp", "cuda_ipc", ...; empty for non-UCX kinds).
enum class TransferKind { kH2D, kD2H, kD2D, kPeer, kUcx };
std::string_view TransferKindName(TransferKind k);  // "h2d", "d2h", "d2d", "peer", "ucx"
StatusOr<TransferKind> ParseTransferKind(std::string_view s);

struct TransferShape {
  TransferKind kind = TransferKind::kD2D;
  std::string transport;
  int64_t bytes = 0;
};

using OpShape = std::variant<GemmShape, AttnContextShape, AttnDecodeShape, MlaContextShape,
                             MlaDecodeShape, CollectiveShape, TransferShape>;

// The arithmetic dtype of a kernel shape (GEMM inputs, attention compute); bf16 for
// communication and copies, which do no arithmetic.
DType ComputeDType(const OpShape& s);

// "gemm", "attn_context", "attn_decode", "mla_context", "mla_decode", "collective",
// "transfer": also the SQLite table names.
std::string_view OpFamilyName(const OpShape& s);
// One line for messages and progress: "gemm bf16 m=4096 n=4096 k=4096".
std::string Describe(const OpShape& s);
// Rejects non-positive sizes and inconsistent shapes (kv_len < q_len, heads % kv_heads != 0),
// naming the field.
Status Validate(const OpShape& s);

// A measured (or imported) latency distribution, microseconds.
struct Timing {
  double median_us = 0;
  double p10_us = 0;
  double p90_us = 0;
  int64_t samples = 0;
};

// Host-side costs of an engine step that no kernel table captures.
//   kLaunch:   CPU time to enqueue one kernel (µs)
//   kSync:     round trip of a stream synchronization with an empty queue (µs)
//   kStepBase: fixed scheduler + input-preparation cost per engine step (µs)
//   kPerSeq:   additional cost per scheduled sequence per step (µs)
enum class HostOverheadKind { kLaunch, kSync, kStepBase, kPerSeq };
std::string_view HostOverheadName(HostOverheadKind k);
StatusOr<HostOverheadKind> ParseHostOverhead(std::string_view s);

}  // namespace dynamo::perf
