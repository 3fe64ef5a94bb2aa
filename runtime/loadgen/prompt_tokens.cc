#include "runtime/loadgen/prompt_tokens.h"

#include <algorithm>

#include "core/rng.h"

namespace dynamo::loadgen {
namespace {

constexpr uint64_t kGolden = 0x9E3779B97F4A7C15ULL;
constexpr uint64_t kRange = kPromptVocabSize - kFirstPromptTokenId;

}  // namespace

std::vector<uint32_t> PromptTokens(const Request& r, int32_t block_tokens, uint64_t seed) {
  const size_t n = r.isl > 0 ? static_cast<size_t>(r.isl) : 0;
  std::vector<uint32_t> tokens(n);
  const uint64_t request_key = Mix64(r.id.value() + 1);
  const size_t from_ids = std::min(n, r.token_ids.size());
  for (size_t j = 0; j < from_ids; ++j) {
    const int64_t id = std::clamp<int64_t>(r.token_ids[j], kFirstPromptTokenId,
                                           static_cast<int64_t>(kPromptVocabSize) - 1);
    tokens[j] = static_cast<uint32_t>(id);
  }
  const size_t bt = block_tokens > 0 ? static_cast<size_t>(block_tokens) : 0;
  for (size_t j = from_ids; j < n; ++j) {
    const size_t b = bt > 0 ? j / bt : r.block_hashes.size();
    uint64_t h;
    if (b < r.block_hashes.size()) {
      h = Mix64(r.block_hashes[b] ^ (static_cast<uint64_t>(j % bt) * kGolden));
    } else {
      h = Mix64(seed ^ request_key ^ static_cast<uint64_t>(j));
    }
    tokens[j] = kFirstPromptTokenId + static_cast<uint32_t>(h % kRange);
  }
  return tokens;
}

std::string PromptText(std::span<const uint32_t> tokens) {
  std::string text;
  text.reserve(tokens.size() * 7);
  for (const uint32_t t : tokens) {
    text += " w";
    text += std::to_string(t);
  }
  return text;
}

}  // namespace dynamo::loadgen
