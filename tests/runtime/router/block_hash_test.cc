#include "runtime/router/block_hash.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <set>
#include <vector>

namespace dynamo::router {
namespace {

// Expected values below come from an independent implementation, Python's `xxhash` package
// (4.1.0): xxhash.xxh3_64_intdigest(bytes, seed=...), with token ids packed by
// struct.pack('<%dI') and chain steps by struct.pack('<QQ', prev, local), e.g.
//   local0 = xxh3_64_intdigest(struct.pack('<16I', *toks[0:16]), seed=1337)
//   seq1   = xxh3_64_intdigest(struct.pack('<QQ', local0, local1), seed=1337)
//   AdapterSeed(name) = (1337 + xxh3_64_intdigest(name.encode(), seed=0)) % 2**64

// 1000 + 7 * i for i in [0, n).
std::vector<uint32_t> Tokens(int n) {
  std::vector<uint32_t> t;
  for (int i = 0; i < n; ++i) t.push_back(1000 + 7 * static_cast<uint32_t>(i));
  return t;
}

constexpr uint64_t kLocal0 = 0xd7139f6b41c30457ull;  // toks[0:16], seed 1337
constexpr uint64_t kLocal1 = 0x38b001238ca9dddcull;  // toks[16:32], seed 1337
constexpr uint64_t kSeq1 = 0xa915d7404c7030a7ull;    // pack('<QQ', kLocal0, kLocal1), seed 1337

TEST(BlockHashTest, LocalHashesMatchReferenceAndIgnoreTail) {
  const auto toks = Tokens(40);        // 2 full blocks of 16, tail of 8 ignored
  std::vector<uint64_t> local = {42};  // cleared first
  LocalBlockHashes(toks, 16, kBlockHashSeed, local);
  EXPECT_EQ(local, (std::vector<uint64_t>{kLocal0, kLocal1}));
  // A different tail changes nothing.
  auto other = toks;
  other.back() = 5;
  other.push_back(6);
  std::vector<uint64_t> local2;
  LocalBlockHashes(other, 16, kBlockHashSeed, local2);
  EXPECT_EQ(local2, local);
  // Fewer tokens than a block: no hashes.
  LocalBlockHashes(std::span(toks).first(15), 16, kBlockHashSeed, local2);
  EXPECT_TRUE(local2.empty());
}

TEST(BlockHashTest, LocalHashesOfOtherSizesMatchReference) {
  // Block sizes 32 and 64 (128 and 256 bytes) take other XXH3 code paths. Tokens 3 * i + 5.
  std::vector<uint32_t> t;
  for (uint32_t i = 0; i < 64; ++i) t.push_back(3 * i + 5);
  std::vector<uint64_t> local;
  LocalBlockHashes(std::span(t).first(32), 32, kBlockHashSeed, local);
  EXPECT_EQ(local, std::vector<uint64_t>{0x67929007a5ba2dabull});
  LocalBlockHashes(t, 64, kBlockHashSeed, local);
  EXPECT_EQ(local, std::vector<uint64_t>{0x6423fcf71e444952ull});
  // Full 32-bit token ids are hashed little-endian: [0xFFFFFFFF, 0x80000000, 1, 0].
  const std::vector<uint32_t> big = {0xFFFFFFFFu, 0x80000000u, 1, 0};
  LocalBlockHashes(big, 4, kBlockHashSeed, local);
  EXPECT_EQ(local, std::vector<uint64_t>{0xd847f46557ebdd1full});
}

TEST(BlockHashTest, SequenceHashesChainLikeReference) {
  std::vector<uint64_t> seq = {7, 7, 7};
  SequenceHashes(std::vector<uint64_t>{kLocal0, kLocal1}, seq);
  EXPECT_EQ(seq, (std::vector<uint64_t>{kLocal0, kSeq1}));
  EXPECT_EQ(TokenBlockHashes(Tokens(40), 16), seq);
  SequenceHashes({}, seq);
  EXPECT_TRUE(seq.empty());
  // A zero local hash (impossible in practice) is never handed out.
  SequenceHashes(std::vector<uint64_t>{0}, seq);
  EXPECT_EQ(seq, std::vector<uint64_t>{1});
}

TEST(BlockHashTest, AdapterSeedMatchesReference) {
  EXPECT_EQ(AdapterSeed(""), kBlockHashSeed);
  EXPECT_EQ(AdapterSeed("my-lora"), 0xb2041cc45cbcfeddull);
  EXPECT_EQ(AdapterSeed("sql-adapter"), 0x88f0c7e6c82b85a4ull);
}

TEST(BlockHashTest, AdapterSeedChangesHashes) {
  const auto toks = Tokens(32);
  const auto base = TokenBlockHashes(toks, 16);
  const auto lora = TokenBlockHashes(toks, 16, AdapterSeed("my-lora"));
  ASSERT_EQ(lora.size(), 2u);
  // Reference: local hashes with the adapter seed, chained with seed 1337.
  EXPECT_EQ(lora, (std::vector<uint64_t>{0xb56fc2c8ccc405deull, 0x82783c06b83f1f15ull}));
  EXPECT_NE(lora[0], base[0]);
  EXPECT_NE(lora[1], base[1]);
  EXPECT_NE(TokenBlockHashes(toks, 16, AdapterSeed("sql-adapter")), lora);
}

TEST(BlockHashTest, EqualPrefixesGiveEqualHashesAndEarlierChangesPropagate) {
  const auto a = Tokens(16 * 6);
  auto b = a;
  b[16 * 4 + 3] += 1;  // block 4 differs
  auto c = a;
  c[5] += 1;  // block 0 differs
  const auto ha = TokenBlockHashes(a, 16);
  const auto hb = TokenBlockHashes(b, 16);
  const auto hc = TokenBlockHashes(c, 16);
  ASSERT_EQ(ha.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    if (i < 4) {
      EXPECT_EQ(ha[i], hb[i]) << i;
    } else {
      EXPECT_NE(ha[i], hb[i]) << i;
    }
    EXPECT_NE(ha[i], hc[i]) << i;  // a different first block changes every later hash
  }
  // Same block content at a different position gets a different sequence hash.
  std::vector<uint32_t> repeated;
  for (int k = 0; k < 3; ++k) repeated.insert(repeated.end(), a.begin(), a.begin() + 16);
  const auto hr = TokenBlockHashes(repeated, 16);
  EXPECT_EQ(std::set<uint64_t>(hr.begin(), hr.end()).size(), 3u);
}

TEST(BlockHashTest, HashesFromBlockIdsMatchReference) {
  // ids [101, 202, 303], 6 tokens per id, engine blocks of 4 (4 does not divide 6): the last
  // tokens 3, 7, 11, 15 lie in trace blocks 0, 1, 1, 2 at offsets 3, 1, 5, 3.
  const std::vector<uint64_t> ids = {101, 202, 303};
  std::vector<uint64_t> out = {9};
  HashesFromBlockIds(ids, 6, 4, 4, kBlockHashSeed, out);
  EXPECT_EQ(out, (std::vector<uint64_t>{0x55b73e77e95e6f71ull, 0xcbe8aca590f8333eull,
                                        0x6d47831f06a073f9ull, 0xd6088efb1688234dull}));
  // Equal block sizes: offset 15 in each trace block.
  HashesFromBlockIds(std::vector<uint64_t>{5, 6, 7}, 16, 16, 3, kBlockHashSeed, out);
  EXPECT_EQ(out, (std::vector<uint64_t>{0x060c5f54dbee6be6ull, 0x42da501999dec54bull,
                                        0x10012b02a217ba7dull}));
  HashesFromBlockIds(ids, 6, 4, 0, kBlockHashSeed, out);
  EXPECT_TRUE(out.empty());
}

TEST(BlockHashTest, HashesFromBlockIdsSharePrefixesOnly) {
  // Mooncake-style: 512 tokens per id, engine blocks of 16 (32 engine blocks per id).
  const std::vector<uint64_t> a = {1, 2, 3, 4};
  const std::vector<uint64_t> b = {1, 2, 9, 4};
  std::vector<uint64_t> ha, hb;
  HashesFromBlockIds(a, 512, 16, 128, kBlockHashSeed, ha);
  HashesFromBlockIds(b, 512, 16, 128, kBlockHashSeed, hb);
  ASSERT_EQ(ha.size(), 128u);
  for (size_t i = 0; i < 128; ++i) {
    if (i < 64) {
      EXPECT_EQ(ha[i], hb[i]) << i;
    } else {
      EXPECT_NE(ha[i], hb[i]) << i;
    }
  }
  // Engine blocks inside one trace block (distinct offsets) all differ, and a prefix request
  // gives the prefix of the hashes.
  EXPECT_EQ(std::set<uint64_t>(ha.begin(), ha.end()).size(), 128u);
  std::vector<uint64_t> prefix;
  HashesFromBlockIds(a, 512, 16, 40, kBlockHashSeed, prefix);
  EXPECT_TRUE(std::equal(prefix.begin(), prefix.end(), ha.begin()));
  // The seed (adapter) changes every hash.
  std::vector<uint64_t> lora;
  HashesFromBlockIds(a, 512, 16, 128, AdapterSeed("my-lora"), lora);
  for (size_t i = 0; i < 128; ++i) EXPECT_NE(lora[i], ha[i]) << i;
}

TEST(BlockHashTest, HashesFromBlockIdsWithNonDividingSizes) {
  // Engine block 48 vs trace block 32 (and the reverse): compare against a direct computation
  // of the last token's (trace block, offset) for every engine block.
  for (const auto& [per_id, bs] : {std::pair{32, 48}, std::pair{48, 32}, std::pair{7, 3},
                                   std::pair{3, 7}, std::pair{1, 16}, std::pair{16, 1}}) {
    SCOPED_TRACE(testing::Message() << "ids_block_tokens " << per_id << " block " << bs);
    std::vector<uint64_t> ids;
    for (uint64_t k = 0; k < 20; ++k) ids.push_back(1000 + k);
    const int64_t n = 20 * per_id / bs;
    std::vector<uint64_t> out;
    HashesFromBlockIds(ids, per_id, bs, n, kBlockHashSeed, out);
    ASSERT_EQ(out.size(), static_cast<size_t>(n));
    std::set<uint64_t> distinct;
    for (int64_t i = 0; i < n; ++i) {
      EXPECT_NE(out[static_cast<size_t>(i)], 0u);
      distinct.insert(out[static_cast<size_t>(i)]);
      // Changing the id holding engine block i's last token changes hash i but not hash i-1
      // when that one ends in an earlier trace block.
      const int64_t last = (i + 1) * bs - 1;
      auto changed = ids;
      changed[static_cast<size_t>(last / per_id)] += 77;
      std::vector<uint64_t> out2;
      HashesFromBlockIds(changed, per_id, bs, n, kBlockHashSeed, out2);
      EXPECT_NE(out2[static_cast<size_t>(i)], out[static_cast<size_t>(i)]) << i;
      if (i > 0 && (i * bs - 1) / per_id < last / per_id) {
        EXPECT_EQ(out2[static_cast<size_t>(i - 1)], out[static_cast<size_t>(i - 1)]) << i;
      }
    }
    EXPECT_EQ(distinct.size(), static_cast<size_t>(n));
  }
}

TEST(BlockHashTest, HashesFromBlockIdsNeverZeroAndChainLikeSequenceHashes) {
  // Chaining matches SequenceHashes applied to the per-block local hashes: equal results for
  // the first block means equal local hashes; check the whole chain through a one-id-per-block
  // trace, whose local hash of block i is the hash of (ids[i], block_size - 1).
  std::vector<uint64_t> ids;
  for (uint64_t k = 0; k < 64; ++k) ids.push_back(k * 0x9E3779B97F4A7C15ull);
  std::vector<uint64_t> out;
  HashesFromBlockIds(ids, 16, 16, 64, kBlockHashSeed, out);
  std::vector<uint64_t> local;
  for (size_t i = 0; i < 64; ++i) {
    std::vector<uint64_t> single;
    HashesFromBlockIds(std::span(ids).subspan(i, 1), 16, 16, 1, kBlockHashSeed, single);
    local.push_back(single[0]);
  }
  std::vector<uint64_t> chained;
  SequenceHashes(local, chained);
  EXPECT_EQ(chained, out);
  for (const uint64_t h : out) EXPECT_NE(h, 0u);
}

}  // namespace
}  // namespace dynamo::router
