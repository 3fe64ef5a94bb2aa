#include "core/topology/cluster_topology.h"

#include <gtest/gtest.h>

#include <set>

namespace dynamo {
namespace {

ClusterTopology Build(const std::string& gpu, int nodes) {
  auto g = LoadGpu(gpu);
  EXPECT_TRUE(g.ok());
  auto spec = ClusterSpec::ForGpu(*g, nodes);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  auto t = ClusterTopology::Build(*spec);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(*t);
}

TEST(ClusterTopologyTest, NvlinkInsideANodeNetworkAcrossNodes) {
  ClusterTopology t = Build("h100_sxm", 2);
  EXPECT_EQ(t.num_gpus(), 16);
  GpuPath same = t.Path(GpuId(0), GpuId(7));
  ASSERT_EQ(same.links.size(), 2u);  // gpu -> nvswitch -> gpu
  for (LinkId id : same.links) EXPECT_EQ(t.link(id).kind, LinkKind::kNvlink);
  EXPECT_DOUBLE_EQ(same.bottleneck_bandwidth, 450e9);
  EXPECT_EQ(same.latency, Duration::Micros(2));

  GpuPath cross = t.Path(GpuId(3), GpuId(12));
  ASSERT_EQ(cross.links.size(), 4u);  // gpu -> nic (pcie) -> fabric -> nic -> gpu
  EXPECT_EQ(t.link(cross.links[0]).kind, LinkKind::kPcie);
  EXPECT_EQ(t.link(cross.links[1]).kind, LinkKind::kNic);
  EXPECT_DOUBLE_EQ(cross.bottleneck_bandwidth, 50e9);
  EXPECT_EQ(cross.latency, Duration::Micros(12));
  EXPECT_TRUE(t.Path(GpuId(5), GpuId(5)).links.empty());
}

TEST(ClusterTopologyTest, PathsAreChainsOfDirectedLinks) {
  ClusterTopology t = Build("h200_sxm", 3);
  for (int a = 0; a < t.num_gpus(); a += 5) {
    for (int b = 0; b < t.num_gpus(); b += 3) {
      if (a == b) continue;
      GpuPath p = t.Path(GpuId(a), GpuId(b));
      ASSERT_FALSE(p.links.empty());
      EXPECT_EQ(t.link(p.links.front()).from_vertex, a);
      EXPECT_EQ(t.link(p.links.back()).to_vertex, b);
      for (size_t i = 1; i < p.links.size(); ++i) {
        EXPECT_EQ(t.link(p.links[i - 1]).to_vertex, t.link(p.links[i]).from_vertex);
      }
      // The reverse direction uses other (opposite) links with the same bandwidth.
      GpuPath r = t.Path(GpuId(b), GpuId(a));
      EXPECT_DOUBLE_EQ(r.bottleneck_bandwidth, p.bottleneck_bandwidth);
      EXPECT_NE(r.links.front(), p.links.back());
    }
  }
}

TEST(ClusterTopologyTest, Gb200DomainSpansNodes) {
  ClusterTopology t = Build("gb200", 36);  // 4 GPUs per tray, NVL72 domains
  EXPECT_EQ(t.spec().nvlink_domain_size, 72);
  EXPECT_NE(t.NodeOf(GpuId(0)), t.NodeOf(GpuId(70)));
  EXPECT_EQ(t.Path(GpuId(0), GpuId(70)).links.size(), 2u);  // NVLink across trays
  EXPECT_DOUBLE_EQ(t.Path(GpuId(0), GpuId(71)).bottleneck_bandwidth, 900e9);
  EXPECT_EQ(t.Path(GpuId(0), GpuId(72)).links.size(), 4u);  // next rack: the network
}

TEST(ClusterTopologyTest, PcieOnlyGpusTalkThroughThePcieSwitch) {
  ClusterTopology t = Build("l40s", 1);
  GpuPath p = t.Path(GpuId(0), GpuId(1));
  ASSERT_EQ(p.links.size(), 2u);
  EXPECT_EQ(t.link(p.links[0]).kind, LinkKind::kPcie);
}

TEST(ClusterTopologyTest, PlacementKeepsWorkersInsideNvlinkDomains) {
  ClusterTopology t = Build("h200_sxm", 2);
  auto placed = t.Place({4, 8, 2, 2});
  ASSERT_TRUE(placed.ok()) << placed.status().message();
  std::set<uint32_t> used;
  for (const auto& worker : *placed) {
    std::set<int> domains;
    for (GpuId g : worker) {
      EXPECT_TRUE(used.insert(g.value()).second) << "GPU placed twice";
      domains.insert(t.DomainOf(g));
    }
    EXPECT_EQ(domains.size(), 1u);
  }
  EXPECT_EQ((*placed)[1].size(), 8u);
}

TEST(ClusterTopologyTest, PlacementErrorsExplain) {
  ClusterTopology t = Build("h200_sxm", 2);
  EXPECT_EQ(t.Place({8, 8, 1}).status().message(),
            "the workers need 17 GPUs; the cluster has 16 (2 nodes x 8)");
  EXPECT_EQ(t.Place({6, 6, 4}).status().message(),
            "cannot place worker 2 (4 GPUs) inside one NVLink domain of 8: the free GPUs are "
            "fragmented");
  auto big = t.Place({16});
  ASSERT_TRUE(big.ok());
  EXPECT_EQ((*big)[0].size(), 16u);
}

TEST(ClusterTopologyTest, ClustersFollowTheCatalogDomain) {
  auto h200 = *LoadGpu("h200_sxm");
  auto big_node = ClusterSpec::ForGpu(h200, 1, 16);  // a 16-GPU node still has 8-GPU boards
  ASSERT_TRUE(big_node.ok());
  EXPECT_EQ(big_node->nvlink_domain_size, 8);
  auto gb200 = *LoadGpu("gb200");
  EXPECT_EQ(ClusterSpec::ForGpu(gb200, 20).status().message(),
            "nodes: 20 x 4 gb200 GPUs split an NVLink domain of 72 GPUs; use a multiple of 18 "
            "nodes, or fewer than 18");
  auto partial_rack = ClusterSpec::ForGpu(gb200, 2);  // 8 GPUs: one (partial) domain
  ASSERT_TRUE(partial_rack.ok());
  EXPECT_EQ(partial_rack->nvlink_domain_size, 8);
}

TEST(ClusterTopologyTest, SpecValidation) {
  ClusterSpec s;
  s.nodes = 0;
  EXPECT_EQ(s.Validate().message(), "nodes: 0 must be in 1..100000");
  s.nodes = 3;
  s.nvlink_domain_size = 12;
  EXPECT_EQ(s.Validate().message(),
            "nvlink_domain_size: 12 spans nodes, so it must be a multiple of gpus_per_node 8");
}

}  // namespace
}  // namespace dynamo
