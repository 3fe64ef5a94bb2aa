#pragma once
// Router: picks the worker of a pool for each request. A sans-I/O core driven by the simulator
// (virtual time) and, later, by dynamo-run's frontend (real time).
//
// Policies (a closed set):
//   round_robin   workers in turn, in the order they were added
//   least_loaded  fewest requests in flight (routed here and not yet released); ties: the
//                 worker added first
//   random        uniform, from the router's own seeded stream
//   kv            KV-aware (prefix overlap + load); implemented by issue 5
// The router counts only what it saw (its own routing decisions and the release calls), as a
// real router does; it never peeks into a worker.
//
// Deterministic for a seed; not thread-safe. O(workers) per decision at most.
#include <cstdint>
#include <span>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/ids.h"
#include "core/rng.h"
#include "core/status.h"
#include "core/time.h"

namespace dynamo::router {

enum class Policy : uint8_t { kRoundRobin, kLeastLoaded, kRandom, kKv };
std::string_view PolicyName(Policy p);
// "round_robin", "least_loaded", "random", "kv"; an error lists the accepted names.
StatusOr<Policy> ParsePolicy(std::string_view name);

struct RouteRequest {
  RequestId id;
  int32_t prompt_tokens = 0;
  std::span<const uint64_t> block_hashes;  // prompt blocks; only the kv policy reads them
};

struct Decision {
  WorkerId worker;
  int32_t overlap_blocks = 0;  // kv policy: prefix blocks the worker holds
};

class Router {
 public:
  struct Config {
    Policy policy = Policy::kRoundRobin;
    uint64_t seed = 0;
  };
  // Error: a policy this build does not implement yet (kv: issue 5).
  static StatusOr<Router> Create(const Config& config);

  // Precondition: `w` not present.
  void AddWorker(Time now, WorkerId w);
  // Requests in flight on `w` are forgotten. Precondition: `w` present.
  void RemoveWorker(Time now, WorkerId w);
  size_t num_workers() const { return workers_.size(); }

  // Precondition: at least one worker; `req.id` not in flight.
  Decision Route(Time now, const RouteRequest& req);
  // The request no longer loads its worker (finished, or handed to another pool). Unknown ids
  // are ignored (the worker may have been removed).
  void Release(Time now, RequestId id);

  int64_t in_flight(WorkerId w) const;

 private:
  explicit Router(const Config& config);
  size_t IndexOf(WorkerId w) const;

  Config config_;
  RngStream rng_;
  std::vector<WorkerId> workers_;                       // in the order added
  std::vector<int64_t> active_;                         // [worker index] requests in flight
  std::unordered_map<RequestId, WorkerId> assignment_;  // in-flight request -> worker
  size_t next_ = 0;                                     // round robin cursor
};

}  // namespace dynamo::router
