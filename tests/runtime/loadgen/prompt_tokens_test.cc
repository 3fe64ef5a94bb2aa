#include "runtime/loadgen/prompt_tokens.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <vector>

#include "core/rng.h"
#include "core/workload/synthetic_workload.h"

namespace dynamo::loadgen {
namespace {

Request MakeRequest(uint64_t id, int32_t isl, std::vector<uint64_t> hashes) {
  Request r;
  r.id = RequestId(id);
  r.isl = isl;
  r.block_hashes = std::move(hashes);
  return r;
}

bool InRange(const std::vector<uint32_t>& tokens) {
  return std::all_of(tokens.begin(), tokens.end(),
                     [](uint32_t t) { return t >= kFirstPromptTokenId && t < kPromptVocabSize; });
}

TEST(PromptTokensTest, FollowsTheDocumentedFormula) {
  const Request r = MakeRequest(5, 20, {111, 222});  // 16 + 4 tokens
  const auto t = PromptTokens(r, 16, 9);
  ASSERT_EQ(t.size(), 20u);
  EXPECT_EQ(t[0], 256 + Mix64(111) % 31744);
  EXPECT_EQ(t[3], 256 + Mix64(111 ^ (3 * 0x9E3779B97F4A7C15ULL)) % 31744);
  EXPECT_EQ(t[17], 256 + Mix64(222 ^ (1 * 0x9E3779B97F4A7C15ULL)) % 31744);
  const Request bare = MakeRequest(5, 3, {});
  EXPECT_EQ(PromptTokens(bare, 16, 9)[2], 256 + Mix64(9 ^ Mix64(6) ^ 2) % 31744);
}

TEST(PromptTokensTest, ExactLengthInRangeAndDeterministic) {
  for (const int32_t isl : {0, 1, 15, 16, 17, 100}) {
    const Request r = MakeRequest(3, isl, {1, 2, 3, 4, 5, 6, 7});
    const auto a = PromptTokens(r, 16, 1);
    EXPECT_EQ(a.size(), static_cast<size_t>(isl));
    EXPECT_TRUE(InRange(a));
    EXPECT_EQ(a, PromptTokens(r, 16, 1));
  }
}

TEST(PromptTokensTest, EqualLeadingHashesGiveEqualLeadingTokens) {
  const Request a = MakeRequest(1, 60, {10, 20, 30, 40});
  const Request b = MakeRequest(2, 50, {10, 20, 31, 41});
  const auto ta = PromptTokens(a, 16, 1), tb = PromptTokens(b, 16, 1);
  EXPECT_TRUE(std::equal(ta.begin(), ta.begin() + 32, tb.begin()));
  EXPECT_FALSE(std::equal(ta.begin() + 32, ta.begin() + 48, tb.begin() + 32));
}

TEST(PromptTokensTest, TokensWithoutHashesAreUniquePerRequestAndSeed) {
  const auto a = PromptTokens(MakeRequest(1, 64, {}), 16, 1);
  const auto b = PromptTokens(MakeRequest(2, 64, {}), 16, 1);
  const auto c = PromptTokens(MakeRequest(1, 64, {}), 16, 2);
  EXPECT_NE(a, b);
  EXPECT_NE(a, c);
  EXPECT_TRUE(InRange(a));
  // Past the last hash the tokens are the request's own, even with equal hashes.
  const auto d = PromptTokens(MakeRequest(1, 40, {7, 8}), 16, 1);
  const auto e = PromptTokens(MakeRequest(2, 40, {7, 8}), 16, 1);
  EXPECT_TRUE(std::equal(d.begin(), d.begin() + 32, e.begin()));
  EXPECT_FALSE(std::equal(d.begin() + 32, d.end(), e.begin() + 32));
  // No block size: hashes cannot be placed, every token is the request's own.
  EXPECT_NE(PromptTokens(MakeRequest(1, 8, {7}), 0, 1), PromptTokens(MakeRequest(2, 8, {7}), 0, 1));
}

TEST(PromptTokensTest, UsesTokenIdsClampedIntoRange) {
  Request r = MakeRequest(1, 5, {99});
  r.token_ids = {0, 300, 31999, 40000};  // one short of isl
  const auto t = PromptTokens(r, 16, 1);
  ASSERT_EQ(t.size(), 5u);
  EXPECT_EQ(t[0], 256u);
  EXPECT_EQ(t[1], 300u);
  EXPECT_EQ(t[2], 31999u);
  EXPECT_EQ(t[3], 31999u);
  EXPECT_EQ(t[4], 256 + Mix64(99 ^ (4 * 0x9E3779B97F4A7C15ULL)) % 31744);
}

// On a synthetic workload with shared system prompts and multi-turn sessions: two prompts agree
// exactly through the blocks whose hashes agree, and differ in the first block that does not.
TEST(PromptTokensTest, SharedPrefixesOfASyntheticWorkload) {
  SyntheticSpec spec;
  spec.requests = 40;
  spec.seed = 3;
  spec.isl = DistributionSpec::Fixed(40);
  spec.osl = DistributionSpec::Fixed(8);
  spec.prefix_groups = 3;
  spec.shared_tokens = 48;
  spec.turns = DistributionSpec::Fixed(2);
  spec.block_tokens = 16;
  auto w = GenerateWorkload(spec, "test");
  ASSERT_TRUE(w.ok()) << w.status().ToString();
  int shared_pairs = 0;
  const auto& reqs = w->requests;
  for (size_t i = 0; i < reqs.size(); ++i) {
    const auto ti = PromptTokens(reqs[i], w->block_tokens, 1);
    ASSERT_EQ(ti.size(), static_cast<size_t>(reqs[i].isl));
    for (size_t j = i + 1; j < reqs.size(); ++j) {
      const auto tj = PromptTokens(reqs[j], w->block_tokens, 1);
      size_t equal_blocks = 0;
      const auto& hi = reqs[i].block_hashes;
      const auto& hj = reqs[j].block_hashes;
      while (equal_blocks < std::min(hi.size(), hj.size()) &&
             hi[equal_blocks] == hj[equal_blocks]) {
        ++equal_blocks;
      }
      const size_t shared = std::min({equal_blocks * 16, ti.size(), tj.size()});
      if (shared > 0) ++shared_pairs;
      ASSERT_TRUE(std::equal(ti.begin(), ti.begin() + shared, tj.begin())) << i << " " << j;
      const size_t next_end = std::min({shared + 16, ti.size(), tj.size()});
      if (next_end > shared) {
        EXPECT_FALSE(std::equal(ti.begin() + shared, ti.begin() + next_end, tj.begin() + shared))
            << i << " " << j;
      }
    }
  }
  EXPECT_GT(shared_pairs, 0);
}

TEST(PromptTokensTest, PromptTextRendersWords) {
  const std::vector<uint32_t> t = {300, 4021};
  EXPECT_EQ(PromptText(t), " w300 w4021");
  EXPECT_EQ(PromptText({}), "");
}

}  // namespace
}  // namespace dynamo::loadgen
