#pragma once
// LocalProcessConnector: scales dynamo-run's local worker processes. The launcher owns the
// processes and supplies two callbacks: `spawn` starts one worker of a plan pool and names it,
// `drain` tells a worker to finish what it holds and exit. The connector keeps the book: which
// workers of which pool are running (in start order) and which are draining, so that the GPUs
// they hold stay within the budget across all pools.
//
// SetReplicas(role, n) acts on the plan's one pool of that role (the plan check allows one pool
// per role with the planner on): it spawns workers until n run, refusing those that would take
// the GPUs held (running and draining workers) over the budget, or drains the newest workers
// until n run, never the last one. A worker counts until WorkerExited names it.
//
// Single-threaded: call it on the io_context's thread only; results are posted to that
// io_context.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "core/plan/plan.h"
#include "core/status.h"
#include "planner/connectors/scaling_connector.h"

namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace dynamo::planner {

struct LocalConnectorCallbacks {
  // Starts one worker of plan pool `pool_index` (0-based, in plan order); returns a name unique
  // among the launcher's workers, or why it could not start one.
  std::function<StatusOr<std::string>(int pool_index)> spawn;
  // Tells the named worker to drain (no new requests; exit once idle). The launcher reports the
  // exit through WorkerExited.
  std::function<void(const std::string& worker_name)> drain;
};

class LocalProcessConnector final : public ScalingConnector {
  struct PrivateKey {};

 public:
  // `max_gpus`: the budget across all pools (plan.planner.max_gpus, or the system's GPUs when
  // that is 0). InvalidArgument for a budget < 1, missing callbacks, a plan without workers or
  // with several pools of one role. `io` must outlive the connector.
  static StatusOr<std::unique_ptr<LocalProcessConnector>> Create(boost::asio::io_context& io,
                                                                 const Plan& plan, int max_gpus,
                                                                 LocalConnectorCallbacks callbacks);
  LocalProcessConnector(PrivateKey, boost::asio::io_context& io, const Plan& plan, int max_gpus,
                        LocalConnectorCallbacks callbacks);

  // Counts a worker the launcher started itself (the plan's initial replicas). Precondition
  // (CHECK): a valid pool index and a name not counted already.
  void Adopt(int pool_index, std::string worker_name);
  // The named worker exited or died: it no longer counts nor holds GPUs. Unknown names are
  // ignored (a worker may exit twice in the launcher's eyes: drained, then reaped).
  void WorkerExited(const std::string& worker_name);

  // done: Ok once the count is reached (spawned, or drains requested); InvalidArgument for
  // replicas < 1; NotFound when the plan has no pool of `role`; FailedPrecondition naming the
  // budget and the need when some workers would not fit (those that fit are started); the
  // spawn's error (with context) when it fails (those started before it stay).
  void SetReplicas(WorkerRole role, int replicas, std::function<void(Status)> done) override;
  void GetReplicas(WorkerRole role, std::function<void(StatusOr<int>)> done) override;
  std::string Describe() const override;

  // Workers of plan pool `pool_index` started and not draining.
  int replicas(int pool_index) const;
  // Draining workers (told to drain, not exited yet).
  int draining() const;
  // GPUs held by running and draining workers.
  int gpus_held() const;

 private:
  struct Worker {
    std::string name;
    int pool = 0;
    bool draining = false;
  };

  // The pool of `role`, or -1.
  int PoolOf(WorkerRole role) const;
  Status Scale(WorkerRole role, int replicas);
  void Post(std::function<void()> fn);

  boost::asio::io_context& io_;
  std::string plan_source_;
  std::vector<WorkerRole> pool_roles_;     // [plan pool]
  std::vector<int> pool_gpus_per_worker_;  // [plan pool]
  int max_gpus_;
  LocalConnectorCallbacks callbacks_;
  std::vector<Worker> workers_;  // running and draining, in start order
};

}  // namespace dynamo::planner
