#pragma once
// The mock engine's tokenizer and token stream: a deterministic stand-in for a real tokenizer so
// that dynamo-run can serve OpenAI requests without model weights.
//
// Text -> ids: one token per whitespace-separated word (punctuation stays attached), id = XXH3 of
// the word's bytes (seed 0) mapped into [kFirstWordId, kVocabSize); stable across runs and
// platforms. Ids -> text: a pronounceable word per id, distinct for every id. Generated ids come
// from (generation seed, token index), so a request migrated to another worker continues with the
// same ids.
//
// Pure functions and a stateless class; thread-safe.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace dynamo::api {

// One chat message as the tokenizer sees it (content parts already concatenated).
struct ChatMessage {
  std::string role;
  std::string content;
};

// Stateless; copyable; all methods are const and thread-safe.
class MockTokenizer {
 public:
  static constexpr uint32_t kVocabSize = 32000;
  static constexpr uint32_t kFirstWordId = 256;  // 0..255 reserved

  // One id per maximal run of non-whitespace bytes (ASCII space, \t, \n, \v, \f, \r separate
  // words); "" and all-whitespace text give no tokens. Ids are in [kFirstWordId, kVocabSize).
  std::vector<uint32_t> Encode(std::string_view text) const;

  // Text of one generated token: " " + a pronounceable word made of consonant-vowel syllables,
  // one per base-100 digit of the id (consonant: digit / 5 of 20 letters, vowel: digit % 5).
  // The same id always gives the same word; different ids give different words (every uint32).
  std::string Decode(uint32_t token_id) const;

  // Chat prompt: each message as "<|role|>\n" + content + "\n", then "<|assistant|>\n";
  // tokenized with Encode. Never empty (the "<|assistant|>" word is always there).
  std::vector<uint32_t> EncodeChat(std::span<const ChatMessage> messages) const;
};

// The mock engine's output: token number `index` (1-based) of a request whose generation seed is
// `seed`: XXH3 of the 16 little-endian bytes [seed, index] mapped into [kFirstWordId,
// kVocabSize). Deterministic; a request that is migrated to another worker continues with the
// same ids. Precondition: index >= 1.
uint32_t MockTokenId(uint64_t seed, int32_t index);

// A request's generation seed: XXH3 (seed 0) of the prompt token ids (little-endian u32 bytes),
// xor the user-given seed when present (so an absent seed and seed 0 give the same stream).
uint64_t GenerationSeed(std::span<const uint32_t> prompt_tokens, std::optional<uint64_t> user_seed);

}  // namespace dynamo::api
