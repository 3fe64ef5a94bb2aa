#include "runtime/loadgen/sse_parser.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dynamo::loadgen {
namespace {

using Events = std::vector<std::string>;

Events FeedWhole(std::string_view stream) {
  SseParser p;
  Events out;
  p.Feed(stream, out);
  return out;
}

// Feeds `stream` split into pieces at the given cut points.
Events FeedSplit(std::string_view stream, const std::vector<size_t>& cuts) {
  SseParser p;
  Events out;
  size_t from = 0;
  for (const size_t cut : cuts) {
    p.Feed(stream.substr(from, cut - from), out);
    from = cut;
  }
  p.Feed(stream.substr(from), out);
  return out;
}

TEST(SseParserTest, YieldsDataOfEachEvent) {
  EXPECT_EQ(FeedWhole("data: {\"a\":1}\n\ndata: [DONE]\n\n"), (Events{"{\"a\":1}", "[DONE]"}));
}

TEST(SseParserTest, JoinsMultipleDataLines) {
  EXPECT_EQ(FeedWhole("data: one\ndata: two\ndata:three\n\n"), (Events{"one\ntwo\nthree"}));
}

TEST(SseParserTest, DropsOneLeadingSpaceOnly) {
  EXPECT_EQ(FeedWhole("data:x\n\ndata:  y\n\n"), (Events{"x", " y"}));
}

TEST(SseParserTest, IgnoresCommentsAndOtherFields) {
  EXPECT_EQ(FeedWhole(": keep-alive\n\nevent: message\nid: 7\nretry: 10\ndata: a\n: mid\n\n"),
            (Events{"a"}));
}

TEST(SseParserTest, HandlesCrLfAndCrLineEndings) {
  EXPECT_EQ(FeedWhole("data: a\r\n\r\ndata: b\r\rdata: c\n\r\n"), (Events{"a", "b", "c"}));
}

TEST(SseParserTest, EmptyDataIsNotAnEvent) {
  EXPECT_EQ(FeedWhole("data:\n\n\n\ndata\n\ndata: x\n\n"), (Events{"x"}));
  // Two empty data lines make data "\n": not empty.
  EXPECT_EQ(FeedWhole("data:\ndata:\n\n"), (Events{"\n"}));
}

TEST(SseParserTest, IncompleteEventIsHeldBack) {
  SseParser p;
  Events out;
  p.Feed("data: a\n\ndata: b\n", out);
  EXPECT_EQ(out, (Events{"a"}));
  EXPECT_GT(p.buffered_bytes(), 0u);
  p.Feed("\n", out);
  EXPECT_EQ(out, (Events{"a", "b"}));
  EXPECT_EQ(p.buffered_bytes(), 0u);
}

// Every way of cutting the stream in two or three pieces, and one byte at a time, gives the
// events of feeding it whole.
TEST(SseParserTest, SplitsAtEveryByteBoundary) {
  const std::string stream =
      ": ok\r\n\r\n"
      "data: {\"choices\":[{\"text\":\" w1\"}]}\r\n\r\n"
      "event: x\ndata: line1\ndata:line2\n\n"
      "data: cr\r\r"
      "data: [DONE]\r\n\r\n";
  const Events want = {"{\"choices\":[{\"text\":\" w1\"}]}", "line1\nline2", "cr", "[DONE]"};
  ASSERT_EQ(FeedWhole(stream), want);
  for (size_t i = 0; i <= stream.size(); ++i) {
    EXPECT_EQ(FeedSplit(stream, {i}), want) << "cut at " << i;
    for (size_t j = i; j <= stream.size(); j += 3) {
      ASSERT_EQ(FeedSplit(stream, {i, j}), want) << "cuts at " << i << ", " << j;
    }
  }
  std::vector<size_t> every;
  for (size_t i = 1; i < stream.size(); ++i) every.push_back(i);
  EXPECT_EQ(FeedSplit(stream, every), want);
}

TEST(SseParserTest, EmptyFeedsKeepPendingCr) {
  SseParser p;
  Events out;
  p.Feed("data: a\r", out);
  p.Feed("", out);
  p.Feed("\n\r", out);
  p.Feed("", out);
  p.Feed("\ndata: b\n\n", out);
  EXPECT_EQ(out, (Events{"a", "b"}));
}

}  // namespace
}  // namespace dynamo::loadgen
