#include "core/topology/cluster_topology.h"

#include <algorithm>
#include <boost/graph/adjacency_list.hpp>
#include <boost/graph/dijkstra_shortest_paths.hpp>
#include <limits>
#include <numeric>

namespace dynamo {

struct ClusterTopology::Graph {
  struct EdgeProps {
    double cost;  // seconds per byte: the fastest path has the least
    uint32_t link;
  };
  using G = boost::adjacency_list<boost::vecS, boost::vecS, boost::directedS, boost::no_property,
                                  EdgeProps>;
  G g;
};

std::string_view LinkKindName(LinkKind k) {
  switch (k) {
    case LinkKind::kNvlink:
      return "nvlink";
    case LinkKind::kPcie:
      return "pcie";
    case LinkKind::kNic:
      return "nic";
  }
  return "?";
}

StatusOr<ClusterSpec> ClusterSpec::ForGpu(const GpuSpec& gpu, int nodes, int gpus_per_node) {
  ClusterSpec s;
  s.nodes = nodes;
  s.gpus_per_node = gpus_per_node > 0 ? gpus_per_node : gpu.gpus_per_node;
  const bool nvlink = gpu.nvlink_bandwidth_bytes_per_s > 0 && gpu.nvlink_domain_size > 1;
  // The catalog's domain: a board inside a node (HGX: 8) or a rack spanning nodes (NVL72). A
  // cluster smaller than one domain is a single domain.
  const int total = s.nodes * s.gpus_per_node;
  s.nvlink_domain_size = nvlink ? std::min(gpu.nvlink_domain_size, total) : 1;
  if (s.nvlink_domain_size > s.gpus_per_node && total % s.nvlink_domain_size != 0) {
    const int nodes_per_domain = s.nvlink_domain_size / std::max(1, s.gpus_per_node);
    return InvalidArgument(
        "nodes: " + std::to_string(nodes) + " x " + std::to_string(s.gpus_per_node) + " " +
        gpu.name + " GPUs split an NVLink domain of " + std::to_string(s.nvlink_domain_size) +
        " GPUs; use a multiple of " + std::to_string(nodes_per_domain) + " nodes, or fewer than " +
        std::to_string(nodes_per_domain));
  }
  if (s.nvlink_domain_size < s.gpus_per_node && s.gpus_per_node % s.nvlink_domain_size != 0) {
    return InvalidArgument("gpus_per_node: " + std::to_string(s.gpus_per_node) +
                           " is not a multiple of the " + gpu.name + " NVLink domain of " +
                           std::to_string(s.nvlink_domain_size) + " GPUs");
  }
  s.nvlink_bandwidth = nvlink ? gpu.nvlink_bandwidth_bytes_per_s : 0;
  s.pcie_bandwidth = gpu.pcie_bandwidth_bytes_per_s;
  s.nic_bandwidth = gpu.nic_bandwidth_bytes_per_s;
  RETURN_IF_ERROR(s.Validate());
  return s;
}

Status ClusterSpec::Validate() const {
  if (nodes < 1 || nodes > 100000) {
    return InvalidArgument("nodes: " + std::to_string(nodes) + " must be in 1..100000");
  }
  if (gpus_per_node < 1 || gpus_per_node > 1024) {
    return InvalidArgument("gpus_per_node: " + std::to_string(gpus_per_node) +
                           " must be in 1..1024");
  }
  const int total = nodes * gpus_per_node;
  if (nvlink_domain_size < 1 || total % std::min(nvlink_domain_size, total) != 0) {
    return InvalidArgument("nvlink_domain_size: " + std::to_string(nvlink_domain_size) +
                           " must divide the " + std::to_string(total) + " GPUs");
  }
  if (nvlink_domain_size > gpus_per_node && nvlink_domain_size % gpus_per_node != 0) {
    return InvalidArgument("nvlink_domain_size: " + std::to_string(nvlink_domain_size) +
                           " spans nodes, so it must be a multiple of gpus_per_node " +
                           std::to_string(gpus_per_node));
  }
  if (nvlink_domain_size < gpus_per_node && gpus_per_node % nvlink_domain_size != 0) {
    return InvalidArgument("nvlink_domain_size: " + std::to_string(nvlink_domain_size) +
                           " must divide gpus_per_node " + std::to_string(gpus_per_node));
  }
  if (nvlink_domain_size > 1 && !(nvlink_bandwidth > 0)) {
    return InvalidArgument("nvlink_bandwidth must be > 0 when NVLink domains have > 1 GPU");
  }
  if (!(pcie_bandwidth > 0)) return InvalidArgument("pcie_bandwidth must be > 0");
  if (nodes > 1 && !(nic_bandwidth > 0)) {
    return InvalidArgument("nic_bandwidth must be > 0 for a cluster of more than one node");
  }
  return Status::Ok();
}

ClusterTopology::~ClusterTopology() = default;
ClusterTopology::ClusterTopology(ClusterTopology&&) noexcept = default;
ClusterTopology& ClusterTopology::operator=(ClusterTopology&&) noexcept = default;

StatusOr<ClusterTopology> ClusterTopology::Build(const ClusterSpec& spec) {
  RETURN_IF_ERROR(spec.Validate());
  ClusterTopology t;
  t.spec_ = spec;
  t.graph_ = std::make_unique<Graph>();
  auto& g = t.graph_->g;
  const int gpus = spec.nodes * spec.gpus_per_node;
  auto add_vertex = [&](std::string name) {
    t.vertex_names_.push_back(std::move(name));
    return static_cast<int>(boost::add_vertex(g));
  };
  auto connect = [&](int a, int b, LinkKind kind, double bw, Duration lat) {
    for (auto [from, to] : {std::pair{a, b}, std::pair{b, a}}) {
      const uint32_t id = static_cast<uint32_t>(t.links_.size());
      t.links_.push_back(Link{kind, bw, lat, from, to});
      boost::add_edge(from, to, Graph::EdgeProps{1.0 / bw + lat.seconds(), id}, g);
    }
  };
  // Vertices 0..gpus-1 are the GPUs, so a GpuId is its vertex.
  for (int i = 0; i < gpus; ++i) {
    add_vertex("gpu" + std::to_string(i) + "@node" + std::to_string(i / spec.gpus_per_node));
  }
  if (spec.nvlink_domain_size > 1) {
    for (int d = 0; d < gpus / spec.nvlink_domain_size; ++d) {
      const int sw = add_vertex("nvswitch" + std::to_string(d));
      for (int i = d * spec.nvlink_domain_size; i < (d + 1) * spec.nvlink_domain_size; ++i) {
        connect(i, sw, LinkKind::kNvlink, spec.nvlink_bandwidth, spec.nvlink_latency);
      }
    }
  } else if (spec.gpus_per_node > 1) {
    for (int n = 0; n < spec.nodes; ++n) {
      const int sw = add_vertex("pcie_switch@node" + std::to_string(n));
      for (int i = n * spec.gpus_per_node; i < (n + 1) * spec.gpus_per_node; ++i) {
        connect(i, sw, LinkKind::kPcie, spec.pcie_bandwidth, spec.pcie_latency);
      }
    }
  }
  if (spec.nodes > 1) {
    const int fabric = add_vertex("fabric");
    for (int i = 0; i < gpus; ++i) {
      const int nic = add_vertex("nic" + std::to_string(i));
      connect(i, nic, LinkKind::kPcie, spec.pcie_bandwidth, spec.pcie_latency);
      connect(nic, fabric, LinkKind::kNic, spec.nic_bandwidth, spec.network_latency);
    }
  }
  return t;
}

std::string ClusterTopology::VertexName(int vertex) const { return vertex_names_.at(vertex); }

GpuPath ClusterTopology::Path(GpuId a, GpuId b) const {
  DYNAMO_CHECK(static_cast<int>(a.value()) < num_gpus() &&
               static_cast<int>(b.value()) < num_gpus());
  GpuPath path;
  if (a == b) {
    path.bottleneck_bandwidth = std::numeric_limits<double>::infinity();
    return path;
  }
  const auto& g = graph_->g;
  const size_t n = boost::num_vertices(g);
  std::vector<Graph::G::vertex_descriptor> pred(n);
  std::vector<double> dist(n);
  boost::dijkstra_shortest_paths(g, a.value(),
                                 boost::predecessor_map(pred.data())
                                     .distance_map(dist.data())
                                     .weight_map(boost::get(&Graph::EdgeProps::cost, g)));
  DYNAMO_CHECK(pred[b.value()] != b.value());  // the fabric connects every GPU
  // Walk back from b; pick the cheapest parallel edge between consecutive vertices.
  std::vector<LinkId> rev;
  for (auto v = static_cast<Graph::G::vertex_descriptor>(b.value()); v != a.value(); v = pred[v]) {
    const auto u = pred[v];
    double best = std::numeric_limits<double>::infinity();
    uint32_t best_id = 0;
    for (auto [e, end] = boost::out_edges(u, g); e != end; ++e) {
      if (boost::target(*e, g) == v && g[*e].cost < best) {
        best = g[*e].cost;
        best_id = g[*e].link;
      }
    }
    rev.push_back(LinkId(best_id));
  }
  path.links.assign(rev.rbegin(), rev.rend());
  path.bottleneck_bandwidth = std::numeric_limits<double>::infinity();
  for (LinkId id : path.links) {
    path.bottleneck_bandwidth = std::min(path.bottleneck_bandwidth, link(id).bandwidth);
    path.latency += link(id).latency;
  }
  return path;
}

StatusOr<std::vector<std::vector<GpuId>>> ClusterTopology::Place(
    const std::vector<int>& gpus) const {
  const int total = std::accumulate(gpus.begin(), gpus.end(), 0);
  if (total > num_gpus()) {
    return FailedPrecondition("the workers need " + std::to_string(total) +
                              " GPUs; the cluster has " + std::to_string(num_gpus()) + " (" +
                              std::to_string(spec_.nodes) + " nodes x " +
                              std::to_string(spec_.gpus_per_node) + ")");
  }
  const int domain = spec_.nvlink_domain_size;
  const int domains = num_gpus() / domain;
  std::vector<int> used(domains, 0);  // GPUs taken in each domain, allocated from its start
  std::vector<size_t> order(gpus.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](size_t x, size_t y) { return gpus[x] > gpus[y]; });
  std::vector<std::vector<GpuId>> out(gpus.size());
  for (size_t w : order) {
    const int need = gpus[w];
    if (need < 1)
      return InvalidArgument("worker " + std::to_string(w) + " needs " + std::to_string(need) +
                             " GPUs; must be >= 1");
    if (need <= domain) {
      // Best fit: the domain with the least room that still fits (lowest index on ties).
      int best = -1;
      for (int d = 0; d < domains; ++d) {
        if (domain - used[d] >= need && (best < 0 || used[d] > used[best])) best = d;
      }
      if (best < 0) {
        return FailedPrecondition("cannot place worker " + std::to_string(w) + " (" +
                                  std::to_string(need) + " GPUs) inside one NVLink domain of " +
                                  std::to_string(domain) + ": the free GPUs are fragmented");
      }
      for (int i = 0; i < need; ++i) out[w].push_back(GpuId(best * domain + used[best] + i));
      used[best] += need;
      continue;
    }
    // Spans domains: take whole free domains.
    const int whole = (need + domain - 1) / domain;
    std::vector<int> free_domains;
    for (int d = 0; d < domains && static_cast<int>(free_domains.size()) < whole; ++d) {
      if (used[d] == 0) free_domains.push_back(d);
    }
    if (static_cast<int>(free_domains.size()) < whole) {
      return FailedPrecondition("cannot place worker " + std::to_string(w) + " (" +
                                std::to_string(need) + " GPUs): it needs " + std::to_string(whole) +
                                " free NVLink domains of " + std::to_string(domain));
    }
    int left = need;
    for (int d : free_domains) {
      const int take = std::min(left, domain);
      for (int i = 0; i < take; ++i) out[w].push_back(GpuId(d * domain + i));
      used[d] = domain;  // a partly used spanning domain is not shared
      left -= take;
    }
  }
  return out;
}

}  // namespace dynamo
