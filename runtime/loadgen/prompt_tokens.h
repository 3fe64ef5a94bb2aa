#pragma once
// The prompt token ids the load generator sends for a workload request, derived from its block
// hashes exactly as the simulator sees prefixes: two requests whose leading block hashes are
// equal send identical leading tokens, so the runtime's prefix cache and KV router see the
// reuse the simulator models. Pure.

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/workload/request.h"

namespace dynamo::loadgen {

// Generated ids lie in [kFirstPromptTokenId, kPromptVocabSize): the ids below 256 are left
// out (special and byte tokens of real vocabularies).
inline constexpr uint32_t kFirstPromptTokenId = 256;
inline constexpr uint32_t kPromptVocabSize = 32000;

// Exactly `r.isl` token ids. Token j:
// - r.token_ids[j] when the request carries token ids, clamped into the range above;
// - else, when block j / block_tokens has a hash h (block_tokens > 0):
//     256 + Mix64(h ^ (j % block_tokens) * 0x9E3779B97F4A7C15) % (32000 - 256);
// - else a token unique to the request: 256 + Mix64(seed ^ Mix64(id + 1) ^ j) % (32000 - 256).
std::vector<uint32_t> PromptTokens(const Request& r, int32_t block_tokens, uint64_t seed);

// The tokens as text for chat prompts: " w<id>" per token, concatenated (" w300 w301").
std::string PromptText(std::span<const uint32_t> tokens);

}  // namespace dynamo::loadgen
