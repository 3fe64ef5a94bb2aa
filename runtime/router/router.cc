#include "runtime/router/router.h"

#include <algorithm>
#include <string>

#include "core/check.h"

namespace dynamo::router {

std::string_view PolicyName(Policy p) {
  switch (p) {
    case Policy::kRoundRobin:
      return "round_robin";
    case Policy::kLeastLoaded:
      return "least_loaded";
    case Policy::kRandom:
      return "random";
    case Policy::kKv:
      return "kv";
  }
  return "?";
}

StatusOr<Policy> ParsePolicy(std::string_view name) {
  for (Policy p : {Policy::kRoundRobin, Policy::kLeastLoaded, Policy::kRandom, Policy::kKv}) {
    if (PolicyName(p) == name) return p;
  }
  return InvalidArgument("router policy '" + std::string(name) +
                         "' is unknown; use round_robin, least_loaded, random or kv");
}

StatusOr<Router> Router::Create(const Config& config) {
  if (config.policy == Policy::kKv) {
    return InvalidArgument(
        "router policy 'kv' is not implemented yet (issue 5); use round_robin, least_loaded or "
        "random");
  }
  return Router(config);
}

Router::Router(const Config& config) : config_(config), rng_(config.seed, "router") {}

size_t Router::IndexOf(WorkerId w) const {
  auto it = std::find(workers_.begin(), workers_.end(), w);
  DYNAMO_CHECK(it != workers_.end());
  return static_cast<size_t>(it - workers_.begin());
}

void Router::AddWorker(Time /*now*/, WorkerId w) {
  DYNAMO_CHECK(std::find(workers_.begin(), workers_.end(), w) == workers_.end());
  workers_.push_back(w);
  active_.push_back(0);
}

void Router::RemoveWorker(Time /*now*/, WorkerId w) {
  const size_t i = IndexOf(w);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
  active_.erase(active_.begin() + static_cast<std::ptrdiff_t>(i));
  std::erase_if(assignment_, [w](const auto& kv) { return kv.second == w; });
  if (next_ >= workers_.size()) next_ = 0;
}

Decision Router::Route(Time /*now*/, const RouteRequest& req) {
  DYNAMO_CHECK(!workers_.empty());
  size_t pick = 0;
  switch (config_.policy) {
    case Policy::kRoundRobin:
      pick = next_ % workers_.size();
      next_ = (pick + 1) % workers_.size();
      break;
    case Policy::kLeastLoaded:
      pick =
          static_cast<size_t>(std::min_element(active_.begin(), active_.end()) - active_.begin());
      break;
    case Policy::kRandom:
      pick = static_cast<size_t>(rng_.Below(workers_.size()));
      break;
    case Policy::kKv:
      DYNAMO_CHECK(false);  // rejected by Create until issue 5
  }
  ++active_[pick];
  const bool inserted = assignment_.emplace(req.id, workers_[pick]).second;
  DYNAMO_CHECK(inserted);
  return Decision{workers_[pick], 0};
}

void Router::Release(Time /*now*/, RequestId id) {
  auto it = assignment_.find(id);
  if (it == assignment_.end()) return;
  --active_[IndexOf(it->second)];
  assignment_.erase(it);
}

int64_t Router::in_flight(WorkerId w) const { return active_[IndexOf(w)]; }

}  // namespace dynamo::router
