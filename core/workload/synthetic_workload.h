#pragma once
// Synthetic workloads from a spec (workload.json; docs/formats.md#workload):
// { "requests": 20000 | "duration_s": 600, "seed": 7,
//   "arrival": {...},                  (core/workload/arrival.h)
//   "isl": {...}, "osl": {...},        (core/workload/distribution_spec.h; token counts >= 1)
//   "prefix": {"groups": 4, "shared_tokens": 1024},
//   "sessions": {"turns": {...}, "think_time_s": {...}},
//   "block_tokens": 16, "token_ids": false, "vocab_size": 32000 }
//
// Prompt content is modelled as segments (a group's shared system prompt, each turn's user
// message, each turn's answer); block hashes chain over segment pieces, so two prompts get the
// same hash at block i exactly when their first i+1 blocks hold the same content.
// - prefix: each session picks one of `groups` shared prompts; ISL counts it (a request's own
//   part is max(1, isl - shared_tokens) tokens).
// - sessions: multi-turn conversations. Turn k's prompt resends turns 0..k-1 (prompts and
//   answers) followed by a new user message whose length is drawn from "isl"; turn k arrives
//   think_time_s after turn k-1's arrival.

#include <cstdint>
#include <optional>
#include <string>

#include "core/workload/arrival.h"
#include "core/workload/distribution_spec.h"
#include "core/workload/request.h"

namespace dynamo {

struct SyntheticSpec {
  int64_t requests = 0;   // count mode when > 0
  double duration_s = 0;  // duration mode when > 0 (open loop only)
  uint64_t seed = 0;
  ArrivalSpec arrival;
  DistributionSpec isl = DistributionSpec::Fixed(1);
  DistributionSpec osl = DistributionSpec::Fixed(1);
  int64_t prefix_groups = 0;
  int64_t shared_tokens = 0;
  std::optional<DistributionSpec> turns;         // sessions when set
  std::optional<DistributionSpec> think_time_s;  // default 0 when sessions are set
  int32_t block_tokens = 16;
  bool token_ids = false;
  int32_t vocab_size = 32000;

  // `base_dir` resolves relative file paths (empirical distributions).
  static StatusOr<SyntheticSpec> Parse(const JsonNode& root, const std::string& base_dir);
};

StatusOr<Workload> GenerateWorkload(const SyntheticSpec& spec, const std::string& source);

}  // namespace dynamo
