// Property test: every parser, fed random garbage and random mutations of valid inputs, returns
// either a value or an error that names its source; it never crashes, hangs or throws. Seeds are
// printed on failure (SCOPED_TRACE).
#include <gtest/gtest.h>

#include <functional>
#include <string>
#include <vector>

#include "core/embedded_data.h"
#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/model/model_spec.h"
#include "core/rng.h"
#include "core/workload/synthetic_workload.h"
#include "core/workload/trace_reader.h"

namespace dynamo {
namespace {

constexpr int kIterations = 2500;

const char* const kTokens[] = {"{",
                               "}",
                               "[",
                               "]",
                               ",",
                               ":",
                               "\"",
                               "\\",
                               "-1",
                               "0",
                               "1e308",
                               "-1e308",
                               "1e-320",
                               "99999999999999999999",
                               "3.5",
                               "null",
                               "true",
                               "\"x\"",
                               "\n",
                               "\r\n",
                               " ",
                               "NaN",
                               "\xff",
                               "\0",
                               "\"hash_ids\"",
                               "\"timestamp\"",
                               "\"requests\"",
                               "\"rate_rps\"",
                               "\"dist\"",
                               "\"steps\"",
                               "2023-11-16 18:17:03.9",
                               ",,,",
                               "\"\"\""};

std::string Mutate(std::string s, RngStream& rng) {
  const int edits = 1 + static_cast<int>(rng.Below(6));
  for (int e = 0; e < edits; ++e) {
    const size_t pos = s.empty() ? 0 : rng.Below(s.size() + 1);
    switch (rng.Below(6)) {
      case 0:  // flip a byte
        if (!s.empty()) s[std::min(pos, s.size() - 1)] = static_cast<char>(rng.Below(256));
        break;
      case 1: {  // insert a token
        const std::string tok = kTokens[rng.Below(std::size(kTokens))];
        s.insert(pos, tok);
        break;
      }
      case 2:  // delete a range
        if (!s.empty()) s.erase(std::min(pos, s.size() - 1), 1 + rng.Below(20));
        break;
      case 3:  // truncate
        s.resize(pos);
        break;
      case 4: {  // duplicate a range
        if (s.empty()) break;
        const size_t from = rng.Below(s.size());
        s.insert(pos, s.substr(from, 1 + rng.Below(30)));
        break;
      }
      case 5: {  // replace a number with an extreme one
        const size_t d = s.find_first_of("0123456789", pos);
        if (d == std::string::npos) break;
        const size_t end = s.find_first_not_of("0123456789.e", d);
        const char* extremes[] = {"-7", "0", "1e300", "4294967297", "0.5", "1e-9", "-0"};
        s.replace(d, (end == std::string::npos ? s.size() : end) - d, extremes[rng.Below(7)]);
        break;
      }
    }
  }
  return s;
}

std::string Garbage(RngStream& rng) {
  std::string s;
  const size_t n = rng.Below(300);
  for (size_t i = 0; i < n; ++i) {
    s += rng.Below(3) == 0 ? std::string(1, static_cast<char>(rng.Below(256)))
                           : std::string(kTokens[rng.Below(std::size(kTokens))]);
  }
  return s;
}

// Runs `parse` on garbage and mutations of each seed input; errors must name "fuzz".
void Fuzz(const std::string& name, const std::vector<std::string>& seeds,
          const std::function<Status(const std::string&)>& parse) {
  RngStream rng(20261121, name);
  int ok = 0, errors = 0;
  for (int i = 0; i < kIterations; ++i) {
    const std::string input =
        (i % 5 == 0 || seeds.empty()) ? Garbage(rng) : Mutate(seeds[i % seeds.size()], rng);
    SCOPED_TRACE(name + " iteration " + std::to_string(i) + " (stream seed 20261121)");
    Status s;
    try {
      s = parse(input);
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw " << e.what() << " on input:\n" << input;
      continue;
    }
    if (s.ok()) {
      ok++;
    } else {
      errors++;
      EXPECT_NE(s.message().find("fuzz"), std::string::npos) << s.message();
    }
  }
  // The mutations must exercise both outcomes (otherwise the fuzzer is not reaching the parser).
  EXPECT_GT(errors, kIterations / 10) << name;
  if (!seeds.empty()) {
    EXPECT_GT(ok, 0) << name;
  }
}

std::vector<std::string> Embedded(std::string_view dir) {
  std::vector<std::string> out;
  for (const auto& path : ListEmbeddedFiles(dir)) {
    if (path.size() > 5 && path.substr(path.size() - 5) == ".json") {
      out.emplace_back(*FindEmbeddedFile(path));
    }
  }
  return out;
}

TEST(ParsersPropertyTest, Json) {
  Fuzz("json", Embedded("models"),
       [](const std::string& in) { return JsonDocument::Parse(in, "fuzz.json").status(); });
}

TEST(ParsersPropertyTest, ModelConfig) {
  Fuzz("model", Embedded("models"), [](const std::string& in) {
    ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(in, "fuzz.json"));
    ASSIGN_OR_RETURN(ModelSpec m, ModelSpec::FromConfig(root, "fuzz"));
    // Derived figures must be computable for whatever parsed.
    (void)m.Params();
    (void)m.KvBytesPerToken(DType::kBf16);
    (void)m.AttentionFlopsPerToken(4096);
    if (m.CheckParallelism({2, 2, 1}).ok()) (void)m.WeightBytesPerGpu({2, 2, 1}, DType::kFp8);
    return Status::Ok();
  });
}

TEST(ParsersPropertyTest, HardwareCatalog) {
  Fuzz("gpu", Embedded("hardware"), [](const std::string& in) {
    ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(in, "fuzz.json"));
    return GpuSpec::FromJson(root).status();
  });
}

TEST(ParsersPropertyTest, WorkloadSpec) {
  std::vector<std::string> seeds = Embedded("workloads");
  seeds.push_back(R"({"requests": 50, "seed": 2, "arrival": {"process": "gamma", "rate_rps": 3,
    "cv": 2}, "isl": {"dist": "normal", "mean": 300, "std": 90, "min": 1, "max": 900},
    "osl": {"dist": "uniform", "min": 1, "max": 60}, "sessions": {"turns": {"dist": "uniform",
    "min": 1, "max": 4}, "think_time_s": {"dist": "lognormal", "mean": 3, "std": 2}}})");
  seeds.push_back(R"({"duration_s": 30, "arrival": {"process": "poisson", "shape": {"kind":
    "steps", "steps": [[0, 1], [10, 3]]}}, "isl": 64, "osl": 8, "token_ids": true})");
  seeds.push_back(R"({"duration_s": 20, "arrival": {"process": "constant", "shape": {"kind":
    "sinusoid", "period_s": 10, "min_rps": 0, "max_rps": 4}}, "isl": 64, "osl": 8})");
  seeds.push_back(R"({"requests": 20, "arrival": {"process": "concurrency", "concurrency": 4},
    "isl": 64, "osl": 8, "prefix": {"groups": 2, "shared_tokens": 32}})");
  Fuzz("workload", seeds, [](const std::string& in) {
    ASSIGN_OR_RETURN(JsonNode root, JsonDocument::Parse(in, "fuzz.json"));
    ASSIGN_OR_RETURN(SyntheticSpec spec, SyntheticSpec::Parse(root, ""));
    // Generate only what stays small; sizes are capped separately (see the size test below).
    const bool small = spec.requests > 0 && spec.requests <= 500 && spec.isl.Mean() < 1e4;
    if (small) return GenerateWorkload(spec, "fuzz.json").status();
    return Status::Ok();
  });
}

TEST(ParsersPropertyTest, MooncakeTrace) {
  const std::string seed =
      "{\"timestamp\": 0, \"input_length\": 600, \"output_length\": 20, \"hash_ids\": [0, 1]}\n"
      "{\"timestamp\": 27, \"input_length\": 100, \"output_length\": 5, \"hash_ids\": [0]}\n"
      "{\"timestamp\": 90.5, \"input_length\": 1500, \"output_length\": 9, \"hash_ids\": [2, 3, "
      "4]}\n";
  Fuzz("mooncake", {seed}, [](const std::string& in) {
    return ReadMooncakeTrace(in, "fuzz.jsonl", TraceOptions{}).status();
  });
}

TEST(ParsersPropertyTest, AzureTrace) {
  const std::string seed =
      "TIMESTAMP,ContextTokens,GeneratedTokens\n"
      "2023-11-16 18:15:46.6805900,374,44\n"
      "2023-11-16 18:15:50.9951690,396,109\n"
      "2023-11-16 18:15:51.2224670,879,55\n";
  Fuzz("azure", {seed}, [](const std::string& in) {
    return ReadAzureTrace(in, "fuzz.csv", TraceOptions{.rate_rps = 2}).status();
  });
}

TEST(ParsersPropertyTest, HugeWorkloadsAreRefusedNotAllocated) {
  auto root = JsonDocument::Parse(R"({"requests": 10000000, "arrival": {"process": "poisson",
      "rate_rps": 1}, "isl": 10000000, "osl": 1, "block_tokens": 1})",
                                  "fuzz.json");
  ASSERT_TRUE(root.ok());
  auto spec = SyntheticSpec::Parse(*root, "");
  ASSERT_TRUE(spec.ok());
  auto w = GenerateWorkload(*spec, "fuzz.json");
  ASSERT_FALSE(w.ok());
  EXPECT_EQ(w.status().message(),
            "fuzz.json: the workload needs about 745058 GiB of prompt hashes, over the 2 GiB "
            "budget; raise block_tokens, lower requests or isl");
}

}  // namespace
}  // namespace dynamo
