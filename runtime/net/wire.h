#pragma once
// The request plane between dynamo-run's frontend and its workers: length-prefixed binary
// messages over TCP (docs/runtime.md, "Request plane", says why TCP and not UCX active messages).
//
// Frame: u32 little-endian payload length, then the payload: u8 message type, then the fields in
// order, little-endian; vectors are a u32 count followed by the elements. Encoding and decoding
// are pure functions (no I/O), so the protocol is unit-tested without sockets, and a malformed
// frame from the network becomes a Status, never a crash.
#include <cstdint>
#include <span>
#include <string>
#include <variant>
#include <vector>

#include "core/plan/plan.h"
#include "core/status.h"

namespace dynamo::net {

inline constexpr uint32_t kMaxFrameBytes = 64u << 20;  // larger frames are protocol errors
inline constexpr uint32_t kProtocolVersion = 2;

// ---- frontend -> worker -------------------------------------------------------------------

// A request for the worker's engine (new, migrated from a dead worker, or the decode half of a
// disaggregated request).
struct AddRequest {
  uint64_t id = 0;
  int32_t prompt_tokens = 0;
  int32_t max_output_tokens = 1;       // tokens the request generates in total
  int32_t generated_tokens = 0;        // already generated elsewhere; the next token is this + 1
  uint64_t generation_seed = 0;        // the mock engine's token ids derive from it
  std::vector<uint64_t> block_hashes;  // chained hashes of the prompt's full blocks
  // Decode half of a disaggregated request: the prompt's KV is pulled over UCX from the prefill
  // worker at `kv_source` (its UCX address; the transfer key is `id`). A failed or timed-out
  // pull makes this worker prefill the prompt itself.
  bool kv_remote = false;
  std::string kv_source;
};
// The client went away (or the request moved): drop it and free its KV.
struct CancelRequest {
  uint64_t id = 0;
};
// Finish what you hold, accept nothing new, then exit (planner scale-down, shutdown).
struct Drain {};

// ---- worker -> frontend -------------------------------------------------------------------

// First message on a connection: who the worker is.
struct Hello {
  uint32_t protocol = kProtocolVersion;
  std::string name;  // the worker's registration name (unique in the run)
  WorkerRole role = WorkerRole::kAggregated;
  int32_t pool = 0;  // index in plan.workers
  int32_t max_num_batched_tokens = 0;
  int32_t block_size = 16;
  int64_t num_blocks = 0;
  uint32_t pid = 0;
  std::string kv_address;  // its UCX KV-transfer listener ("host:port"); "" for aggregated workers
};
struct TokenOut {
  uint64_t id = 0;
  int32_t index = 0;  // 1-based output token number
  uint32_t token_id = 0;
  bool finished = false;  // the request's last token
};
struct AdmittedOut {
  uint64_t id = 0;
  int32_t cached_tokens = 0;  // prompt tokens found in the prefix cache
};
// What one engine step produced, sent when the step completes.
struct StepReport {
  std::vector<AdmittedOut> admitted;  // first admissions (not resumptions) in this step
  std::vector<TokenOut> tokens;       // one per sampling sequence, batch order
  int32_t preempted = 0;              // requests preempted by this step
};
// The worker's prefix cache changed (chained block hashes), in order.
struct KvEvent {
  bool stored = true;  // false: removed
  std::vector<uint64_t> hashes;
};
struct KvEvents {
  std::vector<KvEvent> events;
};
// The worker can never run this request (prompt + output exceed its KV capacity).
struct Rejected {
  uint64_t id = 0;
  std::string reason;
};
// Decode worker: how the KV pull of a disaggregated request ended. Not ok: the worker prefills
// the prompt itself (the frontend then frees the prefill worker's copy).
struct KvTransferDone {
  uint64_t id = 0;
  bool ok = true;
  int64_t bytes = 0;   // received (ok)
  int64_t micros = 0;  // from the pull's start to its end
  std::string error;   // not ok: why
};
// Periodic load report (also a liveness signal).
struct Load {
  int32_t running = 0;
  int32_t waiting = 0;
  int64_t used_blocks = 0;
  int64_t total_blocks = 0;
  bool draining = false;
};

using Message = std::variant<AddRequest, CancelRequest, Drain, Hello, StepReport, KvEvents,
                             Rejected, Load, KvTransferDone>;

// Appends one whole frame (length prefix included) to `out`.
void EncodeFrame(const Message& m, std::string& out);
std::string EncodeFrame(const Message& m);

// Decodes one payload (the bytes after the length prefix). Errors name the message type and the
// byte offset: a truncated field, a count larger than the payload, an unknown type, trailing bytes.
StatusOr<Message> DecodePayload(std::span<const uint8_t> payload);

// Name of the message kind, for logs ("add", "step", ...).
const char* MessageName(const Message& m);

}  // namespace dynamo::net
