#pragma once
// NetworkModel: flow-level model of KV transfers over the cluster topology. A transfer is one
// or more flows (one per GPU pair: a TP worker's shards move in parallel); each flow follows the
// topology's path between its GPUs and gets a max-min fair share of every link it crosses
// (progressive filling, recomputed whenever a flow starts or ends). A flow's data phase takes
// bytes / rate; its bytes are delivered one path latency after the data phase ends. A transfer
// completes when all its flows have delivered.
//
// So: one transfer of B bytes over a link of bandwidth W takes B / W + latency; two concurrent
// transfers on that link each take 2B / W + latency.
//
// Times: a data phase ends at the first whole nanosecond at or after bytes / rate (float error
// below 1e-12 relative is ignored, so 1 GB at 50 GB/s takes exactly 20 ms). A flow whose rate is
// unchanged by a recompute keeps its end time; a flow whose computed end time has passed is done
// (no float residue keeps it alive).
//
// Rates change only for the flows connected to a starting or ending flow through shared links,
// so only that component is re-shared (a KV transfer between otherwise idle GPUs costs O(its
// flows x path length)).
//
// Driven by the simulator: Start() and AdvanceTo() with explicit times; NextEventTime() says
// when to call AdvanceTo next. Deterministic (every order follows the call history; ties break
// by id); not thread-safe.
#include <algorithm>
#include <cstdint>
#include <span>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/ids.h"
#include "core/time.h"
#include "core/topology/cluster_topology.h"

namespace dynamo::sim {

using TransferId = StrongId<struct TransferIdTag, uint64_t>;

struct FlowSpec {
  GpuId src, dst;
  int64_t bytes = 0;  // >= 0
};

class NetworkModel {
 public:
  // `topology` must outlive the model.
  explicit NetworkModel(const ClusterTopology& topology);

  // Starts a transfer at `now` (precondition: not before the last Start or AdvanceTo). Flows
  // between a GPU and itself, or of zero bytes, complete after zero time (reported by the next
  // AdvanceTo). Preconditions: flows non-empty; valid GPU ids; bytes >= 0. Transfer ids count
  // up from 0.
  TransferId Start(Time now, std::span<const FlowSpec> flows);

  // The earliest time something changes (a flow's data phase ends, or bytes are delivered),
  // never before the last Start or AdvanceTo; Time::Max() when idle. Zero-time flows are due at
  // their Start. Deliveries that fell due before a Start (the caller did not AdvanceTo first)
  // are reported by the next AdvanceTo: call AdvanceTo(now) before Start(now) for exact times.
  Time NextEventTime() const { return std::max(next_event_, now_); }

  // Advances to `now` (precondition: >= the last time), appending the transfers completed by
  // `now` to `completed`, in completion order (ties by id).
  void AdvanceTo(Time now, std::vector<TransferId>& completed);

  size_t active_transfers() const { return transfers_.size(); }
  // Flows not yet delivered: in their data phase or in flight (latency).
  size_t active_flows() const { return sending_.size() + in_flight_.size(); }
  // Bytes moved over each link so far, for utilization reports: [link id]. Credited whenever a
  // flow's rate changes and when its data phase ends.
  const std::vector<double>& link_bytes() const { return link_bytes_; }

  // The current rates (bytes/s) of the flows of `transfer` in their data phase, in flow order,
  // for tests and reports. Empty when none is sending.
  std::vector<double> RatesOf(TransferId transfer) const;

 private:
  struct CachedPath {
    std::vector<LinkId> links;
    Duration latency;
  };
  // A flow in its data phase. Bytes left are known at `since`; they drain at `rate` until
  // `data_end`.
  struct Flow {
    uint64_t id;
    TransferId transfer;
    uint32_t path;  // index into paths_
    double bytes_left;
    double rate;  // bytes/s; 0 before the first recompute
    Time since;
    Time data_end;
  };
  struct Delivery {
    Time time;
    TransferId transfer;
  };
  struct TransferState {
    TransferId id;
    uint32_t pending_flows;
  };
  // A fair share when pushed: a shared link's (id < num_links; stale once the link's version
  // moved on) or the cap of a flow's unshared links (id = num_links + slot).
  struct ShareEntry {
    double share;
    uint32_t id;
    uint32_t version;
  };

  uint32_t PathIndex(GpuId src, GpuId dst);
  uint32_t NewSlot();
  // Ends the data phases that end by `t`, in time order, re-sharing rates after each.
  void EndDataPhasesThrough(Time t);
  // Ends the data phases ending by `t` (the earliest pending time); returns whether any did.
  bool EndDataPhasesAt(Time t);
  // Max-min fair rates at time `t` for the flows connected (through shared links) to the links in
  // seed_links_; the other flows' rates cannot have changed.
  void Recompute(Time t);
  // Collects into component_flows_ / component_links_ the flows and links reachable from
  // seed_links_ through shared links.
  void CollectComponent();
  // Progressive filling over the component: new_rate_ for each of its flows.
  void FillComponent();
  void Deliver(Time t, std::vector<TransferId>& completed);
  void UpdateNextEvent();
  Time NextDataEnd() const;

  const ClusterTopology* topology_;
  std::vector<CachedPath> paths_;
  std::unordered_map<uint64_t, uint32_t> path_index_;  // (src << 32 | dst) -> paths_ index
  std::vector<Flow> flows_;                            // [slot]; slots are reused
  std::vector<uint32_t> free_slots_;
  std::vector<uint32_t> sending_;                  // slots of the flows in their data phase
  std::vector<std::vector<uint32_t>> link_flows_;  // [link id] slots of its sending flows
  std::vector<uint32_t> seed_links_;      // links whose flows changed since the last recompute
  std::vector<Delivery> in_flight_;       // in order of their data phase ending
  std::vector<TransferState> transfers_;  // active, in id order
  std::vector<double> link_bytes_;        // [link id]
  uint64_t next_flow_id_ = 0;
  uint64_t next_transfer_id_ = 0;
  Time now_ = Time::Zero();
  Time next_event_ = Time::Max();

  // Scratch for Recompute, kept to avoid allocations: [link id] or [slot].
  uint64_t mark_ = 0;                      // the current component's mark
  std::vector<uint64_t> link_mark_;        // [link id]
  std::vector<uint64_t> flow_mark_;        // [slot]
  std::vector<uint32_t> component_links_;  // link ids
  std::vector<uint32_t> component_flows_;  // slots
  std::vector<double> link_capacity_;      // [link id] capacity not yet given to frozen flows
  std::vector<uint32_t> link_unfrozen_;    // [link id] its sending flows not yet frozen
  std::vector<uint32_t> link_version_;     // [link id] bumps as the share changes; odd: listed
  std::vector<uint32_t> changed_links_;    // links whose share changed this filling round
  std::vector<double> new_rate_;           // [slot]; 0 while not frozen
  std::vector<ShareEntry> share_heap_;     // min-heap by (share, id)
};

}  // namespace dynamo::sim
