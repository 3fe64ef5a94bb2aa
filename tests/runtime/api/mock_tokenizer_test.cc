#include "runtime/api/mock_tokenizer.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace dynamo::api {
namespace {

bool InWordRange(uint32_t id) {
  return id >= MockTokenizer::kFirstWordId && id < MockTokenizer::kVocabSize;
}

TEST(MockTokenizerTest, EncodeIsDeterministicAndOneTokenPerWord) {
  const MockTokenizer tok;
  const std::string text = "Hello, world!  The\tquick\nbrown fox.";
  const std::vector<uint32_t> a = tok.Encode(text);
  const std::vector<uint32_t> b = MockTokenizer().Encode(text);
  EXPECT_EQ(a, b);
  ASSERT_EQ(a.size(), 6u);  // Hello, world! The quick brown fox.
  for (uint32_t id : a) EXPECT_TRUE(InWordRange(id)) << id;
  // Equal words give equal ids wherever they occur; punctuation stays attached.
  EXPECT_EQ(tok.Encode("fox. fox. fox"), (std::vector<uint32_t>{a[5], a[5], tok.Encode("fox")[0]}));
  EXPECT_NE(tok.Encode("fox")[0], a[5]);
}

TEST(MockTokenizerTest, IdsMatchAnIndependentImplementation) {
  // Expected values from Python's `xxhash` package (4.1.0); a change here changes every mock
  // stream and breaks comparisons across runs:
  //   word id  = 256 + xxh3_64_intdigest(word.encode(), seed=0) % 31744
  //   token id = 256 + xxh3_64_intdigest(struct.pack('<QQ', seed, index), seed=0) % 31744
  //   seed     = xxh3_64_intdigest(struct.pack('<3I', 300, 301, 302), seed=0)
  const MockTokenizer tok;
  EXPECT_EQ(tok.Encode("hello world"), (std::vector<uint32_t>{18941, 9918}));
  EXPECT_EQ(tok.Encode("  hello   world \n"), (std::vector<uint32_t>{18941, 9918}));
  EXPECT_EQ(tok.Encode("<|assistant|>"), (std::vector<uint32_t>{22158}));
  EXPECT_EQ(MockTokenId(42, 1), 20971u);
  EXPECT_EQ(MockTokenId(42, 2), 27141u);
  const std::vector<uint32_t> prompt = {300, 301, 302};
  EXPECT_EQ(GenerationSeed(prompt, std::nullopt), 1329870539642125048ull);
}

TEST(MockTokenizerTest, EmptyAndWhitespaceGiveNoTokens) {
  const MockTokenizer tok;
  EXPECT_TRUE(tok.Encode("").empty());
  EXPECT_TRUE(tok.Encode(" \t\r\n\v\f ").empty());
}

TEST(MockTokenizerTest, WordCountEqualsTokenCount) {
  const MockTokenizer tok;
  std::string text;
  for (int i = 0; i < 500; ++i) {
    text += "w" + std::to_string(i % 37);
    text += (i % 3 == 0) ? "\n" : "  ";
  }
  EXPECT_EQ(tok.Encode(text).size(), 500u);
}

TEST(MockTokenizerTest, DecodeIsDistinctForEveryVocabularyId) {
  const MockTokenizer tok;
  std::set<std::string> words;
  for (uint32_t id = 0; id < MockTokenizer::kVocabSize; ++id) {
    const std::string w = tok.Decode(id);
    ASSERT_GE(w.size(), 3u);
    ASSERT_EQ(w[0], ' ') << id;
    for (size_t i = 1; i < w.size(); ++i) ASSERT_TRUE(w[i] >= 'a' && w[i] <= 'z') << w;
    words.insert(w);
  }
  EXPECT_EQ(words.size(), MockTokenizer::kVocabSize);
  EXPECT_EQ(tok.Decode(0), " ba");
  EXPECT_EQ(tok.Decode(31999), " bofuzu");  // digits 3, 19, 99: bo fu zu
  EXPECT_EQ(tok.Decode(1234), tok.Decode(1234));
  EXPECT_NE(tok.Decode(UINT32_MAX), tok.Decode(UINT32_MAX - 1));
}

TEST(MockTokenizerTest, DecodedWordsReEncodeToOneTokenEach) {
  const MockTokenizer tok;
  std::string text;
  for (uint32_t id = 300; id < 340; ++id) text += tok.Decode(id);
  EXPECT_EQ(tok.Encode(text).size(), 40u);
}

TEST(MockTokenizerTest, EncodeChatLayout) {
  const MockTokenizer tok;
  const std::vector<ChatMessage> messages = {{"system", "Be brief."}, {"user", "Hi there"}};
  const std::vector<uint32_t> ids = tok.EncodeChat(messages);
  EXPECT_EQ(ids, tok.Encode("<|system|>\nBe brief.\n<|user|>\nHi there\n<|assistant|>\n"));
  ASSERT_EQ(ids.size(), 7u);
  EXPECT_EQ(ids[0], tok.Encode("<|system|>")[0]);
  EXPECT_EQ(ids[6], tok.Encode("<|assistant|>")[0]);
  // No messages: just the assistant header.
  EXPECT_EQ(tok.EncodeChat({}), tok.Encode("<|assistant|>"));
}

TEST(MockTokenizerTest, MockTokenIdRangeAndDeterminism) {
  std::set<uint32_t> distinct;
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}, uint64_t{0xdeadbeef}, UINT64_MAX}) {
    for (int32_t index = 1; index <= 2000; ++index) {
      const uint32_t id = MockTokenId(seed, index);
      ASSERT_TRUE(InWordRange(id)) << seed << " " << index;
      ASSERT_EQ(id, MockTokenId(seed, index));
      distinct.insert(id);
    }
  }
  // 8000 draws from 31744 ids: a working mix gives thousands of distinct values.
  EXPECT_GT(distinct.size(), 5000u);
  EXPECT_NE(MockTokenId(1, 1), MockTokenId(2, 1));
  EXPECT_NE(MockTokenId(1, 1), MockTokenId(1, 2));
}

TEST(MockTokenizerTest, GenerationSeedDependsOnPromptAndUserSeed) {
  const std::vector<uint32_t> a = {300, 301, 302};
  const std::vector<uint32_t> b = {300, 301, 303};
  const std::vector<uint32_t> a_prefix = {300, 301};
  EXPECT_EQ(GenerationSeed(a, std::nullopt), GenerationSeed(a, std::nullopt));
  EXPECT_NE(GenerationSeed(a, std::nullopt), GenerationSeed(b, std::nullopt));
  EXPECT_NE(GenerationSeed(a, std::nullopt), GenerationSeed(a_prefix, std::nullopt));
  EXPECT_NE(GenerationSeed(a, 7), GenerationSeed(a, 8));
  EXPECT_NE(GenerationSeed(a, 7), GenerationSeed(a, std::nullopt));
  // Documented: xor of the user seed, so seed 0 equals no seed.
  EXPECT_EQ(GenerationSeed(a, 0), GenerationSeed(a, std::nullopt));
  EXPECT_EQ(GenerationSeed(a, 7) ^ GenerationSeed(a, std::nullopt), 7u);
}

}  // namespace
}  // namespace dynamo::api
