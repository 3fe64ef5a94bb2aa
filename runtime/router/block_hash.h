#pragma once
// Block hashing, bit-compatible with Dynamo's KV router: XXH3-64 with seed 1337.
//
// A prompt is cut into full blocks of `block_size` tokens (a partial tail is never hashed: it
// cannot be shared). Each block gets a local hash (its own tokens only) and a chained sequence
// hash (the whole prompt through that block), so equal sequence hash i means an identical prefix
// through block i. Sequence hashes are what workers report in KV events and what the indexer
// (kv_indexer.h) is keyed by.
//
// Pure functions; thread-safe. Token ids are hashed as u32 little-endian bytes.
#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

namespace dynamo::router {

inline constexpr uint64_t kBlockHashSeed = 1337;

// Seed for a LoRA adapter: kBlockHashSeed + XXH3_64(name, seed 0), wrapping; "" (no adapter)
// gives kBlockHashSeed.
uint64_t AdapterSeed(std::string_view adapter_name);

// Local hash of each full block of `block_size` token ids (XXH3-64 with `seed` over the block's
// u32 little-endian bytes); the partial tail is ignored. Clears `out`, then appends one hash per
// full block. Precondition: block_size > 0.
void LocalBlockHashes(std::span<const uint32_t> tokens, int32_t block_size, uint64_t seed,
                      std::vector<uint64_t>& out);

// Chained sequence hashes: seq[0] = local[0]; seq[i] = XXH3_64(seed 1337, 16 LE bytes
// [seq[i-1], local[i]]). A result of 0 is stored as 1 (0 means "uncached" in the worker's block
// manager) and the chain continues from the stored value. Clears and fills `out`
// (out.size() == local.size()).
void SequenceHashes(std::span<const uint64_t> local, std::vector<uint64_t>& out);

// Convenience: tokens -> chained sequence hashes of the full blocks.
std::vector<uint64_t> TokenBlockHashes(std::span<const uint32_t> tokens, int32_t block_size,
                                       uint64_t seed = kBlockHashSeed);

// Traces that carry block ids instead of tokens (Mooncake `hash_ids`: one id per
// `ids_block_tokens` tokens; id k identifies the prompt prefix through trace block k). Fills
// `out` (cleared first) with the chained hashes of the first `num_blocks` full engine blocks of
// `block_size` tokens. The local hash of engine block i is XXH3_64(seed, 16 LE bytes [id of the
// trace block holding token t = (i+1)*block_size-1, t % ids_block_tokens]); they are chained as
// SequenceHashes does. Equal trace-id prefixes therefore give equal engine hashes, whatever the
// two block sizes. No allocation beyond `out`.
// Preconditions: ids_block_tokens > 0, block_size > 0, num_blocks >= 0,
// num_blocks * block_size <= ids.size() * ids_block_tokens.
void HashesFromBlockIds(std::span<const uint64_t> ids, int32_t ids_block_tokens, int32_t block_size,
                        int64_t num_blocks, uint64_t seed, std::vector<uint64_t>& out);

}  // namespace dynamo::router
