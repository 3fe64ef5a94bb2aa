#pragma once
// Router: picks the worker of a pool for each request. A sans-I/O core driven by the simulator
// (virtual time) and by dynamo-run's frontend (real time); docs/router.md has the details.
//
// Policies (a closed set):
//   round_robin   workers in turn, in the order they were added
//   least_loaded  fewest requests in flight (routed here and not yet released); ties: the
//                 worker added first
//   random        uniform, from the router's own seeded stream
//   kv            KV-aware: for each worker w
//                   prefill_blocks_w = (active prefill tokens_w + prompt tokens w does not
//                                       hold cached) / block_size
//                   decode_blocks_w  = active blocks_w + blocks this request adds on w
//                   cost_w = overlap_weight x prefill_blocks_w + decode_blocks_w
//                 lowest cost wins; ties: fewest cached blocks, then the lowest worker id.
//                 temperature > 0 samples p_w ~ exp(-(cost_w / (max - min)) / temperature).
// The router counts only what it saw (its own routing decisions, first-token, progress and
// release calls, KV events), as a real router does; it never peeks into a worker.
//
// Active-load accounting (kv): a request books its uncached prompt tokens as prefill load until
// PrefillDone, and its prompt blocks as decode load until Release. With assume_kv_reuse, prompt
// blocks whose chained hash another active request on the same worker already booked count once;
// with decay_by_progress, a request's private blocks weigh (1 - generated / expected output).
//
// Queueing (kv, queue_threshold > 0): a worker is busy when its active prefill tokens exceed
// queue_threshold x its max_num_batched_tokens. When every worker is busy (or others already
// wait) a request waits in the router, first come first served; Dequeue hands waiting requests
// out once a worker is no longer busy.
//
// Deterministic for a seed; not thread-safe. Route is O(workers + prompt blocks x holders).
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/time.h"
#include "runtime/router/block_ref_counts.h"
#include "runtime/router/kv_indexer.h"

namespace dynamo::router {

enum class Policy : uint8_t { kRoundRobin, kLeastLoaded, kRandom, kKv };
std::string_view PolicyName(Policy p);
// "round_robin", "least_loaded", "random", "kv"; an error lists the accepted names.
StatusOr<Policy> ParsePolicy(std::string_view name);

struct RouteRequest {
  RequestId id;
  int32_t prompt_tokens = 0;
  // Chained hashes of the prompt's leading full blocks (block_hash.h); only kv reads them. May
  // cover fewer blocks than the prompt has (blocks no other request can share need no hash).
  std::span<const uint64_t> block_hashes;
  int32_t expected_output_tokens = 0;  // for decay_by_progress; 0 = unknown
};

struct Decision {
  WorkerId worker;
  int32_t overlap_blocks = 0;  // kv: leading prompt blocks the worker holds cached
  bool queued = false;         // kv with queueing: the request waits in the router (no worker)
};

// What the router knows of a worker when it is added.
struct WorkerInfo {
  int32_t max_num_batched_tokens = 8192;  // for the busy threshold
};

struct Routed {
  RequestId id;
  Decision decision;
  std::vector<uint64_t> block_hashes;  // the request's hashes, handed back (no rehashing)
};

class Router {
 public:
  struct Config {
    Policy policy = Policy::kRoundRobin;
    uint64_t seed = 0;
    int32_t block_size = 16;           // tokens per KV block (the workers' block size)
    double overlap_weight = 1.0;       // kv: weight of prefill blocks; 0 = pure decode-load balance
    double temperature = 0.0;          // kv: 0 = lowest cost; > 0 = softmax sampling
    bool track_prefill_tokens = true;  // kv: count active prefill tokens
    bool track_active_blocks = true;   // kv: count active (decode) blocks
    bool assume_kv_reuse = true;       // kv: shared prompt blocks of active requests count once
    bool decay_by_progress = false;    // kv: private blocks fade with output progress
    double queue_threshold = 0;        // kv: > 0 enables queueing (see above)
  };
  // Error: a bad knob (negative weight or temperature, block size < 1, threshold < 0).
  static StatusOr<Router> Create(const Config& config);

  // Precondition: `w` not present.
  void AddWorker(Time now, WorkerId w, WorkerInfo info = {});
  // Requests in flight on `w` are forgotten and its cached blocks dropped from the index.
  // Precondition: `w` present.
  void RemoveWorker(Time now, WorkerId w);
  size_t num_workers() const { return workers_.size(); }
  bool HasWorker(WorkerId w) const { return index_.count(w.value()) > 0; }

  // Precondition: at least one worker; `req.id` not in flight or waiting. With queueing the
  // decision may be `queued` (then Dequeue routes it later).
  Decision Route(Time now, const RouteRequest& req);
  // A waiting request whose turn has come, routed now; nullopt when none can go (or none wait).
  std::optional<Routed> Dequeue(Time now);
  // The request produced its first token: its prefill tokens no longer load the worker.
  void PrefillDone(Time now, RequestId id);
  // Output tokens generated so far (only needed with decay_by_progress).
  void Progress(Time now, RequestId id, int32_t generated_tokens);
  // The request no longer loads its worker (finished, cancelled, or handed to another pool),
  // or stops waiting. Unknown ids are ignored (the worker may have been removed).
  void Release(Time now, RequestId id);

  // KV events of worker `w` (chained block hashes); ignored unless the policy is kv with a
  // positive overlap weight, or `w` is unknown.
  void KvStored(Time now, WorkerId w, std::span<const uint64_t> hashes);
  void KvRemoved(Time now, WorkerId w, std::span<const uint64_t> hashes);
  // Whether KV events matter to this router (the driver may skip forwarding them otherwise).
  bool wants_kv_events() const;
  bool wants_progress() const { return config_.policy == Policy::kKv && config_.decay_by_progress; }

  int64_t in_flight(WorkerId w) const;
  int64_t active_prefill_tokens(WorkerId w) const;
  double active_blocks(WorkerId w) const;
  size_t waiting() const { return queue_.size(); }
  const KvIndexer& indexer() const { return indexer_; }
  const Config& config() const { return config_; }
  // Cost of each worker (in the order added) for `req`, as the kv policy computes it; for tests
  // and diagnostics. Overlap per worker in `overlap` when non-null.
  std::vector<double> Costs(const RouteRequest& req, std::vector<int32_t>* overlap = nullptr);

 private:
  struct WorkerState {
    WorkerId id;
    int32_t max_num_batched_tokens = 8192;
    int64_t in_flight = 0;
    int64_t prefill_tokens = 0;
    double private_blocks = 0;  // weighted blocks booked without a shareable hash
    BlockRefCounts block_refs;  // booked hash -> active requests (distinct: shared blocks)
  };
  struct Booking {
    WorkerId worker;
    int32_t prefill_tokens = 0;  // 0 once PrefillDone
    int32_t private_blocks = 0;
    double weight = 1.0;  // current weight of the private blocks
    int32_t expected_output = 0;
    std::vector<uint64_t> hashes;  // booked shared hashes (released at the end)
  };
  struct Waiting {
    RequestId id;
    int32_t prompt_tokens = 0;
    int32_t expected_output_tokens = 0;
    std::vector<uint64_t> hashes;  // owned copy of the request's block hashes
  };

  explicit Router(const Config& config);
  size_t IndexOf(WorkerId w) const;
  bool Busy(const WorkerState& w) const;
  bool AllBusy() const;
  // kv: fills cost_ / overlap_ for every worker.
  void ComputeCosts(const RouteRequest& req);
  size_t Select(bool skip_busy);
  // Books `req` on workers_[pick], whose cached prefix covers `overlap` blocks.
  Decision Book(Time now, const RouteRequest& req, size_t pick, int32_t overlap);
  int64_t PromptBlocks(const RouteRequest& req) const;
  int32_t LeadingBooked(const WorkerState& w, std::span<const uint64_t> hashes) const;

  Config config_;
  RngStream rng_;
  std::vector<WorkerState> workers_;                 // in the order added
  std::unordered_map<uint32_t, size_t> index_;       // worker id -> position in workers_
  std::unordered_map<RequestId, Booking> bookings_;  // in-flight request -> booking
  std::deque<Waiting> queue_;                        // kv: waiting requests, FCFS
  KvIndexer indexer_;
  size_t next_ = 0;  // round robin cursor
  // Scratch for Route (no allocation in steady state).
  std::vector<double> cost_;
  std::vector<int32_t> overlap_;
  std::vector<double> weight_;  // softmax weights
  std::vector<std::pair<WorkerId, int32_t>> matches_;
};

}  // namespace dynamo::router
