#pragma once
// The one request stream type every workload source produces (synthetic specs, Mooncake and
// Azure traces) and every consumer reads (simulator, runtime load generator, describe).

#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/time.h"

namespace dynamo {

struct Request {
  RequestId id;       // dense: index in Workload::requests
  Time arrival;       // since the start of the workload; 0 for closed-loop workloads
  int32_t isl = 0;    // prompt tokens
  int32_t osl = 0;    // tokens to generate
  SessionId session;  // conversation; a fresh session per request when there are none
  int32_t turn = 0;   // 0-based turn within the session
  // Prompt content identity, one hash per Workload::block_tokens tokens (the last block may be
  // partial): equal hashes at position i mean identical prompts through block i. Empty when the
  // source has no prefix information (Azure traces).
  std::vector<uint64_t> block_hashes;
  // Token ids of the prompt when the source provides them (synthetic "token_ids": true);
  // consistent with block_hashes. Empty otherwise.
  std::vector<int32_t> token_ids;
};

struct Workload {
  std::vector<Request> requests;  // sorted by (arrival, id); ids are 0..n-1 in this order
  int32_t block_tokens = 0;       // tokens per block hash; 0 when there is no prefix information
  // > 0: a closed loop that keeps this many requests in flight; arrivals follow completions, so
  // every Request::arrival is 0 and only the order of requests matters.
  int32_t closed_loop_concurrency = 0;
  uint64_t seed = 0;   // the seed that generated it (0 for traces)
  std::string source;  // file it came from, for messages and reports
};

// Sorts by arrival (stable, so equal times keep file order) and renumbers ids 0..n-1.
void FinalizeOrder(Workload& w);

}  // namespace dynamo
