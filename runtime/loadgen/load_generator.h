#pragma once
// The in-tree load generator: drives dynamo-run's OpenAI-compatible frontend with a workload
// (open loop at the workload's arrival times, or closed loop at a fixed concurrency) and
// measures what a client sees per request: TTFT, every inter-token gap, end-to-end latency.
// The protocol is in runtime/loadgen/README.md.

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <span>
#include <string>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "core/workload/request.h"

namespace dynamo::loadgen {

struct LoadOptions {
  std::string url = "http://127.0.0.1:8000";  // http only; errors name the url
  std::string endpoint = "completions";       // or "chat"
  std::string model;                          // "" -> GET /v1/models, data[0].id
  bool stream = true;
  // Arrivals are stretched by this factor; reported latencies are divided by it (so they read
  // in the plan's time when dynamo-run runs with the same --time-scale). > 0.
  double time_scale = 1.0;
  int concurrency = 0;       // > 0: closed loop with this many in flight (overrides the workload's)
  int64_t max_requests = 0;  // > 0: only the first N workload requests
  Duration request_timeout = Duration::Seconds(300);  // connect to last byte, per request
  uint64_t seed = 1;  // prompt tokens of requests without block hashes (PromptTokens)
  // Called on the load thread after each request finishes. May be empty.
  std::function<void(int64_t done, int64_t total)> progress;
  // Polled every few milliseconds; when true: stop sending, abort the requests in flight.
  const std::atomic<bool>* cancel = nullptr;
};

struct RequestResult {
  int64_t id = 0;       // workload request id (also sent as X-Request-Id)
  bool ok = false;      // a full response: [DONE] (streaming) or the whole JSON body
  int http_status = 0;  // 0 when no response head arrived
  std::string error;    // why !ok, e.g. "HTTP 503: overloaded"
  int32_t prompt_tokens = 0;
  int32_t output_tokens = 0;             // as counted from the chunks (usage when not streaming)
  int32_t usage_completion_tokens = -1;  // the last usage.completion_tokens seen; -1 if none
  int32_t max_tokens = 0;                // the request's osl
  double scheduled_s = 0;  // due time since the start of the run (arrival x time_scale), wall s
  double sent_s = 0;       // when its bytes started being written, wall s since the start
  // Latencies in plan time (wall / time_scale), from sent_s. Non-streaming: ttft = e2e.
  double ttft_ms = 0;
  double e2e_ms = 0;
  // One gap per token after the first: a chunk of k tokens arriving g after the previous
  // content chunk adds k gaps of g / k; tokens beyond the first in the first chunk add 0.
  std::vector<double> itl_ms;
};

struct LoadSummary {
  // Nearest-rank percentiles.
  struct Pct {
    double mean = 0, p50 = 0, p90 = 0, p99 = 0, max = 0;
  };
  int64_t requests = 0, completed = 0, failed = 0;
  double wall_s = 0;
  // Rates in plan time (x time_scale): offered = requests / last scheduled time; achieved =
  // completed / wall time.
  double offered_rps = 0, achieved_rps = 0;
  double output_tokens_per_s = 0;  // of completed requests, in plan time
  // Over completed requests: TTFT, every ITL gap, E2E.
  Pct ttft_ms, itl_ms, e2e_ms;
  int64_t incomplete_outputs = 0;         // completed with output_tokens != max_tokens
  std::map<std::string, int64_t> errors;  // error message (first 80 chars) -> count
};

// Sends the workload's requests (the first options.max_requests when > 0) and returns the
// results of those that finished, ordered by id. Runs its event loop on the calling thread.
// When options.cancel fires, requests not sent and those aborted in flight are left out.
// A failed request is a result, not an error. Errors: bad options (naming the value), a URL
// that does not resolve, a failing GET /v1/models, and a server refusing the first connection
// ("cannot reach URL: Connection refused; is dynamo-run running?").
StatusOr<std::vector<RequestResult>> RunLoad(const Workload& workload, const LoadOptions& options);

// `wall_s`: the run's wall-clock duration; `time_scale` as in LoadOptions.
LoadSummary Summarize(std::span<const RequestResult> results, double wall_s, double time_scale);

// The summary as a JSON object (keys as the struct's fields).
std::string SummaryJson(const LoadSummary& summary);

// One CSV row per result (id, ok, http_status, prompt/output/max tokens, times, error), written
// to a temporary file and renamed into place.
Status WriteRecordsCsv(const std::string& path, std::span<const RequestResult> results);

}  // namespace dynamo::loadgen
