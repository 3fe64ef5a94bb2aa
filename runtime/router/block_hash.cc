#include "runtime/router/block_hash.h"

#include <xxhash.h>

#include <bit>

#include "core/check.h"

namespace dynamo::router {
namespace {

// Token ids and the two u64 of a chain step are hashed in place as little-endian bytes, which
// is their in-memory layout only on little-endian hosts. A big-endian port must byte-swap.
static_assert(std::endian::native == std::endian::little,
              "block hashes hash u32/u64 values as their in-memory (little-endian) bytes");

uint64_t HashPair(uint64_t a, uint64_t b, uint64_t seed) {
  const uint64_t pair[2] = {a, b};
  return XXH3_64bits_withSeed(pair, sizeof(pair), seed);
}

// 0 marks an uncached block in the worker's block manager; never hand it out.
uint64_t NonZero(uint64_t h) { return h == 0 ? 1 : h; }

}  // namespace

uint64_t AdapterSeed(std::string_view adapter_name) {
  if (adapter_name.empty()) return kBlockHashSeed;
  return kBlockHashSeed + XXH3_64bits(adapter_name.data(), adapter_name.size());  // wraps
}

void LocalBlockHashes(std::span<const uint32_t> tokens, int32_t block_size, uint64_t seed,
                      std::vector<uint64_t>& out) {
  DYNAMO_CHECK(block_size > 0);
  out.clear();
  const size_t bs = static_cast<size_t>(block_size);
  const size_t full = tokens.size() / bs;
  out.reserve(full);
  for (size_t b = 0; b < full; ++b) {
    out.push_back(XXH3_64bits_withSeed(tokens.data() + b * bs, bs * sizeof(uint32_t), seed));
  }
}

void SequenceHashes(std::span<const uint64_t> local, std::vector<uint64_t>& out) {
  out.clear();
  if (local.empty()) return;
  out.resize(local.size());
  uint64_t prev = NonZero(local[0]);
  out[0] = prev;
  for (size_t i = 1; i < local.size(); ++i) {
    prev = NonZero(HashPair(prev, local[i], kBlockHashSeed));
    out[i] = prev;
  }
}

std::vector<uint64_t> TokenBlockHashes(std::span<const uint32_t> tokens, int32_t block_size,
                                       uint64_t seed) {
  std::vector<uint64_t> local;
  LocalBlockHashes(tokens, block_size, seed, local);
  std::vector<uint64_t> out;
  SequenceHashes(local, out);
  return out;
}

void HashesFromBlockIds(std::span<const uint64_t> ids, int32_t ids_block_tokens, int32_t block_size,
                        int64_t num_blocks, uint64_t seed, std::vector<uint64_t>& out) {
  DYNAMO_CHECK(ids_block_tokens > 0 && block_size > 0 && num_blocks >= 0);
  DYNAMO_CHECK(num_blocks * block_size <=
               static_cast<int64_t>(ids.size()) * static_cast<int64_t>(ids_block_tokens));
  out.resize(static_cast<size_t>(num_blocks));
  // Walk the last token of each engine block through the trace blocks incrementally (no
  // division per block): `trace` is its trace block, `offset` its position inside it.
  const int64_t step = block_size;
  const int64_t per_id = ids_block_tokens;
  int64_t trace = (step - 1) / per_id;
  int64_t offset = (step - 1) % per_id;
  uint64_t prev = 0;
  for (int64_t i = 0; i < num_blocks; ++i) {
    const uint64_t local =
        HashPair(ids[static_cast<size_t>(trace)], static_cast<uint64_t>(offset), seed);
    prev = NonZero(i == 0 ? local : HashPair(prev, local, kBlockHashSeed));
    out[static_cast<size_t>(i)] = prev;
    offset += step;
    if (offset >= per_id) {
      trace += offset / per_id;
      offset %= per_id;
    }
  }
}

}  // namespace dynamo::router
