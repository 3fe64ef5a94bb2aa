#pragma once
// The cluster as a graph (Boost.Graph behind this header): GPUs, one NVSwitch per NVLink domain
// (a domain may span nodes, as in GB200 NVL72), a PCIe switch per node when there is no NVLink,
// one NIC per GPU on PCIe, and a non-blocking network fabric joining the NICs. Every physical
// link is two directed edges (bandwidths are per direction). Answers: the path between two GPUs
// (fastest by bandwidth), its bottleneck bandwidth and latency, and where a worker's GPUs go.
//
// Immutable after Build; safe to query from several threads.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/hardware/gpu_spec.h"
#include "core/ids.h"
#include "core/status.h"
#include "core/time.h"

namespace dynamo {

struct ClusterSpec {
  int nodes = 1;
  int gpus_per_node = 8;
  int nvlink_domain_size = 8;       // GPUs per NVLink domain; 1 = no NVLink
  double nvlink_bandwidth = 450e9;  // bytes/s per direction per GPU
  double pcie_bandwidth = 64e9;     // bytes/s per direction per GPU
  double nic_bandwidth = 50e9;      // bytes/s per direction per GPU (one NIC per GPU)
  // One-way latencies per hop. Assumptions until calibrated by the profiler's transfer tables:
  // NVLink/NVSwitch ~1 us per hop, PCIe ~1 us, NIC + fabric (RDMA through a switch) ~5 us.
  Duration nvlink_latency = Duration::Nanos(1000);
  Duration pcie_latency = Duration::Nanos(1000);
  Duration network_latency = Duration::Nanos(5000);

  // A cluster of `nodes` nodes of a catalog GPU; gpus_per_node 0 takes the GPU's usual node size.
  static StatusOr<ClusterSpec> ForGpu(const GpuSpec& gpu, int nodes, int gpus_per_node = 0);
  Status Validate() const;
};

enum class LinkKind { kNvlink, kPcie, kNic };
std::string_view LinkKindName(LinkKind k);

struct Link {
  LinkKind kind;
  double bandwidth;  // bytes/s in this direction
  Duration latency;
  int from_vertex, to_vertex;
};
using LinkId = StrongId<struct LinkIdTag, uint32_t>;

struct GpuPath {
  std::vector<LinkId> links;        // in order from source to destination; empty for a == b
  double bottleneck_bandwidth = 0;  // min over links; +inf for a == b
  Duration latency;                 // sum over links
};

class ClusterTopology {
 public:
  static StatusOr<ClusterTopology> Build(const ClusterSpec& spec);
  ~ClusterTopology();
  ClusterTopology(ClusterTopology&&) noexcept;
  ClusterTopology& operator=(ClusterTopology&&) noexcept;

  const ClusterSpec& spec() const { return spec_; }
  int num_gpus() const { return spec_.nodes * spec_.gpus_per_node; }
  NodeId NodeOf(GpuId g) const { return NodeId(g.value() / spec_.gpus_per_node); }
  int DomainOf(GpuId g) const { return static_cast<int>(g.value()) / spec_.nvlink_domain_size; }
  int num_links() const { return static_cast<int>(links_.size()); }
  const Link& link(LinkId id) const { return links_[id.value()]; }
  std::string VertexName(int vertex) const;

  // Fastest path (least bytes-per-second cost) between two GPUs. Precondition: valid ids.
  GpuPath Path(GpuId a, GpuId b) const;

  // Places workers, each needing gpus[i] GPUs: a worker that fits in one NVLink domain gets GPUs
  // of a single domain (best fit, largest workers first); a larger one takes whole free domains.
  // Result [worker][gpu]. Error when the GPUs do not suffice or fragment.
  StatusOr<std::vector<std::vector<GpuId>>> Place(const std::vector<int>& gpus) const;

 private:
  struct Graph;
  ClusterTopology() = default;
  ClusterSpec spec_;
  std::vector<Link> links_;  // [edge index]
  std::vector<std::string> vertex_names_;
  std::unique_ptr<Graph> graph_;
};

}  // namespace dynamo
