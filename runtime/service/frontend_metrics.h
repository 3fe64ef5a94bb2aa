#pragma once
// FrontendMetrics: the Prometheus series dynamo-run's frontend exports at GET /metrics, named as
// Dynamo's frontend names them (prefix dynamo_frontend_, label model; buckets as Dynamo's
// defaults: ../shared/reference/dynamo-runtime.md section 7). Latencies are in real seconds (a
// --time-scale run reports the scaled wall time). Not thread-safe: the frontend's io thread.
#include <string>

#include "runtime/api/openai_api.h"
#include "runtime/api/prometheus.h"

namespace dynamo::service {

enum class RequestStatus : uint8_t { kSuccess, kError, kCancelled };

class FrontendMetrics {
  // First member: the references below point into it.
  api::Registry registry_;

 public:
  explicit FrontendMetrics(const std::string& model);
  FrontendMetrics(const FrontendMetrics&) = delete;
  FrontendMetrics& operator=(const FrontendMetrics&) = delete;

  void RequestDone(api::Endpoint endpoint, RequestStatus status);
  std::string Render() const { return registry_.Render(); }

  api::Gauge& inflight;  // accepted, not yet answered
  api::Gauge& queued;    // accepted, no token yet
  api::Histogram& ttft_s;
  api::Histogram& itl_s;
  api::Histogram& duration_s;
  api::Histogram& input_tokens;
  api::Histogram& output_tokens;
  api::Counter& input_tokens_total;
  api::Counter& output_tokens_total;
  api::Counter& disconnected_clients;
  api::Counter& migrations;
  api::Counter& rejections;  // 503: overload, no workers, shutting down
  api::Gauge& workers;       // connected workers
  api::Gauge& router_queue;  // requests waiting in the router (kv queueing) or for a worker
  // Disaggregated plans: KV pulls by the decode workers, and their duration.
  api::Counter& kv_transfers_ok;
  api::Counter& kv_transfers_fallback;  // failed or timed out: the decode worker prefilled
  api::Histogram& kv_transfer_s;
  api::Counter& kv_transfer_bytes;

 private:
  // [endpoint][status]
  api::Counter* requests_[2][3] = {};
};

}  // namespace dynamo::service
