#include "planner/connectors/local_connector.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <utility>

#include "core/check.h"

namespace dynamo::planner {

StatusOr<std::unique_ptr<LocalProcessConnector>> LocalProcessConnector::Create(
    boost::asio::io_context& io, const Plan& plan, int max_gpus,
    LocalConnectorCallbacks callbacks) {
  const std::string where = "local scaling connector for " + plan.source;
  if (max_gpus < 1) {
    return InvalidArgument(where + ": GPU budget " + std::to_string(max_gpus) +
                           " is below 1; set planner.max_gpus >= 1 (or 0 for the system's GPUs)");
  }
  if (!callbacks.spawn || !callbacks.drain) {
    return InvalidArgument(where + ": the launcher must supply both spawn and drain callbacks");
  }
  if (plan.workers.empty()) return InvalidArgument(where + ": the plan has no worker pools");
  for (size_t i = 0; i < plan.workers.size(); ++i) {
    for (size_t j = 0; j < i; ++j) {
      if (plan.workers[i].role == plan.workers[j].role) {
        return InvalidArgument(where + ": $.workers[" + std::to_string(j) + "] and $.workers[" +
                               std::to_string(i) + "] are both " +
                               std::string(WorkerRoleName(plan.workers[i].role)) +
                               " pools; the planner scales one pool per role; merge them");
      }
    }
  }
  return std::make_unique<LocalProcessConnector>(PrivateKey{}, io, plan, max_gpus,
                                                 std::move(callbacks));
}

LocalProcessConnector::LocalProcessConnector(PrivateKey, boost::asio::io_context& io,
                                             const Plan& plan, int max_gpus,
                                             LocalConnectorCallbacks callbacks)
    : io_(io), plan_source_(plan.source), max_gpus_(max_gpus), callbacks_(std::move(callbacks)) {
  for (const WorkerPoolSpec& w : plan.workers) {
    pool_roles_.push_back(w.role);
    pool_gpus_per_worker_.push_back(w.parallelism.gpus());
  }
}

void LocalProcessConnector::Adopt(int pool_index, std::string worker_name) {
  DYNAMO_CHECK(pool_index >= 0 && static_cast<size_t>(pool_index) < pool_roles_.size());
  DYNAMO_CHECK(std::none_of(workers_.begin(), workers_.end(),
                            [&](const Worker& w) { return w.name == worker_name; }));
  workers_.push_back(Worker{std::move(worker_name), pool_index, false});
}

void LocalProcessConnector::WorkerExited(const std::string& worker_name) {
  std::erase_if(workers_, [&](const Worker& w) { return w.name == worker_name; });
}

int LocalProcessConnector::PoolOf(WorkerRole role) const {
  for (size_t i = 0; i < pool_roles_.size(); ++i) {
    if (pool_roles_[i] == role) return static_cast<int>(i);
  }
  return -1;
}

int LocalProcessConnector::replicas(int pool_index) const {
  return static_cast<int>(std::count_if(workers_.begin(), workers_.end(), [&](const Worker& w) {
    return w.pool == pool_index && !w.draining;
  }));
}

int LocalProcessConnector::draining() const {
  return static_cast<int>(
      std::count_if(workers_.begin(), workers_.end(), [](const Worker& w) { return w.draining; }));
}

int LocalProcessConnector::gpus_held() const {
  int n = 0;
  for (const Worker& w : workers_) n += pool_gpus_per_worker_[static_cast<size_t>(w.pool)];
  return n;
}

Status LocalProcessConnector::Scale(WorkerRole role, int target) {
  const std::string role_name(WorkerRoleName(role));
  if (target < 1) {
    return InvalidArgument("local scaling: " + std::to_string(target) + " " + role_name +
                           " replicas asked; at least 1 worker per pool keeps running");
  }
  const int pool = PoolOf(role);
  if (pool < 0) {
    return NotFound("local scaling: " + plan_source_ + " has no " + role_name +
                    " pool to scale; the planner's mode must match the plan's roles");
  }
  int current = replicas(pool);
  const int per_worker = pool_gpus_per_worker_[static_cast<size_t>(pool)];
  const int wanted = target - current;
  int started = 0;
  while (current < target) {
    if (gpus_held() + per_worker > max_gpus_) {
      const int missing = target - current;
      return FailedPrecondition(
          "local scaling of " + role_name + " to " + std::to_string(target) + ": " +
          std::to_string(missing) + " more worker(s) of " + std::to_string(per_worker) +
          " GPU(s) need " + std::to_string(missing * per_worker) + " GPU(s) but the budget of " +
          std::to_string(max_gpus_) + " GPU(s) has " + std::to_string(max_gpus_ - gpus_held()) +
          " free (draining workers hold theirs until they exit); started " +
          std::to_string(started) + " of " + std::to_string(wanted));
    }
    StatusOr<std::string> name = callbacks_.spawn(pool);
    if (!name.ok()) {
      return name.status().WithContext(
          "local scaling of " + role_name + " to " + std::to_string(target) + ": starting worker " +
          std::to_string(started + 1) + " of " + std::to_string(wanted));
    }
    workers_.push_back(Worker{std::move(*name), pool, false});
    ++current;
    ++started;
  }
  // Down: the newest running workers of the pool first.
  for (auto it = workers_.rbegin(); current > target && it != workers_.rend(); ++it) {
    if (it->pool != pool || it->draining) continue;
    it->draining = true;
    --current;
    callbacks_.drain(it->name);
  }
  return Status::Ok();
}

void LocalProcessConnector::Post(std::function<void()> fn) {
  boost::asio::post(io_, std::move(fn));
}

void LocalProcessConnector::SetReplicas(WorkerRole role, int replicas,
                                        std::function<void(Status)> done) {
  Status s = Scale(role, replicas);
  Post([done = std::move(done), s = std::move(s)]() { done(s); });
}

void LocalProcessConnector::GetReplicas(WorkerRole role, std::function<void(StatusOr<int>)> done) {
  const int pool = PoolOf(role);
  StatusOr<int> out = pool < 0
                          ? StatusOr<int>(NotFound("local scaling: " + plan_source_ + " has no " +
                                                   std::string(WorkerRoleName(role)) + " pool"))
                          : StatusOr<int>(replicas(pool));
  Post([done = std::move(done), out = std::move(out)]() { done(out); });
}

std::string LocalProcessConnector::Describe() const {
  std::string pools;
  for (size_t i = 0; i < pool_roles_.size(); ++i) {
    pools += (pools.empty() ? "" : ", ") + std::string(WorkerRoleName(pool_roles_[i])) + " " +
             std::to_string(replicas(static_cast<int>(i)));
  }
  return "local processes (GPU budget " + std::to_string(max_gpus_) + ", " +
         std::to_string(gpus_held()) + " held; " + pools + ")";
}

}  // namespace dynamo::planner
