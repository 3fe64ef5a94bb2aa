#include "runtime/service/frontend_metrics.h"

namespace dynamo::service {
FrontendMetrics::FrontendMetrics(const std::string& model)
    : inflight(registry_.AddGauge("dynamo_frontend_inflight_requests",
                                  "Requests accepted and not yet answered", {{"model", model}})),
      queued(registry_.AddGauge("dynamo_frontend_queued_requests",
                                "Requests accepted that have no token yet", {{"model", model}})),
      ttft_s(registry_.AddHistogram("dynamo_frontend_time_to_first_token_seconds",
                                    "Time to first token", api::LogBuckets(0.001, 480, 18),
                                    {{"model", model}})),
      itl_s(registry_.AddHistogram("dynamo_frontend_inter_token_latency_seconds",
                                   "Gap between consecutive tokens of a request",
                                   api::LogBuckets(0.001, 2, 13), {{"model", model}})),
      duration_s(registry_.AddHistogram("dynamo_frontend_request_duration_seconds",
                                        "Request duration, accepted to last byte",
                                        api::LogBuckets(0.001, 512, 20), {{"model", model}})),
      input_tokens(registry_.AddHistogram("dynamo_frontend_input_sequence_tokens",
                                          "Prompt tokens per request",
                                          api::LogBuckets(50, 128000, 12), {{"model", model}})),
      output_tokens(registry_.AddHistogram("dynamo_frontend_output_sequence_tokens",
                                           "Output tokens per request",
                                           api::LogBuckets(50, 32000, 10), {{"model", model}})),
      input_tokens_total(registry_.AddCounter("dynamo_frontend_input_tokens_total",
                                              "Prompt tokens of accepted requests",
                                              {{"model", model}})),
      output_tokens_total(registry_.AddCounter("dynamo_frontend_output_tokens_total",
                                               "Tokens sent to clients", {{"model", model}})),
      disconnected_clients(registry_.AddCounter("dynamo_frontend_disconnected_clients",
                                                "Clients that went away before their answer",
                                                {{"model", model}})),
      migrations(registry_.AddCounter("dynamo_frontend_model_migration_total",
                                      "Requests moved to another worker after a worker failed",
                                      {{"model", model}})),
      rejections(registry_.AddCounter("dynamo_frontend_model_rejection_total",
                                      "Requests refused with 503 (overload, no workers, shutdown)",
                                      {{"model", model}})),
      workers(registry_.AddGauge("dynamo_frontend_workers", "Workers connected and routed to",
                                 {{"model", model}})),
      router_queue(registry_.AddGauge("dynamo_frontend_router_queue_pending_requests",
                                      "Requests waiting for a worker", {{"model", model}})),
      kv_transfers_ok(registry_.AddCounter("dynamo_frontend_kv_transfers_total",
                                           "KV pulls from prefill to decode workers, by result",
                                           {{"model", model}, {"result", "ok"}})),
      kv_transfers_fallback(
          registry_.AddCounter("dynamo_frontend_kv_transfers_total",
                               "KV pulls from prefill to decode workers, by result",
                               {{"model", model}, {"result", "fallback"}})),
      kv_transfer_s(registry_.AddHistogram("dynamo_frontend_kv_transfer_seconds",
                                           "KV pull duration (reserved blocks to KV arrived)",
                                           api::LogBuckets(0.0001, 10, 16), {{"model", model}})),
      kv_transfer_bytes(registry_.AddCounter("dynamo_frontend_kv_transfer_bytes_total",
                                             "KV bytes moved from prefill to decode workers",
                                             {{"model", model}})) {
  static constexpr const char* kEndpoints[] = {"completions", "chat_completions"};
  static constexpr const char* kStatus[] = {"success", "error", "cancelled"};
  for (int e = 0; e < 2; ++e) {
    for (int s = 0; s < 3; ++s) {
      requests_[e][s] = &registry_.AddCounter(
          "dynamo_frontend_requests_total", "Requests answered, by endpoint and outcome",
          {{"model", model}, {"endpoint", kEndpoints[e]}, {"status", kStatus[s]}});
    }
  }
}

void FrontendMetrics::RequestDone(api::Endpoint endpoint, RequestStatus status) {
  requests_[static_cast<int>(endpoint)][static_cast<int>(status)]->Inc();
}

}  // namespace dynamo::service
