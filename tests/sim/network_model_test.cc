#include "sim/network_model.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "core/hardware/gpu_spec.h"
#include "core/rng.h"

namespace dynamo::sim {
namespace {

ClusterTopology BuildTopology(const std::string& gpu, int nodes) {
  auto g = LoadGpu(gpu);
  EXPECT_TRUE(g.ok()) << g.status().message();
  auto spec = ClusterSpec::ForGpu(*g, nodes);
  EXPECT_TRUE(spec.ok()) << spec.status().message();
  auto t = ClusterTopology::Build(*spec);
  EXPECT_TRUE(t.ok()) << t.status().message();
  return std::move(*t);
}

Time Ms(int64_t ms) { return Time::Zero() + Duration::Millis(ms); }

// ceil(bytes / bandwidth) in whole nanoseconds, in integers.
Duration DataTime(int64_t bytes, double bandwidth) {
  const auto bw = static_cast<int64_t>(bandwidth);
  EXPECT_EQ(static_cast<double>(bw), bandwidth);
  return Duration::Nanos((bytes * 1'000'000'000 + bw - 1) / bw);
}

struct Completion {
  TransferId id;
  Time at;
  bool operator==(const Completion&) const = default;
};

// Drives the model from event to event until idle; records when each transfer completed.
std::vector<Completion> RunToIdle(NetworkModel& m) {
  std::vector<Completion> out;
  std::vector<TransferId> done;
  while (m.NextEventTime() != Time::Max()) {
    const Time t = m.NextEventTime();
    done.clear();
    m.AdvanceTo(t, done);
    for (TransferId id : done) out.push_back({id, t});
  }
  return out;
}

class NetworkModelTest : public ::testing::Test {
 protected:
  // 2 x 8 H200: NVLink 450 GB/s inside a node; PCIe 64 GB/s to each GPU's NIC, NIC 50 GB/s.
  ClusterTopology topo_ = BuildTopology("h200_sxm", 2);
};

TEST_F(NetworkModelTest, OneInterNodeTransferTakesBytesOverBandwidthPlusLatency) {
  const GpuPath path = topo_.Path(GpuId(0), GpuId(8));
  ASSERT_EQ(path.bottleneck_bandwidth, 50e9);
  for (int64_t bytes : {int64_t{1'000'000'000}, int64_t{123'456'789}, int64_t{1}}) {
    NetworkModel m(topo_);
    const FlowSpec flow{GpuId(0), GpuId(8), bytes};
    const Time start = Ms(3);
    const TransferId id = m.Start(start, {&flow, 1});
    EXPECT_EQ(m.active_transfers(), 1u);
    EXPECT_EQ(m.active_flows(), 1u);
    const Time data_end = start + DataTime(bytes, path.bottleneck_bandwidth);
    EXPECT_EQ(m.NextEventTime(), data_end);
    std::vector<TransferId> done;
    m.AdvanceTo(data_end + path.latency - Duration::Nanos(1), done);
    EXPECT_TRUE(done.empty());
    EXPECT_EQ(m.NextEventTime(), data_end + path.latency);
    m.AdvanceTo(data_end + path.latency, done);
    EXPECT_EQ(done, std::vector<TransferId>{id});
    EXPECT_EQ(m.NextEventTime(), Time::Max());
    EXPECT_EQ(m.active_transfers(), 0u);
    EXPECT_EQ(m.active_flows(), 0u);
    for (LinkId l : path.links) {
      EXPECT_DOUBLE_EQ(m.link_bytes()[l.value()], static_cast<double>(bytes));
    }
  }
}

TEST_F(NetworkModelTest, TwoTransfersOnOneLinkEachTakeTwiceAsLong) {
  const GpuPath path = topo_.Path(GpuId(0), GpuId(8));
  const int64_t bytes = 1'000'000'000;
  NetworkModel m(topo_);
  const FlowSpec a{GpuId(0), GpuId(8), bytes};
  const FlowSpec b{GpuId(0), GpuId(9), bytes};  // shares GPU 0's PCIe and NIC links
  const TransferId ia = m.Start(Time::Zero(), {&a, 1});
  const TransferId ib = m.Start(Time::Zero(), {&b, 1});
  EXPECT_EQ(m.RatesOf(ia), std::vector<double>{25e9});
  EXPECT_EQ(m.RatesOf(ib), std::vector<double>{25e9});
  const Time end = Time::Zero() + DataTime(2 * bytes, 50e9) + path.latency;
  EXPECT_EQ(RunToIdle(m), (std::vector<Completion>{{ia, end}, {ib, end}}));

  // On disjoint paths they do not slow each other.
  NetworkModel free(topo_);
  const FlowSpec c{GpuId(1), GpuId(9), bytes};
  const TransferId ja = free.Start(Time::Zero(), {&a, 1});
  const TransferId jc = free.Start(Time::Zero(), {&c, 1});
  const Time alone = Time::Zero() + DataTime(bytes, 50e9) + path.latency;
  EXPECT_EQ(RunToIdle(free), (std::vector<Completion>{{ja, alone}, {jc, alone}}));
}

// A sends 1 GB alone at 50 GB/s for 10 ms (0.5 GB left); B (1 GB) joins: 25 GB/s each, so A's
// data ends 20 ms later at 30 ms, when B has 0.5 GB left; alone again, B ends at 40 ms.
TEST_F(NetworkModelTest, ATransferJoiningMidwayResharesTheLink) {
  const Duration latency = topo_.Path(GpuId(0), GpuId(8)).latency;
  NetworkModel m(topo_);
  const FlowSpec flow{GpuId(0), GpuId(8), 1'000'000'000};
  const TransferId a = m.Start(Time::Zero(), {&flow, 1});
  EXPECT_EQ(m.NextEventTime(), Ms(20));
  std::vector<TransferId> done;
  m.AdvanceTo(Ms(10), done);
  EXPECT_TRUE(done.empty());
  const TransferId b = m.Start(Ms(10), {&flow, 1});
  EXPECT_EQ(m.RatesOf(a), std::vector<double>{25e9});
  EXPECT_EQ(m.NextEventTime(), Ms(30));
  EXPECT_EQ(RunToIdle(m), (std::vector<Completion>{{a, Ms(30) + latency}, {b, Ms(40) + latency}}));
}

// Flows A, B, C into GPU 8 share the fabric -> NIC 8 link (50 GB/s). A's source NIC link also
// carries three background flows, so A gets 50 / 4 = 12.5 GB/s there; B and C split the rest of
// the shared link: (50 - 12.5) / 2 = 18.75 GB/s each, not 50 / 3.
TEST_F(NetworkModelTest, MaxMinFairnessGivesTheRestToUnbottleneckedFlows) {
  NetworkModel m(topo_);
  const TransferId a = m.Start(Time::Zero(), std::vector<FlowSpec>{{GpuId(0), GpuId(8), 1 << 30}});
  const TransferId b = m.Start(Time::Zero(), std::vector<FlowSpec>{{GpuId(1), GpuId(8), 1 << 30}});
  const TransferId c = m.Start(Time::Zero(), std::vector<FlowSpec>{{GpuId(2), GpuId(8), 1 << 30}});
  EXPECT_EQ(m.RatesOf(a)[0], 50e9 / 3);  // before the background flows: equal shares
  const TransferId bg =
      m.Start(Time::Zero(), std::vector<FlowSpec>{{GpuId(0), GpuId(9), 1 << 30},
                                                  {GpuId(0), GpuId(10), 1 << 30},
                                                  {GpuId(0), GpuId(11), 1 << 30}});
  EXPECT_EQ(m.RatesOf(a), std::vector<double>{12.5e9});
  EXPECT_EQ(m.RatesOf(b), std::vector<double>{18.75e9});
  EXPECT_EQ(m.RatesOf(c), std::vector<double>{18.75e9});
  EXPECT_EQ(m.RatesOf(bg), (std::vector<double>{12.5e9, 12.5e9, 12.5e9}));
  EXPECT_EQ(m.active_flows(), 6u);
}

TEST_F(NetworkModelTest, MultiFlowTransferCompletesWithItsSlowestFlow) {
  const int64_t bytes = 450'000'000;
  const GpuPath nvlink = topo_.Path(GpuId(0), GpuId(1));
  const GpuPath nic = topo_.Path(GpuId(2), GpuId(10));
  NetworkModel m(topo_);
  const std::vector<FlowSpec> flows = {
      {GpuId(0), GpuId(1), bytes}, {GpuId(2), GpuId(10), bytes}, {GpuId(3), GpuId(3), bytes}};
  const TransferId id = m.Start(Time::Zero(), flows);
  EXPECT_EQ(m.active_flows(), 3u);
  std::vector<TransferId> done;
  m.AdvanceTo(Time::Zero() + DataTime(bytes, 450e9) + nvlink.latency, done);
  EXPECT_TRUE(done.empty());  // the NVLink and same-GPU flows are done, the NIC one is not
  EXPECT_EQ(m.active_flows(), 1u);
  EXPECT_EQ(m.active_transfers(), 1u);
  EXPECT_EQ(RunToIdle(m),
            (std::vector<Completion>{{id, Time::Zero() + DataTime(bytes, 50e9) + nic.latency}}));
}

TEST_F(NetworkModelTest, NvlinkInsideANodeNicAcrossNodes) {
  const int64_t bytes = 1'000'000'000;
  const GpuPath nvlink = topo_.Path(GpuId(0), GpuId(1));
  const GpuPath nic = topo_.Path(GpuId(0), GpuId(8));
  ASSERT_EQ(nvlink.bottleneck_bandwidth, 450e9);
  ASSERT_EQ(nic.bottleneck_bandwidth, 50e9);
  NetworkModel m(topo_);
  const FlowSpec intra{GpuId(0), GpuId(1), bytes};
  const FlowSpec inter{GpuId(0), GpuId(8), bytes};
  const TransferId i = m.Start(Time::Zero(), {&intra, 1});
  const TransferId x = m.Start(Time::Zero(), {&inter, 1});
  // GPU 0's NVLink and NIC paths share no link: each runs at its own bottleneck.
  EXPECT_EQ(m.RatesOf(i), std::vector<double>{450e9});
  EXPECT_EQ(m.RatesOf(x), std::vector<double>{50e9});
  EXPECT_EQ(RunToIdle(m),
            (std::vector<Completion>{{i, Time::Zero() + DataTime(bytes, 450e9) + nvlink.latency},
                                     {x, Time::Zero() + DataTime(bytes, 50e9) + nic.latency}}));
}

TEST_F(NetworkModelTest, ZeroByteAndSameGpuFlowsCompleteAtStart) {
  NetworkModel m(topo_);
  std::vector<TransferId> done;
  m.AdvanceTo(Ms(5), done);
  const TransferId same = m.Start(Ms(5), std::vector<FlowSpec>{{GpuId(3), GpuId(3), 1 << 20}});
  const TransferId empty = m.Start(Ms(5), std::vector<FlowSpec>{{GpuId(0), GpuId(8), 0}});
  EXPECT_EQ(m.NextEventTime(), Ms(5));
  EXPECT_EQ(m.active_transfers(), 2u);
  m.AdvanceTo(Ms(5), done);
  EXPECT_EQ(done, (std::vector<TransferId>{same, empty}));
  EXPECT_EQ(m.NextEventTime(), Time::Max());
  for (double b : m.link_bytes()) EXPECT_EQ(b, 0.0);
}

TEST_F(NetworkModelTest, CompletionsAtOneTimeAreOrderedById) {
  NetworkModel m(topo_);
  std::vector<TransferId> ids;
  // Disjoint paths, equal sizes: all complete together, reported by id in one AdvanceTo.
  for (int g = 0; g < 4; ++g) {
    ids.push_back(
        m.Start(Time::Zero(), std::vector<FlowSpec>{{GpuId(g), GpuId(8 + g), 1'000'000}}));
  }
  std::vector<TransferId> done;
  m.AdvanceTo(Ms(1000), done);
  EXPECT_EQ(done, ids);
}

// A Start past pending events (no AdvanceTo in between) ends the data phases due by then first,
// so the new flow does not share with them; the overdue completion is reported by the next
// AdvanceTo, and NextEventTime never goes back before the Start.
TEST_F(NetworkModelTest, StartPastPendingEventsProcessesThemFirst) {
  const Duration latency = topo_.Path(GpuId(0), GpuId(8)).latency;
  NetworkModel m(topo_);
  const FlowSpec flow{GpuId(0), GpuId(8), 500'000'000};  // 10 ms alone
  const TransferId a = m.Start(Time::Zero(), {&flow, 1});
  const TransferId b = m.Start(Ms(15), {&flow, 1});  // A's data phase ended at 10 ms
  EXPECT_TRUE(m.RatesOf(a).empty());
  EXPECT_EQ(m.RatesOf(b), std::vector<double>{50e9});
  EXPECT_EQ(m.NextEventTime(), Ms(15));
  EXPECT_EQ(RunToIdle(m), (std::vector<Completion>{{a, Ms(15)}, {b, Ms(25) + latency}}));
}

// Checks that the rates of the single-flow transfers in `started` that are still sending are
// max-min fair: no link carries more than its bandwidth, and every sending flow crosses a
// saturated link on which no flow gets more. Returns how many flows are sending.
size_t ExpectMaxMinFair(const ClusterTopology& topo, const NetworkModel& m,
                        const std::map<uint64_t, FlowSpec>& started) {
  struct Sending {
    double rate;
    std::vector<LinkId> links;
  };
  std::vector<Sending> sending;
  std::vector<double> load(topo.num_links(), 0.0);
  std::vector<double> fastest(topo.num_links(), 0.0);
  for (const auto& [id, spec] : started) {
    const std::vector<double> rates = m.RatesOf(TransferId(id));
    if (rates.empty()) continue;
    EXPECT_EQ(rates.size(), 1u);
    EXPECT_GT(rates[0], 0.0);
    sending.push_back({rates[0], topo.Path(spec.src, spec.dst).links});
    for (LinkId l : sending.back().links) {
      load[l.value()] += rates[0];
      fastest[l.value()] = std::max(fastest[l.value()], rates[0]);
    }
  }
  for (int l = 0; l < topo.num_links(); ++l) {
    EXPECT_LE(load[l], topo.link(LinkId(l)).bandwidth * (1 + 1e-9)) << "link " << l;
  }
  for (const Sending& s : sending) {
    bool bottlenecked = false;
    for (LinkId l : s.links) {
      const double bw = topo.link(l).bandwidth;
      bottlenecked |=
          load[l.value()] >= bw * (1 - 1e-9) && s.rate >= fastest[l.value()] * (1 - 1e-9);
    }
    EXPECT_TRUE(bottlenecked) << "a flow at " << s.rate << " B/s could go faster";
  }
  return sending.size();
}

// Random single-flow transfers: the rates are max-min fair after every start and every event
// (only the flows connected to a change are re-shared, so this also checks that the others
// did not need it), and in the end every byte crossed every link of its path.
TEST_F(NetworkModelTest, RandomWorkloadsAreMaxMinFairAndConserveBytes) {
  for (uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE(::testing::Message() << "seed " << seed);
    RngStream rng(seed, "network_model_fairness");
    NetworkModel m(topo_);
    std::map<uint64_t, FlowSpec> started;  // transfer id -> its one flow
    std::vector<double> expected_link_bytes(topo_.num_links(), 0.0);
    std::vector<TransferId> done;
    Time now = Time::Zero();
    size_t most_sending = 0;
    for (int step = 0; step < 400; ++step) {
      now = now + Duration::Micros(rng.UniformInt(0, 300));
      while (m.NextEventTime() <= now) {
        m.AdvanceTo(m.NextEventTime(), done);
        ExpectMaxMinFair(topo_, m, started);
      }
      m.AdvanceTo(now, done);
      const FlowSpec f{GpuId(static_cast<uint32_t>(rng.Below(16))),
                       GpuId(static_cast<uint32_t>(rng.Below(16))), rng.UniformInt(0, 50'000'000)};
      if (f.src != f.dst) {
        for (LinkId l : topo_.Path(f.src, f.dst).links) {
          expected_link_bytes[l.value()] += static_cast<double>(f.bytes);
        }
      }
      started[m.Start(now, {&f, 1}).value()] = f;
      most_sending = std::max(most_sending, ExpectMaxMinFair(topo_, m, started));
      if (HasFailure()) return;
    }
    EXPECT_GE(most_sending, 5u);  // the check saw real contention
    RunToIdle(m);
    EXPECT_EQ(m.active_transfers(), 0u);
    EXPECT_EQ(m.active_flows(), 0u);
    for (int l = 0; l < topo_.num_links(); ++l) {
      EXPECT_NEAR(m.link_bytes()[l], expected_link_bytes[l], 1e-9 * expected_link_bytes[l] + 1e-3);
    }
  }
}

TEST_F(NetworkModelTest, Deterministic) {
  auto run = [&](uint64_t seed) {
    RngStream rng(seed, "network_model_determinism");
    NetworkModel m(topo_);
    std::vector<Completion> out;
    std::vector<TransferId> done;
    Time now = Time::Zero();
    for (int step = 0; step < 500; ++step) {
      now = now + Duration::Micros(rng.UniformInt(0, 200));
      done.clear();
      m.AdvanceTo(now, done);
      for (TransferId id : done) out.push_back({id, now});
      std::vector<FlowSpec> flows;
      for (int k = 0; k < static_cast<int>(rng.UniformInt(1, 8)); ++k) {
        flows.push_back({GpuId(static_cast<uint32_t>(rng.Below(16))),
                         GpuId(static_cast<uint32_t>(rng.Below(16))),
                         rng.UniformInt(0, 20'000'000)});
      }
      m.Start(now, flows);
    }
    for (const Completion& c : RunToIdle(m)) out.push_back(c);
    return std::pair{out, m.link_bytes()};
  };
  const auto first = run(9);
  EXPECT_EQ(first.first.size(), 500u);
  EXPECT_EQ(run(9), first);
  EXPECT_NE(run(10).first, first.first);
}

}  // namespace
}  // namespace dynamo::sim
