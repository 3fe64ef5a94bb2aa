#include "runtime/worker/kv_block_manager.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include "core/rng.h"

namespace dynamo::worker {
namespace {

KvBlockManager::Config Cfg(int64_t num_blocks, int32_t block_size, bool caching = true,
                           bool events = false) {
  KvBlockManager::Config c;
  c.num_blocks = num_blocks;
  c.block_size = block_size;
  c.prefix_caching = caching;
  c.emit_events = events;
  return c;
}

void ExpectInvariants(const KvBlockManager& m, std::vector<const BlockTable*> tables) {
  const Status s = m.CheckInvariants(tables);
  EXPECT_TRUE(s.ok()) << s.ToString();
}

std::vector<uint64_t> Hashes(std::string_view family, int n) {
  std::vector<uint64_t> h;
  uint64_t prev = HashName(family);
  for (int i = 0; i < n; ++i) {
    prev = Mix64(prev + static_cast<uint64_t>(i) + 1);
    h.push_back(prev);
  }
  return h;
}

TEST(KvBlockManager, FreshManagerIsAllFree) {
  KvBlockManager m(Cfg(8, 16));
  EXPECT_EQ(m.num_blocks(), 8);
  EXPECT_EQ(m.num_free_blocks(), 8);
  EXPECT_EQ(m.num_used_blocks(), 0);
  EXPECT_EQ(m.num_cached_blocks(), 0);
  EXPECT_EQ(m.BlocksFor(0), 0);
  EXPECT_EQ(m.BlocksFor(1), 1);
  EXPECT_EQ(m.BlocksFor(16), 1);
  EXPECT_EQ(m.BlocksFor(17), 2);
  ExpectInvariants(m, {});
}

TEST(KvBlockManager, PrefixMatchAfterCommit) {
  KvBlockManager m(Cfg(8, 4));
  const auto h = Hashes("a", 3);
  BlockTable t;
  ASSERT_TRUE(m.Allocate(t, h, 0, 14));  // 4 blocks, 3 full prompt blocks hashed
  EXPECT_EQ(t.blocks.size(), 4u);
  EXPECT_EQ(m.MatchPrefix(h), 0);  // nothing computed yet
  m.Commit(t, h, 9);               // 2 full blocks computed
  EXPECT_EQ(m.MatchPrefix(h), 2);
  EXPECT_EQ(t.num_cached, 2);
  m.Commit(t, h, 14);
  EXPECT_EQ(m.MatchPrefix(h), 3);
  EXPECT_EQ(m.num_cached_blocks(), 3);
  // A different first block matches nothing, even with the same later hashes.
  std::vector<uint64_t> other = h;
  other[0] = 12345;
  EXPECT_EQ(m.MatchPrefix(other), 0);
  // A shorter query matches its own length.
  EXPECT_EQ(m.MatchPrefix(std::span(h).first(1)), 1);
  ExpectInvariants(m, {&t});
}

TEST(KvBlockManager, SharedPrefixIsReferenceCounted) {
  KvBlockManager m(Cfg(8, 4));
  const auto h = Hashes("a", 2);
  BlockTable a, b;
  ASSERT_TRUE(m.Allocate(a, h, 0, 10));  // 3 blocks
  m.Commit(a, h, 10);
  const int64_t matched = m.MatchPrefix(h);
  ASSERT_EQ(matched, 2);
  ASSERT_TRUE(m.Allocate(b, h, matched, 12));  // 2 shared + 1 new
  EXPECT_EQ(b.num_cached, 2);
  EXPECT_EQ(b.blocks[0], a.blocks[0]);
  EXPECT_EQ(b.blocks[1], a.blocks[1]);
  EXPECT_NE(b.blocks[2], a.blocks[2]);
  EXPECT_EQ(m.num_used_blocks(), 4);
  ExpectInvariants(m, {&a, &b});

  m.Free(a);
  EXPECT_TRUE(a.blocks.empty());
  EXPECT_EQ(a.num_cached, 0);
  EXPECT_EQ(m.num_used_blocks(), 3);  // the shared prefix is still held by b
  ExpectInvariants(m, {&a, &b});
  m.Free(b);
  EXPECT_EQ(m.num_used_blocks(), 0);
  EXPECT_EQ(m.num_cached_blocks(), 2);  // free but still cached
  EXPECT_EQ(m.MatchPrefix(h), 2);

  // A hit on free cached blocks takes them back off the free list.
  BlockTable c;
  ASSERT_TRUE(m.Allocate(c, h, 2, 8));
  EXPECT_EQ(m.num_free_blocks(), 6);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  ExpectInvariants(m, {&c});
}

TEST(KvBlockManager, FreeIsTailFirstSoDeepBlocksAreEvictedFirst) {
  KvBlockManager m(Cfg(3, 2, true, true));
  const auto h = Hashes("a", 3);
  BlockTable a;
  ASSERT_TRUE(m.Allocate(a, h, 0, 6));
  m.Commit(a, h, 6);
  const std::vector<uint32_t> a_blocks = a.blocks;
  m.Free(a);
  m.events().Clear();

  // Each new block evicts the least recently freed: a's last block, then its middle one.
  BlockTable x;
  ASSERT_TRUE(m.Allocate(x, {}, 0, 1));
  EXPECT_EQ(x.blocks[0], a_blocks[2]);
  EXPECT_EQ(m.MatchPrefix(h), 2);
  ASSERT_TRUE(m.Allocate(x, {}, 0, 3));
  EXPECT_EQ(x.blocks[1], a_blocks[1]);
  EXPECT_EQ(m.MatchPrefix(h), 1);
  ASSERT_EQ(m.events().events.size(), 2u);
  EXPECT_EQ(m.events().events[0].kind, KvEvent::Kind::kRemoved);
  EXPECT_EQ(m.events().HashesOf(m.events().events[0])[0], h[2]);
  EXPECT_EQ(m.events().HashesOf(m.events().events[1])[0], h[1]);
  ExpectInvariants(m, {&x});
}

TEST(KvBlockManager, LruOrderAcrossSequences) {
  KvBlockManager m(Cfg(4, 1));
  const auto ha = Hashes("a", 2);
  const auto hb = Hashes("b", 2);
  BlockTable a, b;
  ASSERT_TRUE(m.Allocate(a, ha, 0, 2));
  ASSERT_TRUE(m.Allocate(b, hb, 0, 2));
  m.Commit(a, ha, 2);
  m.Commit(b, hb, 2);
  const std::vector<uint32_t> a_blocks = a.blocks;
  const std::vector<uint32_t> b_blocks = b.blocks;
  m.Free(a);  // free list: a1 a0
  m.Free(b);  // free list: a1 a0 b1 b0

  // A hit in the middle of the free list is unlinked in place; the others keep their order.
  BlockTable y;
  ASSERT_TRUE(m.Allocate(y, ha, 1, 1));
  EXPECT_EQ(y.blocks[0], a_blocks[0]);
  BlockTable x;
  ASSERT_TRUE(m.Allocate(x, {}, 0, 1));
  EXPECT_EQ(x.blocks[0], a_blocks[1]);
  EXPECT_EQ(m.MatchPrefix(ha), 1);  // ha[0] is still cached (in use by y)
  ASSERT_TRUE(m.Allocate(x, {}, 0, 2));
  EXPECT_EQ(x.blocks[1], b_blocks[1]);
  EXPECT_EQ(m.MatchPrefix(hb), 1);
  ASSERT_TRUE(m.Allocate(x, {}, 0, 3));
  EXPECT_EQ(x.blocks[2], b_blocks[0]);
  EXPECT_EQ(m.MatchPrefix(hb), 0);
  EXPECT_EQ(m.num_free_blocks(), 0);
  EXPECT_FALSE(m.Allocate(x, {}, 0, 4));
  ExpectInvariants(m, {&x, &y});
}

TEST(KvBlockManager, DuplicateHashLeavesBlockUncached) {
  KvBlockManager m(Cfg(8, 4, true, true));
  const auto h = Hashes("a", 2);
  BlockTable a, b;
  // Both allocated before either computed anything: neither could share.
  ASSERT_TRUE(m.Allocate(a, h, 0, 8));
  ASSERT_TRUE(m.Allocate(b, h, 0, 8));
  m.Commit(a, h, 8);
  m.Commit(b, h, 8);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  EXPECT_EQ(b.num_cached, 2);  // handled: never revisited
  ASSERT_EQ(m.events().events.size(), 1u);
  EXPECT_EQ(m.events().hashes.size(), 2u);
  ExpectInvariants(m, {&a, &b});
  const std::vector<uint32_t> a_blocks = a.blocks;
  m.Free(a);
  m.Free(b);
  EXPECT_EQ(m.num_cached_blocks(), 2);
  BlockTable c;
  ASSERT_TRUE(m.Allocate(c, h, m.MatchPrefix(h), 8));
  EXPECT_EQ(c.blocks, a_blocks);
  ExpectInvariants(m, {&c});
}

TEST(KvBlockManager, DuplicateInTheMiddleSplitsTheStoredEvent) {
  KvBlockManager m(Cfg(8, 1, true, true));
  const auto h = Hashes("a", 3);
  BlockTable a, b;
  ASSERT_TRUE(m.Allocate(a, h, 0, 3));
  ASSERT_TRUE(m.Allocate(b, std::span(h).subspan(1, 1), 0, 1));
  m.Commit(b, std::span(h).subspan(1, 1), 1);  // b caches h[1] first
  m.events().Clear();
  m.Commit(a, h, 3);
  const KvEventLog& log = m.events();
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0].parent_hash, 0u);
  EXPECT_EQ(
      std::vector<uint64_t>(log.HashesOf(log.events[0]).begin(), log.HashesOf(log.events[0]).end()),
      std::vector<uint64_t>{h[0]});
  EXPECT_EQ(log.events[1].parent_hash, h[1]);
  EXPECT_EQ(log.HashesOf(log.events[1]).size(), 1u);
  EXPECT_EQ(log.HashesOf(log.events[1])[0], h[2]);
  EXPECT_EQ(m.MatchPrefix(h), 3);
  ExpectInvariants(m, {&a, &b});
}

TEST(KvBlockManager, StoredEventsCarryParentHash) {
  KvBlockManager m(Cfg(16, 2, true, true));
  const auto h = Hashes("a", 5);
  BlockTable t;
  ASSERT_TRUE(m.Allocate(t, h, 0, 10));
  m.Commit(t, h, 6);   // blocks 0..2
  m.Commit(t, h, 6);   // nothing new: no event
  m.Commit(t, h, 10);  // blocks 3..4
  const KvEventLog& log = m.events();
  ASSERT_EQ(log.events.size(), 2u);
  EXPECT_EQ(log.events[0].kind, KvEvent::Kind::kStored);
  EXPECT_EQ(log.events[0].parent_hash, 0u);
  EXPECT_EQ(
      std::vector<uint64_t>(log.HashesOf(log.events[0]).begin(), log.HashesOf(log.events[0]).end()),
      (std::vector<uint64_t>{h[0], h[1], h[2]}));
  EXPECT_EQ(log.events[1].parent_hash, h[2]);
  EXPECT_EQ(
      std::vector<uint64_t>(log.HashesOf(log.events[1]).begin(), log.HashesOf(log.events[1]).end()),
      (std::vector<uint64_t>{h[3], h[4]}));

  // Freeing emits nothing; evicting emits one kRemoved event per allocation.
  m.Free(t);
  m.events().Clear();
  BlockTable big;
  ASSERT_TRUE(m.Allocate(big, {}, 0, 32));  // every block: evicts all 5 cached
  ASSERT_EQ(log.events.size(), 1u);
  EXPECT_EQ(log.events[0].kind, KvEvent::Kind::kRemoved);
  EXPECT_EQ(log.HashesOf(log.events[0]).size(), 5u);
  EXPECT_EQ(m.num_cached_blocks(), 0);
  ExpectInvariants(m, {&big});
}

TEST(KvBlockManager, NoEventsUnlessAsked) {
  KvBlockManager m(Cfg(4, 1));
  const auto h = Hashes("a", 2);
  BlockTable t;
  ASSERT_TRUE(m.Allocate(t, h, 0, 2));
  m.Commit(t, h, 2);
  m.Free(t);
  ASSERT_TRUE(m.Allocate(t, {}, 0, 4));
  EXPECT_TRUE(m.events().events.empty());
  EXPECT_TRUE(m.events().hashes.empty());
}

TEST(KvBlockManager, FailedAllocationChangesNothing) {
  KvBlockManager m(Cfg(4, 1, true, true));
  const auto h = Hashes("a", 2);
  BlockTable a, held;
  ASSERT_TRUE(m.Allocate(a, h, 0, 2));
  m.Commit(a, h, 2);
  m.Free(a);                                // 2 free cached blocks
  ASSERT_TRUE(m.Allocate(held, {}, 0, 1));  // evicts nothing: 2 uncached were free first
  ASSERT_EQ(m.num_free_blocks(), 3);
  ASSERT_EQ(m.MatchPrefix(h), 2);
  m.events().Clear();

  // 2 cached blocks come off the free list and 2 new are needed: 4 > 3.
  BlockTable c;
  EXPECT_FALSE(m.Allocate(c, h, 2, 4));
  EXPECT_TRUE(c.blocks.empty());
  EXPECT_EQ(c.num_cached, 0);
  EXPECT_EQ(m.num_free_blocks(), 3);
  EXPECT_EQ(m.MatchPrefix(h), 2);
  EXPECT_TRUE(m.events().events.empty());
  ExpectInvariants(m, {&held, &c});

  // Growing a table beyond capacity fails the same way.
  EXPECT_FALSE(m.Allocate(held, {}, 0, 5));
  EXPECT_EQ(held.blocks.size(), 1u);
  EXPECT_EQ(m.num_cached_blocks(), 2);

  // 2 cached + 1 new: exactly fits.
  EXPECT_TRUE(m.Allocate(c, h, 2, 3));
  EXPECT_EQ(m.num_free_blocks(), 0);
  ExpectInvariants(m, {&held, &c});
}

TEST(KvBlockManager, PrefixCachingOffCachesNothing) {
  KvBlockManager m(Cfg(8, 2, false, true));
  const auto h = Hashes("a", 3);
  BlockTable a;
  ASSERT_TRUE(m.Allocate(a, h, 0, 6));
  m.Commit(a, h, 6);
  EXPECT_EQ(m.num_cached_blocks(), 0);
  EXPECT_EQ(m.MatchPrefix(h), 0);
  EXPECT_TRUE(m.events().events.empty());
  m.Free(a);
  EXPECT_EQ(m.MatchPrefix(h), 0);
  ExpectInvariants(m, {&a});
}

// --------------------------------------------------------------------------------------------
// Property test: random operations against a brute-force reference (linear scans, no index,
// free list as a plain vector). Block ids, counts, matches and events must agree exactly.

class ReferenceManager {
 public:
  ReferenceManager(int64_t n, int32_t block_size)
      : block_size_(block_size), ref_(static_cast<size_t>(n), 0), hash_(ref_.size(), 0) {
    for (uint32_t b = 0; b < n; ++b) free_.push_back(b);
  }
  int64_t Find(uint64_t h) const {
    for (size_t b = 0; b < hash_.size(); ++b) {
      if (hash_[b] == h) return static_cast<int64_t>(b);
    }
    return -1;
  }
  int64_t Match(std::span<const uint64_t> hashes) const {
    int64_t n = 0;
    while (n < static_cast<int64_t>(hashes.size()) && Find(hashes[static_cast<size_t>(n)]) >= 0) {
      ++n;
    }
    return n;
  }
  bool Allocate(std::vector<uint32_t>& table, int32_t& num_cached, std::span<const uint64_t> hashes,
                int64_t cached, int64_t tokens) {
    const int64_t need = (tokens + block_size_ - 1) / block_size_;
    const int64_t fresh = std::max<int64_t>(0, need - static_cast<int64_t>(table.size()) - cached);
    int64_t from_free = fresh;
    for (int64_t i = 0; i < cached; ++i) {
      if (ref_[static_cast<size_t>(Find(hashes[static_cast<size_t>(i)]))] == 0) ++from_free;
    }
    if (from_free > static_cast<int64_t>(free_.size())) return false;
    for (int64_t i = 0; i < cached; ++i) {
      const auto b = static_cast<uint32_t>(Find(hashes[static_cast<size_t>(i)]));
      if (ref_[b]++ == 0) free_.erase(std::find(free_.begin(), free_.end(), b));
      table.push_back(b);
    }
    if (cached > 0) num_cached = static_cast<int32_t>(cached);
    for (int64_t i = 0; i < fresh; ++i) {
      const uint32_t b = free_.front();
      free_.erase(free_.begin());
      if (hash_[b] != 0) removed.push_back(hash_[b]);
      hash_[b] = 0;
      ref_[b] = 1;
      table.push_back(b);
    }
    return true;
  }
  void Commit(const std::vector<uint32_t>& table, int32_t& num_cached,
              std::span<const uint64_t> hashes, int64_t computed) {
    const int64_t full = std::min({computed / block_size_, static_cast<int64_t>(hashes.size()),
                                   static_cast<int64_t>(table.size())});
    for (int64_t i = num_cached; i < full; ++i) {
      const uint64_t h = hashes[static_cast<size_t>(i)];
      if (Find(h) >= 0) continue;
      hash_[table[static_cast<size_t>(i)]] = h;
      stored.push_back(h);
    }
    num_cached = static_cast<int32_t>(std::max<int64_t>(num_cached, full));
  }
  void Free(std::vector<uint32_t>& table, int32_t& num_cached) {
    for (auto it = table.rbegin(); it != table.rend(); ++it) {
      if (--ref_[*it] == 0) free_.push_back(*it);
    }
    table.clear();
    num_cached = 0;
  }
  int64_t num_free() const { return static_cast<int64_t>(free_.size()); }
  int64_t num_cached() const {
    return std::count_if(hash_.begin(), hash_.end(), [](uint64_t h) { return h != 0; });
  }
  std::vector<uint64_t> stored, removed;  // event hashes, in order

 private:
  int32_t block_size_;
  std::vector<int32_t> ref_;
  std::vector<uint64_t> hash_;
  std::vector<uint32_t> free_;  // front = least recently freed
};

struct Seq {
  BlockTable table;           // the manager under test
  std::vector<uint32_t> ref;  // the reference's table
  int32_t ref_cached = 0;
  std::vector<uint64_t> hashes;
  int64_t tokens = 0;  // allocated for
};

// A prompt of a few families sharing prefixes of random length, then diverging.
std::vector<uint64_t> RandomChain(RngStream& rng, int64_t blocks) {
  const uint64_t family = rng.Below(4);
  const int64_t shared = rng.UniformInt(0, blocks);
  uint64_t h = Mix64(family + 1);
  const uint64_t own = rng.NextU64();
  std::vector<uint64_t> out;
  for (int64_t i = 0; i < blocks; ++i) {
    h = Mix64(h ^ (i < shared ? 0x51ed2701ull : own));
    out.push_back(h == 0 ? 1 : h);
  }
  return out;
}

// What a run exercised, so the test can tell it covered the interesting paths.
struct Coverage {
  int64_t failed_allocations = 0;
  int64_t prefix_hits = 0;
  int64_t evictions = 0;
  int64_t stored = 0;
};

void RunProperty(uint64_t seed, int ops, Coverage& cov) {
  SCOPED_TRACE("seed " + std::to_string(seed));
  RngStream rng(seed, "kv_block_manager_property");
  const int32_t bs = static_cast<int32_t>(rng.UniformInt(1, 4));
  const int64_t n = rng.UniformInt(8, 64);
  const bool caching = rng.Below(5) != 0;
  KvBlockManager m(Cfg(n, bs, caching, true));
  ReferenceManager ref(n, bs);
  std::vector<Seq> seqs(12);
  std::vector<uint64_t> stored, removed;

  for (int op = 0; op < ops; ++op) {
    SCOPED_TRACE("op " + std::to_string(op));
    Seq& s = seqs[rng.Below(seqs.size())];
    const uint64_t kind = rng.Below(10);
    if (s.table.blocks.empty() && kind < 5) {
      // New sequence, taking its cached prefix.
      s.tokens = rng.UniformInt(1, 6 * bs);
      s.hashes = RandomChain(rng, s.tokens / bs);
      const int64_t matched = m.MatchPrefix(s.hashes);
      ASSERT_EQ(matched, caching ? ref.Match(s.hashes) : 0);
      const bool ok = m.Allocate(s.table, s.hashes, matched, s.tokens);
      ASSERT_EQ(ok, ref.Allocate(s.ref, s.ref_cached, s.hashes, matched, s.tokens));
      if (!ok) s.tokens = 0;
      cov.failed_allocations += ok ? 0 : 1;
      cov.prefix_hits += ok && matched > 0 ? 1 : 0;
    } else if (!s.table.blocks.empty() && kind < 4) {
      // Grow (decode or the next chunk).
      const int64_t tokens = s.tokens + rng.UniformInt(1, 2 * bs);
      const bool ok = m.Allocate(s.table, s.hashes, 0, tokens);
      ASSERT_EQ(ok, ref.Allocate(s.ref, s.ref_cached, s.hashes, 0, tokens));
      if (ok) s.tokens = tokens;
      cov.failed_allocations += ok ? 0 : 1;
    } else if (!s.table.blocks.empty() && kind < 7) {
      const int64_t computed = rng.UniformInt(0, s.tokens);
      m.Commit(s.table, s.hashes, computed);
      if (caching) ref.Commit(s.ref, s.ref_cached, s.hashes, computed);
    } else if (!s.table.blocks.empty()) {
      m.Free(s.table);
      ref.Free(s.ref, s.ref_cached);
      s.tokens = 0;
    }
    ASSERT_EQ(s.table.blocks, s.ref);
    ASSERT_EQ(s.table.num_cached, s.ref_cached);
    ASSERT_EQ(m.num_free_blocks(), ref.num_free());
    ASSERT_EQ(m.num_cached_blocks(), ref.num_cached());

    // Events since the last check, in order.
    for (const KvEvent& e : m.events().events) {
      auto& into = e.kind == KvEvent::Kind::kStored ? stored : removed;
      for (const uint64_t h : m.events().HashesOf(e)) into.push_back(h);
    }
    m.events().Clear();
    ASSERT_EQ(stored, ref.stored);
    ASSERT_EQ(removed, ref.removed);

    std::vector<const BlockTable*> tables;
    for (const Seq& q : seqs) tables.push_back(&q.table);
    const Status inv = m.CheckInvariants(tables);
    ASSERT_TRUE(inv.ok()) << inv.ToString();
  }
  cov.evictions += static_cast<int64_t>(removed.size());
  cov.stored += static_cast<int64_t>(stored.size());
}

TEST(KvBlockManagerProperty, MatchesReferenceModel) {
  Coverage cov;
  for (uint64_t seed = 1; seed <= 12; ++seed) {
    RunProperty(seed, 4000, cov);
    if (::testing::Test::HasFatalFailure()) return;
  }
  EXPECT_GT(cov.failed_allocations, 100);
  EXPECT_GT(cov.prefix_hits, 100);
  EXPECT_GT(cov.evictions, 100);
  EXPECT_GT(cov.stored, 100);
}

// Long runs on a larger pool stress the hash index (many insertions and backward shifts).
TEST(KvBlockManagerProperty, IndexSurvivesChurn) {
  RngStream rng(99, "kv_index_churn");
  SCOPED_TRACE("seed 99");
  const int32_t bs = 1;
  KvBlockManager m(Cfg(512, bs));
  std::vector<BlockTable> tables(64);
  std::vector<std::vector<uint64_t>> hashes(64);
  for (int op = 0; op < 50000; ++op) {
    const size_t i = rng.Below(tables.size());
    if (tables[i].blocks.empty()) {
      hashes[i] = RandomChain(rng, rng.UniformInt(1, 16));
      const int64_t matched = m.MatchPrefix(hashes[i]);
      const auto tokens = static_cast<int64_t>(hashes[i].size());
      if (m.Allocate(tables[i], hashes[i], matched, tokens)) m.Commit(tables[i], hashes[i], tokens);
    } else {
      m.Free(tables[i]);
    }
    if (op % 997 == 0) {
      std::vector<const BlockTable*> ptrs;
      for (const BlockTable& t : tables) ptrs.push_back(&t);
      const Status inv = m.CheckInvariants(ptrs);
      ASSERT_TRUE(inv.ok()) << "op " << op << ": " << inv.ToString();
    }
  }
}

}  // namespace
}  // namespace dynamo::worker
