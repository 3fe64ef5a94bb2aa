#pragma once
// Readers of real request traces into the Workload stream type.
// - Mooncake JSONL: one object per line: "timestamp" (ms), "input_length", "output_length",
//   "hash_ids" (one id per block_tokens = 512 prompt tokens; equal ids = shared prefix).
// - Azure LLM inference CSV: TIMESTAMP ("2023-11-16 18:17:03.9799600" or seconds),
//   ContextTokens, GeneratedTokens; no prefix information.
// Arrivals are made relative to the first request. Errors name file:line, the field, the bad
// value and what is allowed.

#include <cstdint>
#include <string>
#include <string_view>

#include "core/status.h"
#include "core/workload/request.h"

namespace dynamo {

struct TraceOptions {
  int64_t first = 0;           // keep the first N requests (0: all)
  double time_scale = 1.0;     // multiply inter-arrival times (0.5: twice the rate)
  double rate_rps = 0.0;       // > 0: rescale times so the mean arrival rate is this
  int32_t block_tokens = 512;  // Mooncake hash_ids granularity
};

enum class TraceFormat { kMooncake, kAzure };

StatusOr<Workload> ReadMooncakeTrace(std::string_view text, const std::string& source,
                                     const TraceOptions& options);
StatusOr<Workload> ReadAzureTrace(std::string_view text, const std::string& source,
                                  const TraceOptions& options);
StatusOr<Workload> LoadTrace(const std::string& path, TraceFormat format,
                             const TraceOptions& options);

namespace internal {
// Fast path of the Mooncake reader: a strict scanner of one well-formed line (exactly the keys
// timestamp, input_length, output_length and optionally hash_ids, each once, valid values).
// Returns false for anything else; the reader then parses the line with the JSON library, which
// accepts the same lines with the same values and reports errors. Exposed for tests.
bool ParseMooncakeLineFast(std::string_view line, int32_t block_tokens, Request& out);
}  // namespace internal

// Parses "YYYY-MM-DD HH:MM:SS[.fraction]" (or 'T' separator) into ns since 1970-01-01 UTC.
StatusOr<int64_t> ParseTimestampNs(std::string_view s);

}  // namespace dynamo
