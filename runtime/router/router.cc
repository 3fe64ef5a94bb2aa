#include "runtime/router/router.h"

#include <algorithm>
#include <cmath>
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
  if (config.block_size < 1) {
    return InvalidArgument("router block size " + std::to_string(config.block_size) +
                           " must be at least 1");
  }
  if (!std::isfinite(config.overlap_weight) || config.overlap_weight < 0) {
    return InvalidArgument("router overlap_weight " + std::to_string(config.overlap_weight) +
                           " must be a finite number >= 0 (0 = balance decode load only)");
  }
  if (!std::isfinite(config.temperature) || config.temperature < 0) {
    return InvalidArgument("router temperature " + std::to_string(config.temperature) +
                           " must be a finite number >= 0 (0 = always the lowest cost)");
  }
  if (!std::isfinite(config.queue_threshold) || config.queue_threshold < 0) {
    return InvalidArgument("router queue_threshold " + std::to_string(config.queue_threshold) +
                           " must be a finite number >= 0 (0 = no queueing)");
  }
  return Router(config);
}

Router::Router(const Config& config) : config_(config), rng_(config.seed, "router") {}

size_t Router::IndexOf(WorkerId w) const {
  auto it = index_.find(w.value());
  DYNAMO_CHECK(it != index_.end());
  return it->second;
}

bool Router::wants_kv_events() const {
  return config_.policy == Policy::kKv && config_.overlap_weight > 0;
}

void Router::AddWorker(Time /*now*/, WorkerId w, WorkerInfo info) {
  DYNAMO_CHECK(!HasWorker(w));
  index_.emplace(w.value(), workers_.size());
  WorkerState s;
  s.id = w;
  s.max_num_batched_tokens = info.max_num_batched_tokens;
  workers_.push_back(std::move(s));
}

void Router::RemoveWorker(Time /*now*/, WorkerId w) {
  const size_t i = IndexOf(w);
  workers_.erase(workers_.begin() + static_cast<std::ptrdiff_t>(i));
  index_.erase(w.value());
  for (auto& [id, pos] : index_) {
    if (pos > i) --pos;
  }
  std::erase_if(bookings_, [w](const auto& kv) { return kv.second.worker == w; });
  indexer_.RemoveWorker(w);
  if (next_ >= workers_.size()) next_ = 0;
}

int64_t Router::PromptBlocks(const RouteRequest& req) const {
  return (int64_t{req.prompt_tokens} + config_.block_size - 1) / config_.block_size;
}

int32_t Router::LeadingBooked(const WorkerState& w, std::span<const uint64_t> hashes) const {
  if (w.block_refs.empty() || hashes.empty() || !w.block_refs.Contains(hashes[0])) return 0;
  // Requests book leading runs of their chained hashes, so the booked set is a union of
  // prefixes: along one chain, membership is true up to some block and false after it. Binary
  // search for that boundary: O(log blocks) lookups instead of a walk.
  size_t lo = 1, hi = hashes.size();  // hashes[0, lo) booked; hashes[hi, ...) not
  while (lo < hi) {
    const size_t mid = lo + (hi - lo) / 2;
    if (w.block_refs.Contains(hashes[mid])) {
      lo = mid + 1;
    } else {
      hi = mid;
    }
  }
  return static_cast<int32_t>(lo);
}

bool Router::Busy(const WorkerState& w) const {
  return config_.queue_threshold > 0 &&
         static_cast<double>(w.prefill_tokens) >
             config_.queue_threshold * static_cast<double>(w.max_num_batched_tokens);
}

void Router::ComputeCosts(const RouteRequest& req) {
  const size_t n = workers_.size();
  cost_.assign(n, 0.0);
  overlap_.assign(n, 0);
  if (config_.overlap_weight > 0 && !req.block_hashes.empty()) {
    indexer_.FindMatches(req.block_hashes, matches_);
    for (const auto& [w, matched] : matches_) {
      auto it = index_.find(w.value());
      if (it != index_.end()) overlap_[it->second] = matched;
    }
  }
  const int64_t prompt_blocks = PromptBlocks(req);
  const double bs = static_cast<double>(config_.block_size);
  for (size_t i = 0; i < n; ++i) {
    const WorkerState& w = workers_[i];
    const int64_t uncached =
        std::max<int64_t>(0, req.prompt_tokens - int64_t{overlap_[i]} * config_.block_size);
    const int64_t active_prefill = config_.track_prefill_tokens ? w.prefill_tokens : 0;
    double decode_blocks = 0;
    if (config_.track_active_blocks) {
      const int32_t reused = config_.assume_kv_reuse ? LeadingBooked(w, req.block_hashes) : 0;
      decode_blocks = static_cast<double>(w.block_refs.size()) + w.private_blocks +
                      static_cast<double>(prompt_blocks - reused);
    }
    cost_[i] = config_.overlap_weight * static_cast<double>(active_prefill + uncached) / bs +
               decode_blocks;
  }
}

size_t Router::Select(bool skip_busy) {
  const size_t n = workers_.size();
  auto eligible = [&](size_t i) { return !skip_busy || !Busy(workers_[i]); };
  if (config_.temperature <= 0) {
    size_t best = n;
    int64_t best_tree = 0;
    for (size_t i = 0; i < n; ++i) {
      if (!eligible(i)) continue;
      const int64_t tree = indexer_.tree_size(workers_[i].id);
      if (best == n || cost_[i] < cost_[best] ||
          (cost_[i] == cost_[best] &&
           (tree < best_tree ||
            (tree == best_tree && workers_[i].id.value() < workers_[best].id.value())))) {
        best = i;
        best_tree = tree;
      }
    }
    DYNAMO_CHECK(best < n);
    return best;
  }
  // Softmax over range-normalized costs (scale-free: multiplying every cost changes nothing).
  double lo = 0, hi = 0;
  size_t count = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(i)) continue;
    lo = count == 0 ? cost_[i] : std::min(lo, cost_[i]);
    hi = count == 0 ? cost_[i] : std::max(hi, cost_[i]);
    ++count;
  }
  DYNAMO_CHECK(count > 0);
  const double range = hi - lo;
  // Weights shifted by the minimum (the softmax is shift-invariant): the largest is 1.
  weight_.assign(n, 0.0);
  double total = 0;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(i)) continue;
    weight_[i] = range > 0 ? std::exp(-((cost_[i] - lo) / range) / config_.temperature) : 1;
    total += weight_[i];
  }
  double u = rng_.NextDouble() * total;
  size_t last = n;
  for (size_t i = 0; i < n; ++i) {
    if (!eligible(i)) continue;
    last = i;
    if (u < weight_[i]) return i;
    u -= weight_[i];
  }
  return last;  // rounding left u just above the total
}

Decision Router::Book(Time /*now*/, const RouteRequest& req, size_t pick, int32_t overlap) {
  WorkerState& w = workers_[pick];
  ++w.in_flight;
  Booking b;
  b.worker = w.id;
  b.expected_output = req.expected_output_tokens;
  if (config_.policy == Policy::kKv) {
    if (config_.track_prefill_tokens) {
      b.prefill_tokens = static_cast<int32_t>(
          std::max<int64_t>(0, req.prompt_tokens - int64_t{overlap_[pick]} * config_.block_size));
      w.prefill_tokens += b.prefill_tokens;
    }
    if (config_.track_active_blocks) {
      const int64_t prompt_blocks = PromptBlocks(req);
      int64_t shared = 0;
      if (config_.assume_kv_reuse) {
        shared = std::min<int64_t>(prompt_blocks, static_cast<int64_t>(req.block_hashes.size()));
        b.hashes.assign(req.block_hashes.begin(), req.block_hashes.begin() + shared);
        for (uint64_t h : b.hashes) w.block_refs.Add(h);
      }
      b.private_blocks = static_cast<int32_t>(prompt_blocks - shared);
      w.private_blocks += b.private_blocks;
    }
  }
  const bool inserted = bookings_.emplace(req.id, std::move(b)).second;
  DYNAMO_CHECK(inserted);
  return Decision{w.id, overlap, false};
}

bool Router::AllBusy() const {
  return std::all_of(workers_.begin(), workers_.end(),
                     [this](const WorkerState& w) { return Busy(w); });
}

Decision Router::Route(Time now, const RouteRequest& req) {
  DYNAMO_CHECK(!workers_.empty());
  DYNAMO_CHECK(!bookings_.contains(req.id));
  const size_t n = workers_.size();
  size_t pick = 0;
  switch (config_.policy) {
    case Policy::kRoundRobin:
      pick = next_ % n;
      next_ = (pick + 1) % n;
      break;
    case Policy::kLeastLoaded:
      for (size_t i = 1; i < n; ++i) {
        if (workers_[i].in_flight < workers_[pick].in_flight) pick = i;
      }
      break;
    case Policy::kRandom:
      pick = static_cast<size_t>(rng_.Below(n));
      break;
    case Policy::kKv: {
      const bool queueing = config_.queue_threshold > 0;
      if (queueing && (!queue_.empty() || AllBusy())) {
        Waiting wait;
        wait.id = req.id;
        wait.prompt_tokens = req.prompt_tokens;
        wait.expected_output_tokens = req.expected_output_tokens;
        wait.hashes.assign(req.block_hashes.begin(), req.block_hashes.end());
        queue_.push_back(std::move(wait));
        return Decision{WorkerId(), 0, true};
      }
      ComputeCosts(req);
      pick = Select(queueing);
      return Book(now, req, pick, overlap_[pick]);
    }
  }
  return Book(now, req, pick, 0);
}

std::optional<Routed> Router::Dequeue(Time now) {
  if (queue_.empty() || workers_.empty() || AllBusy()) return std::nullopt;
  Waiting wait = std::move(queue_.front());
  queue_.pop_front();
  const RouteRequest req{wait.id, wait.prompt_tokens, wait.hashes, wait.expected_output_tokens};
  ComputeCosts(req);
  const size_t pick = Select(/*skip_busy=*/true);
  const Decision d = Book(now, req, pick, overlap_[pick]);
  return Routed{wait.id, d, std::move(wait.hashes)};
}

void Router::PrefillDone(Time /*now*/, RequestId id) {
  auto it = bookings_.find(id);
  if (it == bookings_.end() || it->second.prefill_tokens == 0) return;
  workers_[IndexOf(it->second.worker)].prefill_tokens -= it->second.prefill_tokens;
  it->second.prefill_tokens = 0;
}

void Router::Progress(Time /*now*/, RequestId id, int32_t generated_tokens) {
  if (!wants_progress()) return;
  auto it = bookings_.find(id);
  if (it == bookings_.end()) return;
  Booking& b = it->second;
  if (b.expected_output <= 0 || b.private_blocks == 0) return;
  const double weight = std::clamp(
      1.0 - static_cast<double>(generated_tokens) / static_cast<double>(b.expected_output), 0.0,
      1.0);
  workers_[IndexOf(b.worker)].private_blocks += (weight - b.weight) * b.private_blocks;
  b.weight = weight;
}

void Router::Release(Time /*now*/, RequestId id) {
  auto it = bookings_.find(id);
  if (it == bookings_.end()) {
    std::erase_if(queue_, [id](const Waiting& w) { return w.id == id; });
    return;
  }
  const Booking& b = it->second;
  WorkerState& w = workers_[IndexOf(b.worker)];
  --w.in_flight;
  w.prefill_tokens -= b.prefill_tokens;
  w.private_blocks -= b.weight * b.private_blocks;
  for (uint64_t h : b.hashes) w.block_refs.Drop(h);
  if (w.in_flight == 0) w.private_blocks = 0;  // no floating-point residue when idle
  bookings_.erase(it);
}

void Router::KvStored(Time /*now*/, WorkerId w, std::span<const uint64_t> hashes) {
  if (wants_kv_events() && HasWorker(w)) indexer_.Stored(w, hashes);
}

void Router::KvRemoved(Time /*now*/, WorkerId w, std::span<const uint64_t> hashes) {
  if (wants_kv_events() && HasWorker(w)) indexer_.Removed(w, hashes);
}

int64_t Router::in_flight(WorkerId w) const { return workers_[IndexOf(w)].in_flight; }

int64_t Router::active_prefill_tokens(WorkerId w) const {
  return workers_[IndexOf(w)].prefill_tokens;
}

double Router::active_blocks(WorkerId w) const {
  const WorkerState& s = workers_[IndexOf(w)];
  return static_cast<double>(s.block_refs.size()) + s.private_blocks;
}

std::vector<double> Router::Costs(const RouteRequest& req, std::vector<int32_t>* overlap) {
  ComputeCosts(req);
  if (overlap) *overlap = overlap_;
  return cost_;
}

}  // namespace dynamo::router
