#include "sim/network_model.h"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>
#include <utility>

#include "core/check.h"

namespace dynamo::sim {
namespace {

constexpr double kNanosPerSecond = 1e9;
constexpr double kInf = std::numeric_limits<double>::infinity();

// The first whole nanosecond at or after `ns`. Float error in bytes * 1e9 / rate is a few ulps;
// ignoring 1e-12 relative (at most 1e-3 ns) keeps an exact quotient from rounding one ns up.
Duration CeilNanos(double ns) {
  if (!(ns > 0)) return Duration::Zero();
  DYNAMO_CHECK(ns < 9e18);  // a data phase of under ~292 years
  const double tolerance = std::min(ns * 1e-12, 1e-3);
  return Duration::Nanos(static_cast<int64_t>(std::ceil(ns - tolerance)));
}

}  // namespace

NetworkModel::NetworkModel(const ClusterTopology& topology)
    : topology_(&topology),
      link_flows_(topology.num_links()),
      link_bytes_(topology.num_links(), 0.0),
      link_mark_(topology.num_links(), 0),
      link_capacity_(topology.num_links(), 0.0),
      link_unfrozen_(topology.num_links(), 0),
      link_version_(topology.num_links(), 0) {}

uint32_t NetworkModel::PathIndex(GpuId src, GpuId dst) {
  const uint64_t key = (static_cast<uint64_t>(src.value()) << 32) | dst.value();
  auto [it, inserted] = path_index_.try_emplace(key, static_cast<uint32_t>(paths_.size()));
  if (inserted) {
    GpuPath p = topology_->Path(src, dst);
    DYNAMO_CHECK(!p.links.empty());  // distinct GPUs are joined by at least one link
    paths_.push_back(CachedPath{std::move(p.links), p.latency});
  }
  return it->second;
}

uint32_t NetworkModel::NewSlot() {
  if (!free_slots_.empty()) {
    const uint32_t slot = free_slots_.back();
    free_slots_.pop_back();
    return slot;
  }
  flows_.emplace_back();
  flow_mark_.push_back(0);
  new_rate_.push_back(0.0);
  return static_cast<uint32_t>(flows_.size() - 1);
}

TransferId NetworkModel::Start(Time now, std::span<const FlowSpec> flows) {
  DYNAMO_CHECK(!flows.empty());
  DYNAMO_CHECK(now >= now_);
  // Data phases ending by `now` leave before the new flows join the sharing.
  EndDataPhasesThrough(now);
  now_ = now;
  const TransferId id(next_transfer_id_++);
  transfers_.push_back(TransferState{id, static_cast<uint32_t>(flows.size())});
  const auto gpus = static_cast<uint32_t>(topology_->num_gpus());
  for (const FlowSpec& spec : flows) {
    DYNAMO_CHECK(spec.bytes >= 0);
    DYNAMO_CHECK(spec.src.value() < gpus && spec.dst.value() < gpus);
    if (spec.src == spec.dst || spec.bytes == 0) {
      in_flight_.push_back(Delivery{now, id});
      continue;
    }
    const uint32_t path = PathIndex(spec.src, spec.dst);
    const uint32_t slot = NewSlot();
    flows_[slot] =
        Flow{next_flow_id_++, id, path, static_cast<double>(spec.bytes), 0.0, now, Time::Max()};
    sending_.push_back(slot);
    for (LinkId l : paths_[path].links) {
      link_flows_[l.value()].push_back(slot);
      seed_links_.push_back(l.value());
    }
  }
  Recompute(now);
  UpdateNextEvent();
  return id;
}

void NetworkModel::AdvanceTo(Time now, std::vector<TransferId>& completed) {
  DYNAMO_CHECK(now >= now_);
  while (next_event_ <= now) {
    const Time t = next_event_;
    if (EndDataPhasesAt(t)) Recompute(t);
    Deliver(t, completed);
    UpdateNextEvent();
  }
  now_ = now;
}

std::vector<double> NetworkModel::RatesOf(TransferId transfer) const {
  std::vector<std::pair<uint64_t, double>> by_id;
  for (uint32_t slot : sending_) {
    if (flows_[slot].transfer == transfer) by_id.emplace_back(flows_[slot].id, flows_[slot].rate);
  }
  std::sort(by_id.begin(), by_id.end());
  std::vector<double> rates;
  for (const auto& [id, rate] : by_id) rates.push_back(rate);
  return rates;
}

Time NetworkModel::NextDataEnd() const {
  Time t = Time::Max();
  for (uint32_t slot : sending_) t = std::min(t, flows_[slot].data_end);
  return t;
}

void NetworkModel::UpdateNextEvent() {
  Time t = NextDataEnd();
  for (const Delivery& d : in_flight_) t = std::min(t, d.time);
  next_event_ = t;
}

void NetworkModel::EndDataPhasesThrough(Time t) {
  for (Time end = NextDataEnd(); end <= t; end = NextDataEnd()) {
    EndDataPhasesAt(end);
    Recompute(end);
  }
}

bool NetworkModel::EndDataPhasesAt(Time t) {
  const size_t before = sending_.size();
  size_t kept = 0;
  for (size_t k = 0; k < before; ++k) {
    const uint32_t slot = sending_[k];
    const Flow& f = flows_[slot];
    if (f.data_end > t) {
      sending_[kept++] = slot;
      continue;
    }
    // Done, whatever float residue bytes_left holds: it all crossed the path.
    const CachedPath& path = paths_[f.path];
    for (LinkId l : path.links) {
      link_bytes_[l.value()] += f.bytes_left;
      std::vector<uint32_t>& on_link = link_flows_[l.value()];
      on_link.erase(std::find(on_link.begin(), on_link.end(), slot));
      seed_links_.push_back(l.value());
    }
    in_flight_.push_back(Delivery{f.data_end + path.latency, f.transfer});
    free_slots_.push_back(slot);
  }
  sending_.resize(kept);
  return kept < before;
}

void NetworkModel::CollectComponent() {
  ++mark_;
  component_links_.clear();
  component_flows_.clear();
  for (uint32_t l : seed_links_) {
    if (link_mark_[l] != mark_) {
      link_mark_[l] = mark_;
      component_links_.push_back(l);
    }
  }
  seed_links_.clear();
  // Breadth-first over link -> its flows -> their links.
  for (size_t k = 0; k < component_links_.size(); ++k) {
    for (uint32_t slot : link_flows_[component_links_[k]]) {
      if (flow_mark_[slot] == mark_) continue;
      flow_mark_[slot] = mark_;
      component_flows_.push_back(slot);
      for (LinkId l : paths_[flows_[slot].path].links) {
        if (link_mark_[l.value()] != mark_) {
          link_mark_[l.value()] = mark_;
          component_links_.push_back(l.value());
        }
      }
    }
  }
}

void NetworkModel::FillComponent() {
  const auto num_links = static_cast<uint32_t>(topology_->num_links());
  // The heap holds one entry per shared link (its fair share) and one per flow for the slowest
  // link it has to itself (a cap no other flow changes): few entries when links are lightly
  // shared.
  share_heap_.clear();
  for (uint32_t l : component_links_) {
    const auto n = static_cast<uint32_t>(link_flows_[l].size());
    link_unfrozen_[l] = n;
    link_capacity_[l] = topology_->link(LinkId(l)).bandwidth;
    link_version_[l] = 0;
    if (n > 1) share_heap_.push_back(ShareEntry{link_capacity_[l] / n, l, 0});
  }
  for (uint32_t slot : component_flows_) {
    new_rate_[slot] = 0.0;
    double own = kInf;
    for (LinkId l : paths_[flows_[slot].path].links) {
      if (link_unfrozen_[l.value()] == 1) own = std::min(own, link_capacity_[l.value()]);
    }
    if (own < kInf) share_heap_.push_back(ShareEntry{own, num_links + slot, 0});
  }
  // A min-heap by (share, id): the bottleneck is chosen deterministically.
  const auto later = [](const ShareEntry& a, const ShareEntry& b) {
    if (a.share != b.share) return a.share > b.share;
    return a.id > b.id;
  };
  std::make_heap(share_heap_.begin(), share_heap_.end(), later);

  // Progressive filling: the least share is a bottleneck; its unfrozen flows get that share and
  // leave the other links' sharing, which only raises those links' shares.
  size_t unfrozen = component_flows_.size();
  changed_links_.clear();
  const auto freeze = [&](uint32_t slot, double rate) {
    DYNAMO_CHECK(rate > 0);
    new_rate_[slot] = rate;
    --unfrozen;
    for (LinkId l : paths_[flows_[slot].path].links) {
      const uint32_t li = l.value();
      link_capacity_[li] = std::max(0.0, link_capacity_[li] - rate);
      if (--link_unfrozen_[li] > 0 && link_version_[li] % 2 == 0) {
        ++link_version_[li];  // odd: listed in changed_links_ this round
        changed_links_.push_back(li);
      }
    }
  };
  while (unfrozen > 0) {
    DYNAMO_CHECK(!share_heap_.empty());
    std::pop_heap(share_heap_.begin(), share_heap_.end(), later);
    const ShareEntry e = share_heap_.back();
    share_heap_.pop_back();
    if (e.id >= num_links) {
      const uint32_t slot = e.id - num_links;
      if (new_rate_[slot] == 0) freeze(slot, e.share);
    } else {
      if (e.version != link_version_[e.id] || link_unfrozen_[e.id] == 0) continue;
      for (uint32_t slot : link_flows_[e.id]) {
        if (new_rate_[slot] == 0) freeze(slot, e.share);
      }
    }
    // One new entry per link whose share changed this round; older entries go stale.
    for (uint32_t l : changed_links_) {
      ++link_version_[l];  // even again
      if (link_unfrozen_[l] > 0) {
        share_heap_.push_back(
            ShareEntry{link_capacity_[l] / link_unfrozen_[l], l, link_version_[l]});
        std::push_heap(share_heap_.begin(), share_heap_.end(), later);
      }
    }
    changed_links_.clear();
  }
}

void NetworkModel::Recompute(Time t) {
  if (seed_links_.empty()) return;
  CollectComponent();
  if (component_flows_.empty()) return;
  FillComponent();
  // Rebase the flows whose rate changed; the others keep their end times.
  for (uint32_t slot : component_flows_) {
    Flow& f = flows_[slot];
    const double rate = new_rate_[slot];
    if (rate == f.rate) continue;
    if (f.rate > 0 && t > f.since) {
      const double sent = f.rate * static_cast<double>((t - f.since).nanos()) / kNanosPerSecond;
      const double left = std::max(0.0, f.bytes_left - sent);
      for (LinkId l : paths_[f.path].links) link_bytes_[l.value()] += f.bytes_left - left;
      f.bytes_left = left;
    }
    f.since = t;
    f.rate = rate;
    f.data_end = t + CeilNanos(f.bytes_left * kNanosPerSecond / rate);
  }
}

void NetworkModel::Deliver(Time t, std::vector<TransferId>& completed) {
  const size_t first = completed.size();
  size_t kept = 0;
  for (size_t i = 0; i < in_flight_.size(); ++i) {
    const Delivery d = in_flight_[i];
    if (d.time > t) {
      in_flight_[kept++] = d;
      continue;
    }
    auto it = std::lower_bound(transfers_.begin(), transfers_.end(), d.transfer,
                               [](const TransferState& s, TransferId id) { return s.id < id; });
    DYNAMO_CHECK(it != transfers_.end() && it->id == d.transfer);
    if (--it->pending_flows == 0) {
      completed.push_back(d.transfer);
      transfers_.erase(it);
    }
  }
  in_flight_.resize(kept);
  std::sort(completed.begin() + static_cast<std::ptrdiff_t>(first), completed.end());
}

}  // namespace dynamo::sim
