#include "core/workload/synthetic_workload.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <map>
#include <set>

#include "core/workload/workload.h"
#include "core/workload/workload_stats.h"
#include "tests/core/test_util.h"

namespace dynamo {
namespace {

StatusOr<Workload> Generate(const std::string& json, const std::string& base_dir = "") {
  ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(json, "workload.json"));
  ASSIGN_OR_RETURN(SyntheticSpec spec, SyntheticSpec::Parse(root, base_dir));
  return GenerateWorkload(spec, "workload.json");
}

Workload MustGenerate(const std::string& json, const std::string& base_dir = "") {
  auto w = Generate(json, base_dir);
  EXPECT_TRUE(w.ok()) << w.status().message();
  return w.ok() ? *w : Workload{};
}

std::vector<double> Gaps(const Workload& w) {
  std::vector<double> g;
  for (size_t i = 1; i < w.requests.size(); ++i) {
    g.push_back((w.requests[i].arrival - w.requests[i - 1].arrival).seconds());
  }
  return g;
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / v.size();
}

double Cv(const std::vector<double>& v) {
  const double m = Mean(v);
  double s2 = 0;
  for (double x : v) s2 += (x - m) * (x - m);
  return std::sqrt(s2 / v.size()) / m;
}

TEST(SyntheticWorkloadTest, SameSeedSameStreamDifferentSeedDifferentStream) {
  const std::string spec = R"({"requests": 500, "seed": 3, "arrival": {"process": "poisson",
      "rate_rps": 5}, "isl": {"dist": "uniform", "min": 10, "max": 5000},
      "osl": {"dist": "lognormal", "mean": 200, "std": 100}, "prefix": {"groups": 3,
      "shared_tokens": 64}})";
  Workload a = MustGenerate(spec), b = MustGenerate(spec);
  ASSERT_EQ(a.requests.size(), 500u);
  for (size_t i = 0; i < a.requests.size(); ++i) {
    ASSERT_EQ(a.requests[i].arrival, b.requests[i].arrival);
    ASSERT_EQ(a.requests[i].isl, b.requests[i].isl);
    ASSERT_EQ(a.requests[i].osl, b.requests[i].osl);
    ASSERT_EQ(a.requests[i].block_hashes, b.requests[i].block_hashes);
    ASSERT_EQ(a.requests[i].id.value(), i);
  }
  Workload c = MustGenerate(std::string(spec).replace(spec.find("\"seed\": 3"), 9, "\"seed\": 4"));
  int same = 0;
  for (size_t i = 0; i < 500; ++i) same += a.requests[i].isl == c.requests[i].isl;
  EXPECT_LT(same, 10);
}

TEST(SyntheticWorkloadTest, PoissonRateAndExponentialGaps) {
  Workload w = MustGenerate(R"({"requests": 20000, "seed": 1, "arrival": {"process": "poisson",
      "rate_rps": 5}, "isl": 100, "osl": 10})");
  const auto gaps = Gaps(w);
  EXPECT_NEAR(Mean(gaps), 0.2, 0.2 * 0.02);
  EXPECT_NEAR(Cv(gaps), 1.0, 0.03);
}

TEST(SyntheticWorkloadTest, GammaArrivalsHaveTheRequestedBurstiness) {
  Workload w = MustGenerate(R"({"requests": 50000, "seed": 2, "arrival": {"process": "gamma",
      "rate_rps": 10, "cv": 2.0}, "isl": 100, "osl": 10})");
  const auto gaps = Gaps(w);
  EXPECT_NEAR(Mean(gaps), 0.1, 0.1 * 0.03);
  EXPECT_NEAR(Cv(gaps), 2.0, 0.1);
}

TEST(SyntheticWorkloadTest, ConstantArrivalsAreEvenlySpaced) {
  Workload w = MustGenerate(R"({"requests": 10, "arrival": {"process": "constant", "rate_rps": 4},
      "isl": 100, "osl": 10})");
  for (size_t i = 0; i < w.requests.size(); ++i) {
    EXPECT_EQ(w.requests[i].arrival, Time::Zero() + Duration::Millis(250) * (i + 1));
  }
}

TEST(SyntheticWorkloadTest, ClosedLoopHasNoArrivalTimes) {
  Workload w = MustGenerate(R"({"requests": 100, "arrival": {"process": "concurrency",
      "concurrency": 8}, "isl": 100, "osl": 10})");
  EXPECT_EQ(w.closed_loop_concurrency, 8);
  for (const Request& r : w.requests) EXPECT_EQ(r.arrival, Time::Zero());
  EXPECT_FALSE(ComputeWorkloadStats(w).duration_s.has_value());
}

TEST(SyntheticWorkloadTest, SinusoidalRateFollowsTheShape) {
  // Rate swings 1 -> 9 -> 1 req/s over 600 s; count arrivals in the trough and peak minutes.
  Workload w = MustGenerate(R"({"duration_s": 1200, "seed": 5, "arrival": {"process": "poisson",
      "shape": {"kind": "sinusoid", "period_s": 600, "min_rps": 1, "max_rps": 9}},
      "isl": 100, "osl": 10})");
  int trough = 0, peak = 0;
  for (const Request& r : w.requests) {
    const double t = std::fmod(r.arrival.seconds(), 600.0);
    if (t < 30 || t >= 570) trough++;
    if (t >= 270 && t < 330) peak++;
  }
  // Expected over two periods: trough window ~2 x 64 arrivals, peak window ~2 x 536.
  EXPECT_NEAR(trough, 128, 40);
  EXPECT_NEAR(peak, 1072, 110);
  EXPECT_NEAR(static_cast<double>(w.requests.size()), 6000, 250);  // mean 5 req/s x 1200 s
  for (const Request& r : w.requests) EXPECT_LT(r.arrival.seconds(), 1200);
}

TEST(SyntheticWorkloadTest, StepShapeChangesTheRate) {
  Workload w = MustGenerate(R"({"duration_s": 200, "seed": 6, "arrival": {"process": "constant",
      "shape": {"kind": "steps", "steps": [[0, 1], [100, 4]]}}, "isl": 10, "osl": 1})");
  int first = 0, second = 0;
  for (const Request& r : w.requests) (r.arrival.seconds() < 100 ? first : second)++;
  EXPECT_EQ(first, 99);    // at 1, 2, ..., 99 s (the 100th lands exactly on the step)
  EXPECT_EQ(second, 400);  // 100 s, then every 0.25 s up to 199.75 s
}

TEST(SyntheticWorkloadTest, SharedSystemPromptsGiveTheExpectedReuse) {
  // One group: every prompt is 512 shared + 512 own tokens = 64 blocks of 16, the first 32 shared.
  Workload w = MustGenerate(R"({"requests": 100, "arrival": {"process": "poisson", "rate_rps": 1},
      "isl": 1024, "osl": 8, "prefix": {"groups": 1, "shared_tokens": 512}})");
  const double expected = 32.0 * 99 / (64.0 * 100);
  EXPECT_DOUBLE_EQ(*ComputeWorkloadStats(w).prefix_reuse_ratio, expected);
  for (const Request& r : w.requests) {
    ASSERT_EQ(r.isl, 1024);
    ASSERT_EQ(r.block_hashes.size(), 64u);
    EXPECT_EQ(r.block_hashes[31], w.requests[0].block_hashes[31]);
    if (r.id.value() != 0) {  // each request's own half differs from the first request's
      EXPECT_NE(r.block_hashes[32], w.requests[0].block_hashes[32]);
    }
  }
}

TEST(SyntheticWorkloadTest, MultiTurnSessionsResendTheirHistory) {
  // 3 turns, 64-token messages, 32-token answers, blocks of 16, no think time:
  // turn 0: 4 blocks, none cached; turn 1: 10 blocks, 4 cached; turn 2: 16 blocks, 10 cached.
  Workload w = MustGenerate(R"({"requests": 30, "arrival": {"process": "poisson", "rate_rps": 1},
      "isl": 64, "osl": 32, "sessions": {"turns": 3}})");
  ASSERT_EQ(w.requests.size(), 30u);
  EXPECT_DOUBLE_EQ(*ComputeWorkloadStats(w).prefix_reuse_ratio, 14.0 / 30.0);
  EXPECT_EQ(ComputeWorkloadStats(w).sessions, 10);
  for (const Request& r : w.requests) EXPECT_EQ(r.isl, 64 + r.turn * 96);
}

TEST(SyntheticWorkloadTest, LaterTurnsArriveAfterThinkTime) {
  Workload w = MustGenerate(R"({"requests": 40, "arrival": {"process": "poisson", "rate_rps": 0.1},
      "isl": 10, "osl": 5, "sessions": {"turns": 2, "think_time_s": 7}})");
  std::map<uint64_t, std::vector<const Request*>> by_session;
  for (const Request& r : w.requests) by_session[r.session.value()].push_back(&r);
  int pairs = 0;
  for (const auto& [s, reqs] : by_session) {
    if (reqs.size() != 2) continue;
    EXPECT_EQ(reqs[1]->arrival - reqs[0]->arrival, Duration::Seconds(7));
    pairs++;
  }
  EXPECT_GT(pairs, 15);
  for (size_t i = 1; i < w.requests.size(); ++i) {
    EXPECT_LE(w.requests[i - 1].arrival, w.requests[i].arrival);
  }
}

TEST(SyntheticWorkloadTest, TokenIdsAgreeWithBlockHashes) {
  Workload w = MustGenerate(R"({"requests": 50, "arrival": {"process": "poisson", "rate_rps": 1},
      "isl": {"dist": "uniform", "min": 40, "max": 90}, "osl": 4, "token_ids": true,
      "prefix": {"groups": 2, "shared_tokens": 32}, "vocab_size": 1000})");
  for (const Request& a : w.requests) {
    ASSERT_EQ(a.token_ids.size(), static_cast<size_t>(a.isl));
    for (int32_t t : a.token_ids) ASSERT_TRUE(t >= 0 && t < 1000);
    for (const Request& b : w.requests) {
      // Block i covers tokens [16 i, min(16 (i + 1), isl)): equal hashes exactly when the
      // blocks end at the same token and all tokens up to there are equal.
      for (size_t i = 0; i < std::min(a.block_hashes.size(), b.block_hashes.size()); ++i) {
        const size_t a_end = std::min<size_t>((i + 1) * 16, a.isl);
        const size_t b_end = std::min<size_t>((i + 1) * 16, b.isl);
        const bool same_tokens =
            a_end == b_end &&
            std::equal(a.token_ids.begin(), a.token_ids.begin() + a_end, b.token_ids.begin());
        ASSERT_EQ(a.block_hashes[i] == b.block_hashes[i], same_tokens)
            << a.id.value() << " " << b.id.value() << " block " << i;
      }
    }
  }
}

TEST(SyntheticWorkloadTest, EmpiricalLengthsComeFromTheCsvColumn) {
  const std::string dir = testing::TempDir();
  std::ofstream(dir + "/lengths.csv") << "a,tokens\n1,100\n2,300\n";
  Workload w = MustGenerate(R"({"requests": 200, "arrival": {"process": "poisson", "rate_rps": 1},
      "isl": {"dist": "empirical", "file": "lengths.csv", "column": "tokens"}, "osl": 5})",
                            dir);
  std::set<int> seen;
  for (const Request& r : w.requests) seen.insert(r.isl);
  EXPECT_EQ(seen, (std::set<int>{100, 300}));
  auto bad = Generate(R"({"requests": 2, "arrival": {"process": "poisson", "rate_rps": 1},
      "isl": {"dist": "empirical", "file": "lengths.csv", "column": "nope"}, "osl": 5})",
                      dir);
  EXPECT_EQ(bad.status().message(), "workload.json: $.isl: " + dir +
                                        "/lengths.csv:1: no column 'nope'; columns: a, tokens");
}

TEST(SyntheticWorkloadTest, BadSpecsNameTheField) {
  struct Case {
    const char* json;
    const char* message;
  };
  const Case cases[] = {
      {R"({"requests": 10, "arrival": {"process": "poisson", "rate_rps": -1}, "isl": 1, "osl": 1})",
       "workload.json: $.arrival.rate_rps: -1 is out of range; must be > 0"},
      {R"({"requests": 10, "arrival": {"process": "possion", "rate_rps": 1}, "isl": 1, "osl": 1})",
       "workload.json: $.arrival.process: \"possion\" is not one of: poisson, gamma, constant, "
       "concurrency"},
      {R"({"arrival": {"process": "poisson", "rate_rps": 1}, "isl": 1, "osl": 1})",
       "workload.json: $: give exactly one of 'requests' (a count) or 'duration_s'"},
      {R"({"requests": 5, "arrival": {"process": "poisson", "rate_rps": 1}, "isl": {"dist":
       "fixed", "value": 0}, "osl": 1})",
       "workload.json: $.isl.value: 0 is out of range; must be in [1, 10000000]"},
      {R"({"requests": 5, "arrival": {"process": "poisson", "rate_rps": 1}, "isl": 1, "osl": 1,
       "prefx": {}})",
       "workload.json: $: unknown field 'prefx'; allowed fields: name, description, requests, "
       "duration_s, seed, arrival, isl, osl, prefix, sessions, block_tokens, token_ids, "
       "vocab_size"},
      {R"({"requests": 5, "arrival": {"process": "poisson", "rate_rps": 1, "shape": {"kind":
       "sinusoid", "period_s": 10, "min_rps": 1, "max_rps": 2}}, "isl": 1, "osl": 1})",
       "workload.json: $.arrival: give either 'rate_rps' or 'shape' (a time-varying rate), not "
       "both"},
      {R"({"requests": 50, "arrival": {"process": "poisson", "shape": {"kind": "steps", "steps":
       [[0, 1], [5, 0]]}}, "isl": 1, "osl": 1})",
       ""},  // checked below: the rate drops to zero
  };
  for (const Case& c : cases) {
    auto w = Generate(c.json);
    ASSERT_FALSE(w.ok()) << c.json;
    if (*c.message) {
      EXPECT_EQ(w.status().message(), c.message);
    }
  }
  auto zero = Generate(cases[6].json);
  EXPECT_NE(zero.status().message().find("the rate drops to zero for good after"),
            std::string::npos)
      << zero.status().message();
}

TEST(SyntheticWorkloadTest, BundledDefaultLoads) {
  auto w = LoadWorkload("default");
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->requests.size(), 2000u);
  auto reseeded = LoadWorkload("default", {.seed = 8});
  ASSERT_TRUE(reseeded.ok());
  EXPECT_EQ(reseeded->seed, 8u);
  EXPECT_NE(reseeded->requests[5].isl, w->requests[5].isl);
}

}  // namespace
}  // namespace dynamo
