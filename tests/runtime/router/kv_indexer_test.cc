#include "runtime/router/kv_indexer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <set>
#include <utility>
#include <vector>

#include "core/rng.h"

namespace dynamo::router {
namespace {

using Matches = std::vector<std::pair<WorkerId, int32_t>>;

WorkerId W(uint32_t v) { return WorkerId(v); }

// Chained-looking hashes of a family: equal family and index = equal hash.
std::vector<uint64_t> Chain(uint64_t family, int n) {
  std::vector<uint64_t> h;
  uint64_t prev = Mix64(family);
  for (int i = 0; i < n; ++i) {
    prev = Mix64(prev + 1);
    h.push_back(prev);
  }
  return h;
}

Matches Find(const KvIndexer& ix, std::span<const uint64_t> hashes) {
  Matches out = {{W(999), 999}};  // cleared first
  ix.FindMatches(hashes, out);
  return out;
}

void ExpectInvariants(const KvIndexer& ix) {
  const Status s = ix.CheckInvariants();
  EXPECT_TRUE(s.ok()) << s.ToString();
}

TEST(KvIndexerTest, EmptyIndex) {
  KvIndexer ix;
  const auto h = Chain(1, 4);
  EXPECT_TRUE(Find(ix, h).empty());
  EXPECT_TRUE(Find(ix, {}).empty());
  EXPECT_EQ(ix.num_nodes(), 0);
  EXPECT_EQ(ix.tree_size(W(3)), 0);
  EXPECT_EQ(ix.events_applied(), 0);
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, StoreAndMatchLeadingBlocks) {
  KvIndexer ix;
  const auto h = Chain(1, 6);
  ix.Stored(W(7), std::span(h).first(4));
  ix.Stored(W(2), std::span(h).first(2));
  EXPECT_EQ(ix.num_nodes(), 4);
  EXPECT_EQ(ix.tree_size(W(7)), 4);
  EXPECT_EQ(ix.tree_size(W(2)), 2);
  EXPECT_EQ(ix.events_applied(), 6);
  EXPECT_EQ(Find(ix, h), (Matches{{W(2), 2}, {W(7), 4}}));  // sorted by worker id
  EXPECT_EQ(Find(ix, std::span(h).first(3)), (Matches{{W(2), 2}, {W(7), 3}}));
  // Only workers holding hashes[0] are reported.
  EXPECT_EQ(Find(ix, std::span(h).subspan(1)), (Matches{{W(2), 1}, {W(7), 3}}));
  EXPECT_EQ(Find(ix, std::span(h).subspan(2)), (Matches{{W(7), 2}}));
  EXPECT_TRUE(Find(ix, Chain(2, 3)).empty());
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, OrderOfStoredHashesIsIrrelevant) {
  KvIndexer ix;
  auto h = Chain(1, 5);
  std::vector<uint64_t> reversed(h.rbegin(), h.rend());
  ix.Stored(W(1), reversed);
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 5}}));
}

TEST(KvIndexerTest, StoredIsIdempotent) {
  KvIndexer ix;
  const auto h = Chain(1, 3);
  ix.Stored(W(1), h);
  ix.Stored(W(1), h);
  ix.Stored(W(1), std::vector<uint64_t>{h[1], h[1]});
  EXPECT_EQ(ix.tree_size(W(1)), 3);
  EXPECT_EQ(ix.num_nodes(), 3);
  EXPECT_EQ(ix.events_applied(), 8);  // every hash passed counts
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 3}}));
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, RemovedMiddleBlockStopsTheMatch) {
  KvIndexer ix;
  const auto h = Chain(1, 6);
  ix.Stored(W(1), h);
  ix.Stored(W(2), h);
  ix.Removed(W(1), std::vector<uint64_t>{h[2]});
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 2}, {W(2), 6}}));
  EXPECT_EQ(ix.tree_size(W(1)), 5);
  EXPECT_EQ(ix.num_nodes(), 6);  // w2 still holds h[2]
  ix.Removed(W(2), std::vector<uint64_t>{h[2]});
  EXPECT_EQ(ix.num_nodes(), 5);
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 2}, {W(2), 2}}));
  // The first block gone: the worker is not reported at all.
  ix.Removed(W(2), std::vector<uint64_t>{h[0]});
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 2}}));
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, UnknownRemovalsAreIgnored) {
  KvIndexer ix;
  const auto h = Chain(1, 3);
  ix.Removed(W(5), h);  // unknown worker
  ix.Stored(W(1), std::span(h).first(2));
  ix.Removed(W(1), std::vector<uint64_t>{h[2], 12345});  // blocks it does not hold
  ix.Removed(W(5), h);
  EXPECT_EQ(ix.tree_size(W(1)), 2);
  EXPECT_EQ(ix.tree_size(W(5)), 0);
  EXPECT_EQ(ix.num_nodes(), 2);
  ix.Removed(W(1), h);
  ix.Removed(W(1), h);  // twice
  EXPECT_EQ(ix.num_nodes(), 0);
  EXPECT_EQ(ix.tree_size(W(1)), 0);
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, RemoveWorkerDropsAllItsBlocks) {
  KvIndexer ix;
  const auto a = Chain(1, 10);
  const auto b = Chain(2, 10);
  ix.Stored(W(1), a);
  ix.Stored(W(1), b);
  ix.Stored(W(2), std::span(a).first(5));
  ix.RemoveWorker(W(1));
  EXPECT_EQ(ix.tree_size(W(1)), 0);
  EXPECT_EQ(ix.num_nodes(), 5);
  EXPECT_EQ(Find(ix, a), (Matches{{W(2), 5}}));
  EXPECT_TRUE(Find(ix, b).empty());
  ix.RemoveWorker(W(1));   // now unknown: no-op
  ix.RemoveWorker(W(77));  // never known: no-op
  ExpectInvariants(ix);
  // The worker can come back (same or a new id) and starts empty.
  ix.Stored(W(1), std::span(b).first(1));
  EXPECT_EQ(Find(ix, b), (Matches{{W(1), 1}}));
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, HashZeroIsAValidHash) {
  KvIndexer ix;
  const std::vector<uint64_t> h = {0, 1, 2};
  ix.Stored(W(1), h);
  EXPECT_EQ(Find(ix, h), (Matches{{W(1), 3}}));
  ix.Removed(W(1), std::vector<uint64_t>{0});
  EXPECT_TRUE(Find(ix, h).empty());
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, ManyHoldersUseBitsetsAndShrinkBack) {
  // 200 workers share a prefix of varying length (worker k holds k % 50 + 1 blocks), which
  // exercises the bitset path, the switch back to inline holders during a match, and demotion.
  KvIndexer ix;
  const auto h = Chain(1, 60);
  for (uint32_t k = 0; k < 200; ++k) {
    ix.Stored(W(1000 + 13 * k), std::span(h).first(k % 50 + 1));
  }
  Matches expect;
  for (uint32_t k = 0; k < 200; ++k) expect.emplace_back(W(1000 + 13 * k), k % 50 + 1);
  EXPECT_EQ(Find(ix, h), expect);
  ExpectInvariants(ix);
  // Remove all but three holders of block 0; matches follow.
  for (uint32_t k = 3; k < 200; ++k) ix.RemoveWorker(W(1000 + 13 * k));
  EXPECT_EQ(Find(ix, h), (Matches{{W(1000), 1}, {W(1013), 2}, {W(1026), 3}}));
  EXPECT_EQ(ix.num_nodes(), 3);
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, SparseLargeWorkerIdsAndSlotReuse) {
  KvIndexer ix;
  const auto h = Chain(1, 4);
  const std::vector<uint32_t> ids = {0xFFFFFFFFu, 0, 1u << 31, 123456789};
  for (const uint32_t id : ids) ix.Stored(W(id), h);
  EXPECT_EQ(Find(ix, h),
            (Matches{{W(0), 4}, {W(123456789), 4}, {W(1u << 31), 4}, {W(0xFFFFFFFFu), 4}}));
  // Churn: workers leave and new ones (increasing ids) arrive, reusing slots.
  for (uint32_t round = 0; round < 100; ++round) {
    ix.RemoveWorker(W(round == 0 ? 0 : 5000 + round - 1));
    ix.Stored(W(5000 + round), std::span(h).first(round % 4 + 1));
  }
  EXPECT_EQ(ix.tree_size(W(5099)), 4);
  EXPECT_EQ(Find(ix, h),
            (Matches{{W(5099), 4}, {W(123456789), 4}, {W(1u << 31), 4}, {W(0xFFFFFFFFu), 4}}));
  ExpectInvariants(ix);
}

TEST(KvIndexerTest, ThousandsOfWorkersAndGrowth) {
  KvIndexer ix;
  const auto shared = Chain(1, 8);
  for (uint32_t k = 0; k < 2000; ++k) {
    ix.Stored(W(k * 7), shared);
    ix.Stored(W(k * 7), Chain(100 + k, 20));  // private chains grow the table
  }
  EXPECT_EQ(ix.num_nodes(), 8 + 2000 * 20);
  Matches out;
  ix.FindMatches(shared, out);
  ASSERT_EQ(out.size(), 2000u);
  for (uint32_t k = 0; k < 2000; ++k) {
    EXPECT_EQ(out[k], std::make_pair(W(k * 7), 8));
  }
  ExpectInvariants(ix);
}

// ---------------------------------------------------------------------------------------------
// Property test: random operation sequences against a brute-force model.

struct Reference {
  std::map<uint32_t, std::set<uint64_t>> blocks;  // known worker -> hashes held
  std::map<uint64_t, int> holders;                // hash -> workers holding it (> 0)
  int max_holders = 0;

  void Store(uint32_t w, std::span<const uint64_t> hashes) {
    auto& held = blocks[w];
    for (const uint64_t h : hashes) {
      if (held.insert(h).second) max_holders = std::max(max_holders, ++holders[h]);
    }
  }
  void Remove(uint32_t w, std::span<const uint64_t> hashes) {
    const auto it = blocks.find(w);
    if (it == blocks.end()) return;
    for (const uint64_t h : hashes) {
      if (it->second.erase(h) > 0 && --holders[h] == 0) holders.erase(h);
    }
  }
  void RemoveWorker(uint32_t w) {
    const auto it = blocks.find(w);
    if (it == blocks.end()) return;
    const std::vector<uint64_t> held(it->second.begin(), it->second.end());
    Remove(w, held);
    blocks.erase(w);
  }
  Matches Find(std::span<const uint64_t> hashes) const {
    Matches out;
    if (hashes.empty()) return out;
    for (const auto& [w, held] : blocks) {
      int32_t matched = 0;
      while (matched < static_cast<int32_t>(hashes.size()) &&
             held.count(hashes[static_cast<size_t>(matched)]) > 0) {
        ++matched;
      }
      if (matched > 0) out.emplace_back(WorkerId(w), matched);
    }
    return out;
  }
};

void RunProperty(uint64_t seed, int num_ops, int num_workers) {
  SCOPED_TRACE(testing::Message() << "seed " << seed << " workers " << num_workers);
  RngStream rng(seed, "kv_indexer_property");
  // A pool of worker ids: small dense ones and large sparse ones.
  std::vector<uint32_t> pool;
  for (int k = 0; k < num_workers; ++k) {
    pool.push_back(rng.Below(2) == 0 ? static_cast<uint32_t>(k)
                                     : static_cast<uint32_t>(rng.NextU64() >> 32));
  }
  // Chains share prefixes: a chain is a few family prefixes extended with its own blocks.
  constexpr int kFamilies = 6;
  std::vector<std::vector<uint64_t>> families;
  for (int f = 0; f < kFamilies; ++f) families.push_back(Chain(seed * 100 + f, 40));
  auto random_chain = [&]() {
    const auto& fam = families[rng.Below(kFamilies)];
    const auto len = static_cast<size_t>(rng.UniformInt(1, 40));
    std::vector<uint64_t> c(fam.begin(), fam.begin() + static_cast<std::ptrdiff_t>(len));
    if (rng.Below(3) == 0) {  // a private tail
      const auto tail = Chain(rng.NextU64(), static_cast<int>(rng.UniformInt(1, 10)));
      c.insert(c.end(), tail.begin(), tail.end());
    }
    return c;
  };

  KvIndexer ix;
  Reference ref;
  int nonempty_matches = 0;
  for (int op = 0; op < num_ops; ++op) {
    SCOPED_TRACE(testing::Message() << "op " << op);
    const WorkerId w(pool[rng.Below(pool.size())]);
    const uint64_t kind = rng.Below(100);
    auto chain = random_chain();
    if (kind < 45) {
      // Store a chain, or a random subset of it (out of order).
      if (rng.Below(4) == 0) {
        std::vector<uint64_t> subset;
        for (const uint64_t h : chain) {
          if (rng.Below(2) == 0) subset.push_back(h);
        }
        chain = subset;
      }
      ix.Stored(w, chain);
      ref.Store(w.value(), chain);
    } else if (kind < 80) {
      // Remove a suffix or random blocks of a chain (mostly blocks it may hold).
      std::vector<uint64_t> gone;
      const size_t from = rng.Below(chain.size());
      for (size_t i = from; i < chain.size(); ++i) {
        if (rng.Below(3) != 0) gone.push_back(chain[i]);
      }
      ix.Removed(w, gone);
      ref.Remove(w.value(), gone);
    } else if (kind < 83) {
      ix.RemoveWorker(w);
      ref.RemoveWorker(w.value());
    } else {
      // Query only.
    }
    // Compare after every op.
    const auto query = random_chain();
    Matches got;
    ix.FindMatches(query, got);
    ASSERT_EQ(got, ref.Find(query));
    nonempty_matches += got.empty() ? 0 : 1;
    ASSERT_EQ(ix.num_nodes(), static_cast<int64_t>(ref.holders.size()));
    for (const uint32_t id : pool) {
      const auto it = ref.blocks.find(id);
      const int64_t expect = it == ref.blocks.end() ? 0 : static_cast<int64_t>(it->second.size());
      ASSERT_EQ(ix.tree_size(WorkerId(id)), expect) << "worker " << id;
    }
    if (op % 200 == 0 || op + 1 == num_ops) {
      const Status s = ix.CheckInvariants();
      ASSERT_TRUE(s.ok()) << s.ToString();
    }
  }
  // The sequence exercised what it should: matches found, and (with many workers) nodes with
  // more holders than fit inline (5), so the bitset path ran.
  EXPECT_GT(nonempty_matches, num_ops / 4);
  if (num_workers >= 20) {
    EXPECT_GT(ref.max_holders, 5);
  }
}

TEST(KvIndexerPropertyTest, FewWorkers) {
  for (uint64_t seed = 1; seed <= 6; ++seed) RunProperty(seed, 3000, static_cast<int>(seed));
}

TEST(KvIndexerPropertyTest, ManyWorkers) {
  // 100 workers: family prefixes gain more than kInline holders (the bitset path).
  for (uint64_t seed = 11; seed <= 13; ++seed) RunProperty(seed, 4000, 100);
  RunProperty(14, 4000, 64);
  RunProperty(15, 4000, 65);
}

}  // namespace
}  // namespace dynamo::router
