#include "core/workload/trace_reader.h"

#include <gtest/gtest.h>

#include "core/file_io.h"
#include "core/rng.h"
#include "core/workload/distribution_spec.h"
#include "core/workload/workload.h"
#include "core/workload/workload_stats.h"
#include "tests/core/test_util.h"

namespace dynamo {
namespace {

StatusOr<Workload> Mooncake(const std::string& text, TraceOptions o = {}) {
  return ReadMooncakeTrace(text, "t.jsonl", o);
}
StatusOr<Workload> Azure(const std::string& text, TraceOptions o = {}) {
  return ReadAzureTrace(text, "t.csv", o);
}

TEST(TraceReaderTest, MooncakeLinesBecomeRequests) {
  auto w = Mooncake(
      "{\"timestamp\": 1000, \"input_length\": 600, \"output_length\": 20, \"hash_ids\": [0, 1]}\n"
      "\n"
      "{\"timestamp\": 1500.5, \"input_length\": 512, \"output_length\": 3, \"hash_ids\": [0]}\n");
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->requests.size(), 2u);
  EXPECT_EQ(w->block_tokens, 512);
  EXPECT_EQ(w->requests[0].arrival, Time::Zero());  // relative to the first request
  EXPECT_EQ(w->requests[1].arrival, Time::FromNanos(500'500'000));
  EXPECT_EQ(w->requests[1].block_hashes, std::vector<uint64_t>{0});
  EXPECT_EQ(w->requests[0].isl, 600);
  EXPECT_EQ(w->requests[0].osl, 20);
}

TEST(TraceReaderTest, MooncakeErrorsNameLineFieldValueAndFix) {
  struct Case {
    std::string text, message;
  };
  const std::string ok = "{\"timestamp\": 0, \"input_length\": 10, \"output_length\": 1}\n";
  const Case cases[] = {
      {ok + "{\"timestamp\": 5, \"input_length\": -3, \"output_length\": 1}\n",
       "t.jsonl:2: field 'input_length': -3 is out of range; expected 1..10000000"},
      {ok + ok + "{\"timestamp\": 5, \"input_length\": 3}\n",
       "t.jsonl:3: field 'output_length': missing; expected an integer >= 1"},
      {"{\"timestamp\": \"noon\", \"input_length\": 3, \"output_length\": 1}\n",
       "t.jsonl:1: field 'timestamp': \"noon\" is not a number of milliseconds"},
      {"{\"timestamp\": 1, \"input_length\": 3.5, \"output_length\": 1}\n",
       "t.jsonl:1: field 'input_length': 3.5 is not an integer; expected >= 1"},
      {"[1, 2]\n", "t.jsonl:1: expected a JSON object per line, got [1,2]"},
      {"{\"timestamp\": 1, \"input_length\": 1000, \"output_length\": 1, \"hash_ids\": [1]}\n",
       "t.jsonl:1: field 'hash_ids': 1 ids for input_length 1000 at 512 tokens per block "
       "(expected 2); set block_tokens to the trace's block size"},
      {"{\"timestamp\": 1, \"input_length\": 10, \"output_length\": 1, \"hash_ids\": [-4]}\n",
       "t.jsonl:1: field 'hash_ids': -4 is not a non-negative integer id"},
      {"", "t.jsonl: no requests in the trace"},
  };
  for (const Case& c : cases) EXPECT_EQ(Mooncake(c.text).status().message(), c.message);
  auto broken = Mooncake(ok + "{\"timestamp\": 1, \"input_length\n");
  EXPECT_EQ(broken.status().message().rfind("t.jsonl:2: not a JSON object: ", 0), 0u)
      << broken.status().message();
}

TEST(TraceReaderTest, AzureCsvWithTimestamps) {
  auto w = Azure(
      "TIMESTAMP,ContextTokens,GeneratedTokens\r\n"
      "2023-11-16 18:15:46.6805900,374,44\r\n"
      "2023-11-16 18:15:50.9951690,396,109\r\n");
  ASSERT_TRUE(w.ok()) << w.status().message();
  ASSERT_EQ(w->requests.size(), 2u);
  EXPECT_EQ(w->block_tokens, 0);
  EXPECT_EQ(w->requests[1].arrival, Time::FromNanos(4'314'579'000));
  EXPECT_EQ(w->requests[1].isl, 396);
  EXPECT_FALSE(ComputeWorkloadStats(*w).prefix_reuse_ratio.has_value());
}

TEST(TraceReaderTest, AzureErrors) {
  EXPECT_EQ(
      Azure("a,b,c\n1,2,3\n").status().message(),
      "t.csv:1: expected a header with TIMESTAMP, ContextTokens, GeneratedTokens; got 'a,b,c'");
  EXPECT_EQ(Azure("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,x,4\n")
                .status()
                .message(),
            "t.csv:2: field 'ContextTokens': 'x' is not an integer");
  EXPECT_EQ(Azure("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,5,0\n")
                .status()
                .message(),
            "t.csv:2: field 'GeneratedTokens': 0 is out of range; expected 1..10000000");
  EXPECT_EQ(Azure("TIMESTAMP,ContextTokens,GeneratedTokens\nyesterday,5,3\n").status().message(),
            "t.csv:2: field 'TIMESTAMP': 'yesterday' is not a timestamp like 2023-11-16 "
            "18:17:03.9799600");
  EXPECT_EQ(
      Azure("TIMESTAMP,ContextTokens,GeneratedTokens\n2023-11-16 18:15:46,5\n").status().message(),
      "t.csv:2: 2 fields, the header has 3");
}

TEST(TraceReaderTest, TimestampParsing) {
  EXPECT_EQ(*ParseTimestampNs("1970-01-01 00:00:00"), 0);
  EXPECT_EQ(*ParseTimestampNs("2023-11-16 18:17:03.9799600"), 1700158623979960000);
  EXPECT_EQ(*ParseTimestampNs("2000-02-29T23:59:59"), 951868799LL * 1'000'000'000);
  EXPECT_FALSE(ParseTimestampNs("2023-13-01 00:00:00").ok());
  EXPECT_FALSE(ParseTimestampNs("2023-11-16 18:17:03.").ok());
  EXPECT_FALSE(ParseTimestampNs("2023-11-16 18:17:03x").ok());
}

TEST(TraceReaderTest, OptionsTakeFirstNScaleTimeAndSetRate) {
  std::string text;
  for (int i = 0; i < 11; ++i) {
    text += "{\"timestamp\": " + std::to_string(i * 100) +
            ", \"input_length\": 10, \"output_length\": 1}\n";
  }
  auto first = Mooncake(text, {.first = 3});
  EXPECT_EQ(first->requests.size(), 3u);
  auto scaled = Mooncake(text, {.time_scale = 0.5});
  EXPECT_EQ(scaled->requests.back().arrival, Time::FromNanos(500'000'000));
  auto rated = Mooncake(text, {.rate_rps = 20});  // 10 gaps at 20 req/s: 0.5 s
  EXPECT_EQ(rated->requests.back().arrival, Time::FromNanos(500'000'000));
  EXPECT_NEAR(*ComputeWorkloadStats(*rated).mean_rate_rps, 20.0, 1e-9);
}

TEST(TraceReaderTest, UnsortedTracesAreOrderedStably) {
  auto w = Mooncake(
      "{\"timestamp\": 300, \"input_length\": 1, \"output_length\": 1}\n"
      "{\"timestamp\": 100, \"input_length\": 2, \"output_length\": 1}\n"
      "{\"timestamp\": 100, \"input_length\": 3, \"output_length\": 1}\n");
  ASSERT_TRUE(w.ok());
  EXPECT_EQ(w->requests[0].isl, 2);
  EXPECT_EQ(w->requests[1].isl, 3);
  EXPECT_EQ(w->requests[2].isl, 1);
  EXPECT_EQ(w->requests[2].arrival, Time::FromNanos(200'000'000));
}

// --- Real traces (../shared/data; skipped when absent). ---

TEST(RealTraceTest, MooncakeConversationTrace) {
  const std::string path = testing::SharedData("traces/mooncake/conversation_trace.jsonl");
  SKIP_WITHOUT(path);
  auto w = LoadWorkload(path);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->requests.size(), 12031u);
  EXPECT_EQ(w->requests.back().arrival, Time::FromNanos(3'536'999'000'000));  // last timestamp
  for (const Request& r : w->requests) {
    ASSERT_EQ(r.block_hashes.size(), static_cast<size_t>((r.isl + 511) / 512));
  }
  const WorkloadStats s = ComputeWorkloadStats(*w);
  EXPECT_GT(*s.prefix_reuse_ratio, 0.2);  // multi-turn chat: heavy prefix sharing
  EXPECT_LT(*s.prefix_reuse_ratio, 0.9);
  EXPECT_GE(s.isl.min, 891);
  EXPECT_GE(s.osl.min, 1);
  auto rated = LoadWorkload(path, {.first = 1000, .rate_rps = 2.0});
  ASSERT_TRUE(rated.ok());
  EXPECT_EQ(rated->requests.size(), 1000u);
  EXPECT_NEAR(*ComputeWorkloadStats(*rated).mean_rate_rps, 2.0, 1e-6);
}

TEST(RealTraceTest, MooncakeSyntheticAndArxivTraces) {
  for (const char* rel : {"traces/mooncake/synthetic_trace.jsonl",
                          "traces/mooncake/mooncake_trace_arxiv_first1000.jsonl"}) {
    const std::string path = testing::SharedData(rel);
    SKIP_WITHOUT(path);
    auto w = LoadWorkload(path);
    ASSERT_TRUE(w.ok()) << w.status().message();
    EXPECT_GT(w->requests.size(), 900u);
  }
}

TEST(RealTraceTest, AzureTraces) {
  const std::string conv = testing::SharedData("traces/azure2023/AzureLLMInferenceTrace_conv.csv");
  SKIP_WITHOUT(conv);
  auto w = LoadWorkload(conv);
  ASSERT_TRUE(w.ok()) << w.status().message();
  EXPECT_EQ(w->requests.size(), 19366u);
  // 18:15:46.6805900 -> 19:14:08.4025270
  EXPECT_EQ(w->requests.back().arrival, Time::FromNanos(3'501'721'937'000));
  auto code = LoadWorkload(testing::SharedData("traces/azure2023/AzureLLMInferenceTrace_code.csv"));
  ASSERT_TRUE(code.ok()) << code.status().message();
  EXPECT_EQ(code->requests.size(), 8819u);
}

TEST(RealTraceTest, EmpiricalLengthsFromShareGpt) {
  const std::string csv =
      testing::SharedData("traces/sharegpt_8k_filtered_stats_llama2_tokenizer.csv");
  SKIP_WITHOUT(csv);
  const std::string dir = testing::TempDir();
  const std::string spec = dir + "/sharegpt.json";
  ASSERT_TRUE(WriteFileAtomic(spec, R"({"requests": 3000, "seed": 1,
      "arrival": {"process": "poisson", "rate_rps": 2},
      "isl": {"dist": "empirical", "file": ")" +
                                        csv + R"(", "column": "num_prefill_tokens"},
      "osl": {"dist": "empirical", "file": ")" +
                                        csv + R"(", "column": "num_decode_tokens"}})")
                  .ok());
  auto w = LoadWorkload(spec);
  ASSERT_TRUE(w.ok()) << w.status().message();
  auto column = ReadCsvColumn(csv, "num_prefill_tokens");
  ASSERT_TRUE(column.ok());
  double column_mean = 0;
  for (double v : *column) column_mean += v / column->size();
  EXPECT_NEAR(ComputeWorkloadStats(*w).isl.mean, column_mean, column_mean * 0.05);
}

}  // namespace
}  // namespace dynamo

namespace dynamo {
namespace {

// Differential: whenever the fast scanner accepts a line, the JSON-library path accepts it too
// and yields the same request. Lines are random mutations of valid ones (seeded).
TEST(TraceReaderTest, FastMooncakePathAgreesWithTheJsonPath) {
  const std::string seeds[] = {
      R"({"timestamp": 1200, "input_length": 1500, "output_length": 20, "hash_ids": [0, 7, 9]})",
      R"({"hash_ids": [], "output_length": 1, "input_length": 1, "timestamp": 0.25})",
      R"(  {"timestamp":3e2,"input_length":512,"output_length":4,"hash_ids":[18446744073709551615]} )",
      R"({"timestamp": 10, "input_length": 5, "output_length": 2})"};
  const char* tokens[] = {"-", ".", "e",  "E", "0",  "9",   " ",   ",",  "[",     "]",  "\"",
                          "{", "}", "1.", "+", "00", "NaN", "inf", "\\", "1e400", "\t", "x"};
  RngStream rng(99, "mooncake-differential");
  int fast_accepted = 0;
  for (int iter = 0; iter < 20000; ++iter) {
    std::string line = seeds[iter % 4];
    const int edits = static_cast<int>(rng.Below(3));
    for (int e = 0; e < edits; ++e) {
      const size_t pos = rng.Below(line.size() + 1);
      if (rng.Below(2) == 0 && !line.empty()) {
        line.erase(std::min(pos, line.size() - 1), 1);
      } else {
        line.insert(pos, tokens[rng.Below(std::size(tokens))]);
      }
    }
    Request fast;
    if (!internal::ParseMooncakeLineFast(line, 512, fast)) continue;
    fast_accepted++;
    // The reader would take the fast path; parse the same line the slow way to compare: a space
    // before the line defeats nothing in the scanner, so force the slow path with a trailing key.
    std::string slow_line = line;
    const size_t brace = slow_line.rfind('}');
    slow_line.insert(brace, ", \"zz_force_slow_path\": 0");
    auto slow = ReadMooncakeTrace(slow_line + "\n", "t.jsonl", TraceOptions{});
    ASSERT_TRUE(slow.ok()) << "fast accepted, slow rejected: " << line << "\n"
                           << slow.status().message();
    ASSERT_EQ(slow->requests[0].isl, fast.isl) << line;
    ASSERT_EQ(slow->requests[0].osl, fast.osl) << line;
    ASSERT_EQ(slow->requests[0].block_hashes, fast.block_hashes) << line;
    // Arrivals are made relative to the first request, so compare the raw timestamp separately.
    auto raw = ReadMooncakeTrace(
        "{\"timestamp\": 0, \"input_length\": 1, \"output_length\": 1, \"q\": 0}\n" + slow_line +
            "\n",
        "t.jsonl", TraceOptions{});
    ASSERT_TRUE(raw.ok());
    ASSERT_EQ(raw->requests.back().arrival, fast.arrival) << line;
  }
  EXPECT_GT(fast_accepted, 2500);
}

}  // namespace
}  // namespace dynamo
