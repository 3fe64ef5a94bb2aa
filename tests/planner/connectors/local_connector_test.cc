#include "planner/connectors/local_connector.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/json.h"

namespace dynamo::planner {
namespace {

Plan MakePlan(const std::string& json) {
  auto root = JsonDocument::Parse(json, "test_plan.json");
  EXPECT_TRUE(root.ok()) << root.status().message();
  auto plan = ParsePlan(*root);
  EXPECT_TRUE(plan.ok()) << plan.status().message();
  return std::move(plan).value();
}

// Prefill workers of 1 GPU (pool 0), decode workers of 2 GPUs (pool 1).
constexpr char kDisagg[] =
    R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm", "gpus_per_node": 8},
  "workers": [{"role": "prefill", "replicas": 1, "tp": 1}, {"role": "decode", "replicas": 1, "tp": 2}],
  "planner": {"enabled": true, "max_gpus": 6}})";

// The launcher's side: names workers p<pool>-<n>, records spawns and drains.
struct FakeLauncher {
  std::vector<int> spawned_pools;
  std::vector<std::string> drained;
  std::optional<Status> fail_next;  // the next spawn fails with this
  int next = 0;

  LocalConnectorCallbacks Callbacks() {
    LocalConnectorCallbacks cb;
    cb.spawn = [this](int pool) -> StatusOr<std::string> {
      if (fail_next) {
        Status s = *fail_next;
        fail_next.reset();
        return s;
      }
      spawned_pools.push_back(pool);
      return "p" + std::to_string(pool) + "-" + std::to_string(next++);
    };
    cb.drain = [this](const std::string& name) { drained.push_back(name); };
    return cb;
  }
};

class LocalConnectorTest : public testing::Test {
 protected:
  void SetUp() override {
    auto c = LocalProcessConnector::Create(io_, MakePlan(kDisagg), 6, launcher_.Callbacks());
    ASSERT_TRUE(c.ok()) << c.status().message();
    connector_ = std::move(*c);
    connector_->Adopt(0, "initial-prefill");
    connector_->Adopt(1, "initial-decode");
  }

  // SetReplicas, checking that `done` runs on the io_context and not inside the call.
  Status Set(WorkerRole role, int n) {
    std::optional<Status> got;
    connector_->SetReplicas(role, n, [&](Status s) { got = std::move(s); });
    EXPECT_FALSE(got.has_value()) << "done ran inside SetReplicas";
    io_.restart();
    io_.run_for(std::chrono::seconds(10));  // returns once the posted result ran
    EXPECT_TRUE(got.has_value());
    return got.value_or(Internal("done never ran"));
  }

  boost::asio::io_context io_;
  FakeLauncher launcher_;
  std::unique_ptr<LocalProcessConnector> connector_;
};

TEST_F(LocalConnectorTest, SpawnsUpToTheCountWithinTheBudget) {
  EXPECT_EQ(connector_->gpus_held(), 3);
  ASSERT_TRUE(Set(WorkerRole::kPrefill, 3).ok());
  EXPECT_EQ(launcher_.spawned_pools, (std::vector<int>{0, 0}));
  EXPECT_EQ(connector_->replicas(0), 3);
  EXPECT_EQ(connector_->gpus_held(), 5);
  // Two more decode workers need 4 GPUs; 1 is free: refused, naming the budget and the need.
  const Status s = Set(WorkerRole::kDecode, 3);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(),
            "local scaling of decode to 3: 2 more worker(s) of 2 GPU(s) need 4 GPU(s) but the "
            "budget of 6 GPU(s) has 1 free (draining workers hold theirs until they exit); "
            "started 0 of 2");
  EXPECT_EQ(connector_->replicas(1), 1);
  // Already there: nothing to do.
  ASSERT_TRUE(Set(WorkerRole::kPrefill, 3).ok());
  EXPECT_EQ(launcher_.spawned_pools.size(), 2u);
}

TEST_F(LocalConnectorTest, StartsWhatFitsAndRefusesTheRest) {
  // 3 free GPUs: one more decode worker (2 GPUs) fits, the second does not.
  const Status s = Set(WorkerRole::kDecode, 3);
  EXPECT_EQ(s.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("started 1 of 2"), std::string::npos) << s.message();
  EXPECT_EQ(connector_->replicas(1), 2);
  EXPECT_EQ(connector_->gpus_held(), 5);
}

TEST_F(LocalConnectorTest, DrainsTheNewestWorkersAndCountsTheirGpusUntilTheyExit) {
  ASSERT_TRUE(Set(WorkerRole::kPrefill, 3).ok());  // p0-0, p0-1
  ASSERT_TRUE(Set(WorkerRole::kPrefill, 1).ok());
  EXPECT_EQ(launcher_.drained, (std::vector<std::string>{"p0-1", "p0-0"}));
  EXPECT_EQ(connector_->replicas(0), 1);
  EXPECT_EQ(connector_->draining(), 2);
  EXPECT_EQ(connector_->gpus_held(), 5);
  // The draining workers still hold their GPUs: a decode worker does not fit yet.
  EXPECT_EQ(Set(WorkerRole::kDecode, 2).code(), StatusCode::kFailedPrecondition);
  EXPECT_EQ(connector_->replicas(1), 1);
  connector_->WorkerExited("p0-1");
  connector_->WorkerExited("p0-0");
  connector_->WorkerExited("p0-0");  // twice: ignored
  EXPECT_EQ(connector_->draining(), 0);
  EXPECT_EQ(connector_->gpus_held(), 3);
  ASSERT_TRUE(Set(WorkerRole::kDecode, 2).ok());
  EXPECT_EQ(connector_->gpus_held(), 5);
  // The adopted worker is the oldest: scaling down decode drains the spawned one.
  ASSERT_TRUE(Set(WorkerRole::kDecode, 1).ok());
  EXPECT_EQ(launcher_.drained.back(), "p1-2");
}

TEST_F(LocalConnectorTest, ADeadWorkerIsReplaced) {
  connector_->WorkerExited("initial-decode");
  EXPECT_EQ(connector_->replicas(1), 0);
  EXPECT_EQ(connector_->gpus_held(), 1);
  ASSERT_TRUE(Set(WorkerRole::kDecode, 1).ok());
  EXPECT_EQ(launcher_.spawned_pools, (std::vector<int>{1}));
  EXPECT_EQ(connector_->replicas(1), 1);
}

TEST_F(LocalConnectorTest, NeverBelowOneWorkerNorARoleThePlanLacks) {
  const Status zero = Set(WorkerRole::kPrefill, 0);
  EXPECT_EQ(zero.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(zero.message(),
            "local scaling: 0 prefill replicas asked; at least 1 worker per pool keeps running");
  EXPECT_EQ(connector_->replicas(0), 1);
  EXPECT_TRUE(launcher_.drained.empty());
  const Status agg = Set(WorkerRole::kAggregated, 2);
  EXPECT_EQ(agg.code(), StatusCode::kNotFound);
  EXPECT_EQ(agg.message(),
            "local scaling: test_plan.json has no agg pool to scale; the planner's mode must match "
            "the plan's roles");
}

TEST_F(LocalConnectorTest, ASpawnFailureStopsWithContextAndKeepsWhatStarted) {
  launcher_.fail_next = IoError("cannot start a worker: fork: Resource temporarily unavailable");
  Status s = Set(WorkerRole::kPrefill, 2);
  EXPECT_EQ(s.code(), StatusCode::kIoError);
  EXPECT_EQ(s.message(),
            "local scaling of prefill to 2: starting worker 1 of 1: cannot start a worker: fork: "
            "Resource temporarily unavailable");
  EXPECT_EQ(connector_->replicas(0), 1);
  ASSERT_TRUE(Set(WorkerRole::kPrefill, 2).ok());  // the next tick succeeds
  EXPECT_EQ(connector_->replicas(0), 2);
}

TEST_F(LocalConnectorTest, ReportsReplicasAndDescribesItself) {
  std::optional<StatusOr<int>> got;
  connector_->GetReplicas(WorkerRole::kDecode, [&](StatusOr<int> n) { got = std::move(n); });
  EXPECT_FALSE(got.has_value());
  io_.restart();
  io_.run_for(std::chrono::seconds(10));
  ASSERT_TRUE(got.has_value() && got->ok());
  EXPECT_EQ(**got, 1);
  EXPECT_EQ(connector_->Describe(), "local processes (GPU budget 6, 3 held; prefill 1, decode 1)");
}

TEST(LocalConnectorCreateTest, RefusesBadBudgetsCallbacksAndPools) {
  boost::asio::io_context io;
  FakeLauncher launcher;
  auto budget = LocalProcessConnector::Create(io, MakePlan(kDisagg), 0, launcher.Callbacks());
  ASSERT_FALSE(budget.ok());
  EXPECT_EQ(budget.status().message(),
            "local scaling connector for test_plan.json: GPU budget 0 is below 1; set "
            "planner.max_gpus >= 1 (or 0 for the system's GPUs)");
  auto no_cb = LocalProcessConnector::Create(io, MakePlan(kDisagg), 4, {});
  ASSERT_FALSE(no_cb.ok());
  EXPECT_EQ(no_cb.status().code(), StatusCode::kInvalidArgument);
  const Plan two_agg = MakePlan(R"({"model": "llama-3.1-8b", "system": {"gpu": "h200_sxm"},
    "workers": [{"role": "agg"}, {"role": "agg"}]})");
  auto pools = LocalProcessConnector::Create(io, two_agg, 4, launcher.Callbacks());
  ASSERT_FALSE(pools.ok());
  EXPECT_EQ(pools.status().message(),
            "local scaling connector for test_plan.json: $.workers[0] and $.workers[1] are both "
            "agg pools; the planner scales one pool per role; merge them");
}

}  // namespace
}  // namespace dynamo::planner
