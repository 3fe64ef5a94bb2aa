#include "runtime/api/mock_tokenizer.h"

#include <xxhash.h>

#include <bit>

#include "core/check.h"

namespace dynamo::api {
namespace {

// Token ids and the (seed, index) pair are hashed as their in-memory bytes, which are the
// documented little-endian bytes only on little-endian hosts. A big-endian port must byte-swap.
static_assert(std::endian::native == std::endian::little,
              "mock token ids hash u32/u64 values as their in-memory (little-endian) bytes");

constexpr uint32_t kWordIds = MockTokenizer::kVocabSize - MockTokenizer::kFirstWordId;

// Syllable alphabets: 20 consonants x 5 vowels = 100 syllables, one per base-100 digit.
constexpr std::string_view kConsonants = "bcdfghjklmnprstvwxyz";
constexpr std::string_view kVowels = "aeiou";
static_assert(kConsonants.size() == 20 && kVowels.size() == 5);

uint32_t WordId(uint64_t hash) {
  return MockTokenizer::kFirstWordId + static_cast<uint32_t>(hash % kWordIds);
}

bool IsSpace(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r';
}

}  // namespace

std::vector<uint32_t> MockTokenizer::Encode(std::string_view text) const {
  std::vector<uint32_t> ids;
  size_t i = 0;
  const size_t n = text.size();
  while (i < n) {
    while (i < n && IsSpace(text[i])) ++i;
    const size_t start = i;
    while (i < n && !IsSpace(text[i])) ++i;
    if (i > start) ids.push_back(WordId(XXH3_64bits_withSeed(text.data() + start, i - start, 0)));
  }
  return ids;
}

std::string MockTokenizer::Decode(uint32_t token_id) const {
  // Base-100 digits, most significant first, no leading zero syllables (id 0 is one syllable).
  // Every syllable is exactly two letters, so the word parses back to its digits: distinct ids
  // give distinct words.
  char digits[5];  // 100^5 > 2^32
  int count = 0;
  uint32_t v = token_id;
  do {
    digits[count++] = static_cast<char>(v % 100);
    v /= 100;
  } while (v != 0);
  std::string word;
  word.reserve(1 + 2 * static_cast<size_t>(count));
  word.push_back(' ');
  for (int d = count - 1; d >= 0; --d) {
    const auto digit = static_cast<size_t>(digits[d]);
    word.push_back(kConsonants[digit / kVowels.size()]);
    word.push_back(kVowels[digit % kVowels.size()]);
  }
  return word;
}

std::vector<uint32_t> MockTokenizer::EncodeChat(std::span<const ChatMessage> messages) const {
  std::string prompt;
  for (const ChatMessage& m : messages) {
    prompt += "<|";
    prompt += m.role;
    prompt += "|>\n";
    prompt += m.content;
    prompt += '\n';
  }
  prompt += "<|assistant|>\n";
  return Encode(prompt);
}

uint32_t MockTokenId(uint64_t seed, int32_t index) {
  DYNAMO_CHECK(index >= 1);
  const uint64_t pair[2] = {seed, static_cast<uint64_t>(index)};
  return WordId(XXH3_64bits_withSeed(pair, sizeof(pair), 0));
}

uint64_t GenerationSeed(std::span<const uint32_t> prompt_tokens,
                        std::optional<uint64_t> user_seed) {
  const uint64_t h =
      XXH3_64bits_withSeed(prompt_tokens.data(), prompt_tokens.size() * sizeof(uint32_t), 0);
  return h ^ user_seed.value_or(0);
}

}  // namespace dynamo::api
