#include "runtime/net/wire.h"

#include <gtest/gtest.h>

#include <cstring>

#include "core/rng.h"

namespace dynamo::net {
namespace {

std::span<const uint8_t> Payload(const std::string& frame) {
  return {reinterpret_cast<const uint8_t*>(frame.data()) + 4, frame.size() - 4};
}

Message RoundTrip(const Message& m) {
  const std::string frame = EncodeFrame(m);
  uint32_t len = 0;
  std::memcpy(&len, frame.data(), 4);
  EXPECT_EQ(len, frame.size() - 4);
  StatusOr<Message> back = DecodePayload(Payload(frame));
  EXPECT_TRUE(back.ok()) << back.status().ToString();
  return back.ok() ? *back : Message(Drain{});
}

TEST(Wire, EveryMessageRoundTrips) {
  AddRequest add{42, 2048, 256, 3, 0xfeedULL, {1, 2, 0xffffffffffffffffULL}};
  const auto a = std::get<AddRequest>(RoundTrip(add));
  EXPECT_EQ(a.id, 42u);
  EXPECT_EQ(a.prompt_tokens, 2048);
  EXPECT_EQ(a.max_output_tokens, 256);
  EXPECT_EQ(a.generated_tokens, 3);
  EXPECT_EQ(a.generation_seed, 0xfeedULL);
  EXPECT_EQ(a.block_hashes, add.block_hashes);
  EXPECT_FALSE(a.kv_remote);
  add.kv_remote = true;
  add.kv_source = "10.0.0.7:41234";
  const auto ar = std::get<AddRequest>(RoundTrip(add));
  EXPECT_TRUE(ar.kv_remote);
  EXPECT_EQ(ar.kv_source, "10.0.0.7:41234");

  EXPECT_EQ(std::get<CancelRequest>(RoundTrip(CancelRequest{7})).id, 7u);
  EXPECT_TRUE(std::holds_alternative<Drain>(RoundTrip(Drain{})));

  Hello h;
  h.name = "agg-0-1";
  h.role = WorkerRole::kDecode;
  h.pool = 2;
  h.max_num_batched_tokens = 8192;
  h.block_size = 32;
  h.num_blocks = 123456789012;
  h.pid = 999;
  h.kv_address = "127.0.0.1:5555";
  const auto hb = std::get<Hello>(RoundTrip(h));
  EXPECT_EQ(hb.name, "agg-0-1");
  EXPECT_EQ(hb.role, WorkerRole::kDecode);
  EXPECT_EQ(hb.pool, 2);
  EXPECT_EQ(hb.block_size, 32);
  EXPECT_EQ(hb.num_blocks, 123456789012);
  EXPECT_EQ(hb.protocol, kProtocolVersion);
  EXPECT_EQ(hb.kv_address, "127.0.0.1:5555");

  StepReport s;
  s.admitted = {{5, 64}, {6, 0}};
  s.tokens = {{5, 1, 300, false}, {9, 17, 31999, true}};
  s.preempted = 2;
  const auto sb = std::get<StepReport>(RoundTrip(s));
  ASSERT_EQ(sb.admitted.size(), 2u);
  EXPECT_EQ(sb.admitted[0].cached_tokens, 64);
  ASSERT_EQ(sb.tokens.size(), 2u);
  EXPECT_EQ(sb.tokens[1].id, 9u);
  EXPECT_EQ(sb.tokens[1].index, 17);
  EXPECT_EQ(sb.tokens[1].token_id, 31999u);
  EXPECT_TRUE(sb.tokens[1].finished);
  EXPECT_FALSE(sb.tokens[0].finished);
  EXPECT_EQ(sb.preempted, 2);

  KvEvents kv{{{true, {1, 2, 3}}, {false, {}}, {false, {9}}}};
  const auto kb = std::get<KvEvents>(RoundTrip(kv));
  ASSERT_EQ(kb.events.size(), 3u);
  EXPECT_TRUE(kb.events[0].stored);
  EXPECT_EQ(kb.events[0].hashes, (std::vector<uint64_t>{1, 2, 3}));
  EXPECT_FALSE(kb.events[2].stored);
  EXPECT_EQ(kb.events[2].hashes, std::vector<uint64_t>{9});

  const auto rb = std::get<Rejected>(RoundTrip(Rejected{3, "too long"}));
  EXPECT_EQ(rb.reason, "too long");
  const auto lb = std::get<Load>(RoundTrip(Load{4, 5, 6, 7, true}));
  EXPECT_EQ(lb.waiting, 5);
  EXPECT_EQ(lb.total_blocks, 7);
  EXPECT_TRUE(lb.draining);

  const auto tb =
      std::get<KvTransferDone>(RoundTrip(KvTransferDone{11, false, 4096, 1500, "refused"}));
  EXPECT_EQ(tb.id, 11u);
  EXPECT_FALSE(tb.ok);
  EXPECT_EQ(tb.bytes, 4096);
  EXPECT_EQ(tb.micros, 1500);
  EXPECT_EQ(tb.error, "refused");
  EXPECT_STREQ(MessageName(Message(tb)), "kv-transfer-done");
}

TEST(Wire, FramesConcatenate) {
  std::string buf;
  EncodeFrame(CancelRequest{1}, buf);
  EncodeFrame(CancelRequest{2}, buf);
  uint32_t len = 0;
  std::memcpy(&len, buf.data(), 4);
  const std::string first = buf.substr(0, 4 + len);
  const std::string second = buf.substr(4 + len);
  EXPECT_EQ(std::get<CancelRequest>(*DecodePayload(Payload(first))).id, 1u);
  EXPECT_EQ(std::get<CancelRequest>(*DecodePayload(Payload(second))).id, 2u);
}

TEST(Wire, MalformedPayloadsAreErrorsNamingTheProblem) {
  const std::string add = EncodeFrame(AddRequest{1, 10, 2, 0, 5, {7, 8}});
  // Every truncation is an error, never a crash.
  for (size_t n = 5; n < add.size(); ++n) {
    const std::string cut = add.substr(0, n);
    StatusOr<Message> m = DecodePayload(Payload(cut));
    ASSERT_FALSE(m.ok()) << "length " << n;
    EXPECT_NE(m.status().message().find("add message"), std::string::npos) << m.status().message();
  }
  // Trailing bytes.
  std::string extra = add + "x";
  EXPECT_NE(DecodePayload(Payload(extra)).status().message().find("trailing"), std::string::npos);
  // A count larger than the payload.
  std::string huge = EncodeFrame(AddRequest{1, 10, 2, 0, 5, {}});
  const uint32_t big = 0x10000000;
  std::memcpy(huge.data() + huge.size() - 4, &big, 4);
  const StatusOr<Message> m = DecodePayload(Payload(huge));
  ASSERT_FALSE(m.ok());
  EXPECT_NE(m.status().message().find("exceeds"), std::string::npos) << m.status().message();
  // Unknown type and empty payload.
  const uint8_t unknown[] = {200, 1, 2};
  EXPECT_NE(DecodePayload(unknown).status().message().find("unknown message type 200"),
            std::string::npos);
  EXPECT_FALSE(DecodePayload({}).ok());
  // A bad role in hello.
  Hello h;
  std::string hello = EncodeFrame(h);
  hello[4 + 1 + 4 + 4] = 9;  // type, protocol, name length (0), then the role byte
  EXPECT_NE(DecodePayload(Payload(hello)).status().message().find("role"), std::string::npos);
}

TEST(Wire, RandomBytesNeverCrash) {
  RngStream rng(7, "wire_fuzz");
  int ok = 0;
  for (int i = 0; i < 20000; ++i) {
    std::vector<uint8_t> bytes(rng.Below(64));
    for (uint8_t& b : bytes) b = static_cast<uint8_t>(rng.Below(256));
    if (!bytes.empty() && rng.Below(2) == 0) bytes[0] = static_cast<uint8_t>(1 + rng.Below(3));
    ok += DecodePayload(bytes).ok() ? 1 : 0;
  }
  // Some random payloads happen to be valid (a drain is one byte); most are not.
  EXPECT_LT(ok, 20000);
}

}  // namespace
}  // namespace dynamo::net
