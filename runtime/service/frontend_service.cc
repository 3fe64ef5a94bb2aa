#include "runtime/service/frontend_service.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <deque>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "core/file_io.h"
#include "core/perf/step_latency.h"
#include "core/workload/csv.h"
#include "planner/connectors/scaling_connector.h"
#include "planner/interval_observer.h"
#include "planner/plan_planner.h"
#include "runtime/api/mock_tokenizer.h"
#include "runtime/api/openai_api.h"
#include "runtime/http/http_server.h"
#include "runtime/net/connection.h"
#include "runtime/router/block_hash.h"
#include "runtime/router/plan_router.h"
#include "runtime/service/frontend_metrics.h"
#include "runtime/service/real_clock.h"
#include "runtime/service/run_dir.h"

namespace dynamo::service {

namespace asio = boost::asio;
using net::Connection;

namespace {

constexpr uint32_t kNoWorker = UINT32_MAX;
// A client that does not read its stream: beyond this much unsent output it is dropped.
constexpr size_t kMaxClientBacklogBytes = 8u << 20;

std::string Hex(uint64_t v) {
  char b[17];
  std::snprintf(b, sizeof(b), "%016llx", static_cast<unsigned long long>(v));
  return b;
}

}  // namespace

class FrontendService::Impl {
 public:
  Impl(asio::io_context& io, const Plan& plan, FrontendOptions opt)
      : io_(io),
        plan_(plan),
        opt_(std::move(opt)),
        metrics_(opt_.model_name),
        scan_timer_(io),
        sweep_timer_(io),
        drain_timer_(io),
        flush_timer_(io),
        planner_timer_(io) {}

  ~Impl() {
    for (auto& [id, w] : workers_) {
      if (w.conn) w.conn->Abort();
    }
  }
  Status Init();
  uint16_t port() const { return http_->port(); }
  bool ready() const { return ready_; }
  void OnReady(std::function<void()> cb) {
    if (ready_) {
      asio::post(io_, std::move(cb));
    } else {
      on_ready_ = std::move(cb);
    }
  }
  void Shutdown(std::function<void()> done);
  const FrontendStats& stats() const { return stats_; }
  bool DrainWorker(const std::string& name);

 private:
  enum class WorkerState : uint8_t { kConnecting, kActive, kDraining, kGone };
  struct Worker {
    std::string name;
    int32_t pool = 0;
    int32_t replica = -1;
    WorkerRole role = WorkerRole::kAggregated;
    std::string host;
    uint16_t port = 0;
    uint64_t heartbeat = 0;
    Time heartbeat_seen;  // when `heartbeat` last changed, by our clock
    WorkerState state = WorkerState::kConnecting;
    std::shared_ptr<Connection> conn;
    bool in_router = false;
    int32_t max_num_batched_tokens = 8192;  // from its hello: the router's busy threshold
    int64_t num_blocks = 0;                 // its KV capacity, from its hello
    std::string kv_address;                 // its UCX KV-transfer address (prefill workers)
    net::Load load;
  };
  struct Pending {
    std::shared_ptr<http::HttpExchange> ex;
    api::Endpoint endpoint = api::Endpoint::kCompletions;
    bool stream = false;
    bool include_usage = false;
    api::ResponseMeta meta;
    std::string client_id;         // X-Request-Id, for logs and routing.csv
    std::vector<uint64_t> hashes;  // prompt block hashes at the workers' block size
    int32_t prompt_tokens = 0;
    int32_t max_tokens = 1;
    uint64_t seed = 0;
    uint32_t worker = kNoWorker;  // where it runs now
    // Disaggregated: the prefill worker holding the prompt's KV until the decode worker pulled it.
    uint32_t kv_holder = kNoWorker;
    bool in_router_queue = false;  // waits in the router (kv queueing)
    bool parked = false;           // waits for any worker
    Time parked_at;
    int32_t generated = 0;  // tokens sent to the client
    int32_t migrations = 0;
    std::string text;  // non-streaming: the answer so far
    Time start, last_token;
  };
  struct RoutingRecord {
    uint64_t id;
    std::string client_id;
    uint32_t worker;
    int32_t overlap;
    int32_t migration;
    WorkerRole role;
  };

  Time Now() const { return clock_.Now(); }

  // HTTP.
  void Handle(const http::HttpRequest& req, std::shared_ptr<http::HttpExchange> ex);
  void HandleGenerate(api::Endpoint endpoint, const http::HttpRequest& req,
                      std::shared_ptr<http::HttpExchange> ex);
  void HandleHealth(const std::shared_ptr<http::HttpExchange>& ex);
  // Workers without a shared run directory (Kubernetes) register over HTTP: POST
  // /internal/workers with their registration JSON every heartbeat, POST
  // /internal/workers/deregister {"name"} when they leave cleanly.
  void HandleRegister(const http::HttpRequest& req, http::HttpExchange& ex);
  void HandleDeregister(const http::HttpRequest& req, http::HttpExchange& ex);
  // The gauges, derived from the request and worker tables when scraped (no counts to keep in
  // step with every state change).
  void RefreshGauges();
  static void RespondError(http::HttpExchange& ex, int status, std::string_view message,
                           std::string_view type = "invalid_request_error");

  // Requests.
  void Dispatch(uint64_t id);  // route (or park) and send
  // Disaggregated: the decode half. With a KV holder alive the decode worker pulls the prompt's
  // KV from it; without (a migration after the decode worker died) it prefills itself.
  void DispatchDecode(uint64_t id);
  void SendTo(uint64_t id, uint32_t worker, int32_t overlap, const std::string& kv_source = "");
  // The router for workers of `role` (prefill and agg share router_).
  router::Router& RouterFor(WorkerRole role) {
    return role == WorkerRole::kDecode ? *decode_router_ : *router_;
  }
  bool CanRoute(const Pending& p) const;
  // Disaggregated: no decode worker could ever hold prompt + output (the simulator's check).
  std::optional<std::string> DecodeCapacityError(const Pending& p) const;
  void OnPrefillDone(uint64_t id, uint32_t prefill_worker);
  void OnKvTransferDone(uint32_t w, const net::KvTransferDone& m);
  void ReleaseKvHolder(uint64_t id, Pending& p);  // frees the prefill worker's copy
  void DrainRouterQueue();
  void RetryParked();
  void OnStep(uint32_t w, net::StepReport& rep);
  void OnRejected(uint32_t w, const net::Rejected& r);
  // Sends (or, not streaming, keeps) one token. False when the request is gone after it (a
  // client that stopped reading is dropped): `p` is then dangling.
  bool EmitToken(uint64_t id, Pending& p, const net::TokenOut& t, bool last);
  void Complete(uint64_t id);
  void Fail(uint64_t id, int status, const std::string& message);
  void OnClientGone(uint64_t id);
  void CancelOnWorker(uint64_t id, Pending& p);  // frees its KV there (and a prefill copy)
  void Forget(uint64_t id, RequestStatus status);

  // Workers.
  void Scan();
  void Observe(const Registration& reg);
  void Connect(uint32_t w);
  void OnWorkerMessage(uint32_t w, net::Message&& m);
  void OnWorkerHello(uint32_t w, const net::Hello& h);
  void LoseWorker(uint32_t w, const std::string& why);
  void MaybeReady();
  void AddToRouter(uint32_t w);
  uint32_t PlanOrdinal(int32_t pool, int32_t replica) const;
  int ActiveWorkers() const;

  void SweepParked();
  void MaybeFinishShutdown();
  void WriteRoutingLog();

  // Planner.
  Status InitPlanner();
  void ArmPlanner();
  void PlannerTick();
  void Scale(WorkerRole role, int replicas);
  struct PlannerRow {
    double t_s = 0;
    int64_t arrivals = 0;
    double ttft_ms = -1, itl_ms = -1;
    planner::ScalingDecision d;
  };
  void WritePlannerLog();

  asio::io_context& io_;
  const Plan& plan_;
  FrontendOptions opt_;
  FrontendMetrics metrics_;
  api::MockTokenizer tokenizer_;
  api::ParseOptions parse_;
  std::unique_ptr<http::HttpServer> http_;
  std::optional<router::Router> router_;         // aggregated, or prefill (disaggregated)
  std::optional<router::Router> decode_router_;  // disaggregated only
  std::optional<RunDir> run_dir_;
  int32_t block_size_ = 16;
  int32_t planned_workers_ = 0;
  asio::steady_timer scan_timer_, sweep_timer_, drain_timer_, flush_timer_, planner_timer_;
  RealClock clock_;
  int64_t created_unix_ = 0;

  std::map<uint32_t, Worker> workers_;  // router WorkerId value -> worker
  std::unordered_map<std::string, uint32_t> by_name_;
  std::map<std::string, Registration> http_registrations_;  // by name (HandleRegister)
  uint32_t next_extra_id_ = 0;                              // ids after the plan's ordinals
  bool ready_ = false;
  std::function<void()> on_ready_;

  std::unordered_map<uint64_t, Pending> pending_;
  std::deque<uint64_t> parked_;
  uint64_t next_id_ = 1;
  std::vector<RoutingRecord> routing_;

  bool shutting_down_ = false;
  bool shutdown_done_ = false;
  std::vector<std::shared_ptr<http::HttpExchange>> flushing_;  // answered, bytes still queued
  std::function<void()> on_shutdown_;
  FrontendStats stats_;

  std::optional<planner::PlanPlanner> planner_;
  std::optional<planner::IntervalObserver> observer_;
  // Replicas per planner pool as last asked of the connector (starting + running, not draining).
  std::vector<int> planner_replicas_;
  std::vector<PlannerRow> planner_rows_;
};

// ---------------------------------------------------------------------------------------------
// Set-up

Status FrontendService::Impl::Init() {
  if (plan_.disaggregated() && (plan_.disagg.conditional || plan_.disagg.layerwise_streaming)) {
    return FailedPrecondition(
        plan_.source +
        ": $.disagg: conditional disaggregation and layer-wise KV streaming are simulated but not "
        "served by dynamo-run yet; set both to false to run this plan");
  }
  const bool disagg = plan_.disaggregated();
  ASSIGN_OR_RETURN(router::Router r,
                   router::MakeRouterFor(
                       plan_, disagg ? WorkerRole::kPrefill : WorkerRole::kAggregated, opt_.seed));
  router_.emplace(std::move(r));
  if (disagg) {
    ASSIGN_OR_RETURN(router::Router d,
                     router::MakeRouterFor(plan_, WorkerRole::kDecode, opt_.seed));
    decode_router_.emplace(std::move(d));
  }
  block_size_ = router_->config().block_size;
  for (const WorkerPoolSpec& p : plan_.workers) planned_workers_ += p.replicas;
  next_extra_id_ = static_cast<uint32_t>(planned_workers_);
  created_unix_ = static_cast<int64_t>(std::time(nullptr));

  parse_.served_model = opt_.model_name;
  parse_.tokenizer = &tokenizer_;
  parse_.max_model_len = plan_.model.max_position_embeddings() > 0
                             ? static_cast<int32_t>(plan_.model.max_position_embeddings())
                             : 131072;

  if (!opt_.run_dir.empty()) {
    ASSIGN_OR_RETURN(RunDir dir, RunDir::Open(opt_.run_dir, /*create=*/true));
    run_dir_.emplace(std::move(dir));
  }
  http::HttpServerOptions ho;
  ho.host = opt_.host;
  ho.port = opt_.port;
  ho.max_body_bytes = opt_.max_body_bytes;
  ho.request_timeout = opt_.http_request_timeout;
  ASSIGN_OR_RETURN(http_, http::HttpServer::Create(io_, ho,
                                                   [this](const http::HttpRequest& req,
                                                          std::shared_ptr<http::HttpExchange> ex) {
                                                     Handle(req, std::move(ex));
                                                   }));
  if (run_dir_) {
    RETURN_IF_ERROR(
        run_dir_->WriteFrontend({opt_.host, http_->port(), static_cast<uint32_t>(::getpid())}));
  }
  RETURN_IF_ERROR(InitPlanner());
  Scan();
  SweepParked();
  return Status::Ok();
}

Status FrontendService::Impl::InitPlanner() {
  if (!plan_.planner.enabled) return Status::Ok();
  if (opt_.scaling == nullptr) {
    std::fprintf(stderr,
                 "frontend: the plan enables the planner, but no scaling connector is "
                 "configured: the pools keep the plan's replicas\n");
    return Status::Ok();
  }
  // One step-latency model per plan pool, as the workers build theirs.
  std::vector<perf::StepLatencyModel> models;
  models.reserve(plan_.workers.size());
  for (size_t i = 0; i < plan_.workers.size(); ++i) {
    const WorkerPoolSpec& spec = plan_.workers[i];
    auto m = perf::StepLatencyModel::Create(
        plan_.model, perf::WorkerConfig{spec.parallelism, plan_.weight_dtype, plan_.kv_dtype},
        opt_.perf);
    if (!m.ok()) {
      return m.status().WithContext(plan_.source + ": $.workers[" + std::to_string(i) + "]");
    }
    models.push_back(std::move(*m));
  }
  std::vector<const perf::StepLatencyModel*> ptrs;
  for (const perf::StepLatencyModel& m : models) ptrs.push_back(&m);
  ASSIGN_OR_RETURN(planner::PlanPlanner pp, planner::MakePlannerFor(plan_, ptrs, opt_.system_gpus));
  planner_.emplace(std::move(pp));
  observer_.emplace(plan_.planner.percentile);
  for (int pool : planner_->plan_pools) {
    planner_replicas_.push_back(plan_.workers[static_cast<size_t>(pool)].replicas);
  }
  std::fprintf(stderr, "frontend: planner every %g s (x time scale %g) through %s\n",
               plan_.planner.interval_s, opt_.time_scale, opt_.scaling->Describe().c_str());
  return Status::Ok();
}

void FrontendService::Impl::ArmPlanner() {
  if (!planner_ || shutting_down_) return;
  const double seconds = plan_.planner.interval_s * opt_.time_scale;
  planner_timer_.expires_after(std::chrono::nanoseconds(static_cast<int64_t>(seconds * 1e9)));
  planner_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) PlannerTick();
  });
}

void FrontendService::Impl::PlannerTick() {
  const bool disagg = plan_.disaggregated();
  PlannerRow row;
  // The planner reasons in the plan's time: a --time-scale run's clock runs time_scale x slower.
  row.t_s = (Now() - Time::Zero()).seconds() / opt_.time_scale;
  row.arrivals = observer_->arrivals();
  const planner::Observation o =
      observer_->Close(disagg ? planner_replicas_[0] : 0, planner_replicas_[disagg ? 1 : 0]);
  row.ttft_ms = o.ttft_ms.value_or(-1);
  row.itl_ms = o.itl_ms.value_or(-1);
  row.d = planner_->planner.Tick(Time::Zero() + Duration::Seconds(row.t_s), o);
  ++stats_.planner_ticks;
  std::fprintf(
      stderr,
      "frontend: planner: %lld arrivals, TTFT %.1f ms, ITL %.1f ms -> forecast %.2f req/s; "
      "%s%d prefill, %d decode\n",
      static_cast<long long>(row.arrivals), row.ttft_ms, row.itl_ms, row.d.predicted_rps,
      disagg ? "" : "(aggregated) ", row.d.prefill_replicas, row.d.decode_replicas);
  planner_rows_.push_back(row);
  if (disagg) {
    Scale(WorkerRole::kPrefill, row.d.prefill_replicas);
    Scale(WorkerRole::kDecode, row.d.decode_replicas);
  } else {
    Scale(WorkerRole::kAggregated, row.d.decode_replicas);
  }
  ArmPlanner();
}

void FrontendService::Impl::Scale(WorkerRole role, int replicas) {
  const size_t k = role == WorkerRole::kDecode ? 1 : 0;
  const int current = planner_replicas_[k];
  if (replicas == current) return;
  (replicas > current ? stats_.scale_ups : stats_.scale_downs) += std::abs(replicas - current);
  planner_replicas_[k] = replicas;
  opt_.scaling->SetReplicas(role, replicas, [this, role, k](Status st) {
    if (st.ok()) return;
    std::fprintf(stderr, "frontend: planner: scaling %s: %s\n",
                 std::string(WorkerRoleName(role)).c_str(), st.ToString().c_str());
    // Partly done (a budget, a failed start): learn what the backend holds now.
    opt_.scaling->GetReplicas(role, [this, k](StatusOr<int> n) {
      if (n.ok()) planner_replicas_[k] = *n;
    });
  });
}

void FrontendService::Impl::WritePlannerLog() {
  if (!run_dir_ || planner_rows_.empty()) return;
  std::string csv =
      "t_s,arrivals,ttft_ms,itl_ms,predicted_rps,predicted_isl,predicted_osl,prefill_replicas,"
      "decode_replicas,expected_ttft_ms,expected_itl_ms\n";
  char line[512];
  for (const PlannerRow& r : planner_rows_) {
    std::snprintf(line, sizeof(line), "%.3f,%lld,%.3f,%.3f,%.4f,%.1f,%.1f,%d,%d,%.3f,%.3f\n", r.t_s,
                  static_cast<long long>(r.arrivals), r.ttft_ms, r.itl_ms, r.d.predicted_rps,
                  r.d.predicted_isl, r.d.predicted_osl, r.d.prefill_replicas, r.d.decode_replicas,
                  r.d.expected_ttft_ms, r.d.expected_itl_ms);
    csv += line;
  }
  const Status st = WriteFileAtomic(run_dir_->path() + "/planner.csv", csv);
  if (!st.ok()) std::fprintf(stderr, "frontend: %s\n", st.ToString().c_str());
}

bool FrontendService::Impl::DrainWorker(const std::string& name) {
  const auto it = by_name_.find(name);
  if (it == by_name_.end()) return false;
  Worker& w = workers_.at(it->second);
  if (w.state == WorkerState::kGone || w.state == WorkerState::kDraining) return false;
  if (w.in_router) {
    RouterFor(w.role).RemoveWorker(Now(), WorkerId(it->second));
    w.in_router = false;
  }
  if (observer_) observer_->WorkerLeft(WorkerId(it->second));
  const bool connected = w.state == WorkerState::kActive;
  w.state = WorkerState::kDraining;
  if (connected && w.conn) w.conn->Send(net::Drain{});
  std::fprintf(stderr, "frontend: worker %s draining (planner)\n", w.name.c_str());
  return true;
}

// ---------------------------------------------------------------------------------------------
// HTTP

void FrontendService::Impl::RespondError(http::HttpExchange& ex, int status,
                                         std::string_view message, std::string_view type) {
  ex.Respond(status, "application/json", api::ErrorBody(status, message, type));
}

void FrontendService::Impl::Handle(const http::HttpRequest& req,
                                   std::shared_ptr<http::HttpExchange> ex) {
  const bool get = req.method == "GET";
  const bool post = req.method == "POST";
  if (req.path == "/v1/completions" || req.path == "/v1/chat/completions") {
    if (!post) {
      return RespondError(*ex, 405, "use POST for " + req.path);
    }
    return HandleGenerate(req.path == "/v1/completions" ? api::Endpoint::kCompletions
                                                        : api::Endpoint::kChatCompletions,
                          req, std::move(ex));
  }
  if (get && req.path == "/v1/models") {
    return ex->Respond(200, "application/json", api::ModelsBody(opt_.model_name, created_unix_));
  }
  if (get && req.path == "/health") return HandleHealth(ex);
  if (post && req.path == "/internal/workers") return HandleRegister(req, *ex);
  if (post && req.path == "/internal/workers/deregister") return HandleDeregister(req, *ex);
  if (get && req.path == "/live") {
    return shutting_down_ ? RespondError(*ex, 503, "shutting down", "server_error")
                          : ex->Respond(200, "application/json", "{\"status\":\"live\"}");
  }
  if (get && req.path == "/metrics") {
    RefreshGauges();
    return ex->Respond(200, "text/plain; version=0.0.4; charset=utf-8", metrics_.Render());
  }
  RespondError(*ex, 404,
               "no route " + req.method + " " + req.path +
                   "; routes: POST /v1/completions, POST /v1/chat/completions, GET "
                   "/v1/models, /health, /live, /metrics",
               "not_found_error");
}

void FrontendService::Impl::RefreshGauges() {
  int64_t queued = 0, waiting = 0;
  for (const auto& [id, p] : pending_) {
    queued += p.generated == 0 ? 1 : 0;
    waiting += p.parked || p.in_router_queue ? 1 : 0;
  }
  int64_t routed = 0;
  for (const auto& [id, w] : workers_) routed += w.in_router ? 1 : 0;
  metrics_.inflight.Set(static_cast<double>(pending_.size()));
  metrics_.queued.Set(static_cast<double>(queued));
  metrics_.router_queue.Set(static_cast<double>(waiting));
  metrics_.workers.Set(static_cast<double>(routed));
}

void FrontendService::Impl::HandleHealth(const std::shared_ptr<http::HttpExchange>& ex) {
  static constexpr const char* kState[] = {"connecting", "active", "draining", "gone"};
  nlohmann::json instances = nlohmann::json::array();
  for (const auto& [id, w] : workers_) {
    if (w.state == WorkerState::kGone) continue;
    instances.push_back({{"name", w.name},
                         {"role", WorkerRoleName(w.role)},
                         {"state", kState[static_cast<int>(w.state)]},
                         {"running", w.load.running},
                         {"waiting", w.load.waiting}});
  }
  const nlohmann::json body = {
      {"status", shutting_down_ ? "shutting_down" : (ready_ ? "healthy" : "starting")},
      {"model", opt_.model_name},
      {"inflight", pending_.size()},
      {"instances", std::move(instances)}};
  ex->Respond(shutting_down_ ? 503 : 200, "application/json",
              body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
}

void FrontendService::Impl::HandleRegister(const http::HttpRequest& req, http::HttpExchange& ex) {
  if (shutting_down_) return RespondError(ex, 503, "shutting down", "server_error");
  StatusOr<Registration> reg = ParseRegistration(req.body, "POST /internal/workers");
  if (!reg.ok()) return RespondError(ex, 400, reg.status().message());
  if (reg->pool < 0 || reg->pool >= static_cast<int32_t>(plan_.workers.size()) ||
      plan_.workers[static_cast<size_t>(reg->pool)].role != reg->role) {
    return RespondError(ex, 400,
                        "POST /internal/workers: pool " + std::to_string(reg->pool) +
                            " with role " + std::string(WorkerRoleName(reg->role)) +
                            " is not in the plan " + plan_.source);
  }
  if (reg->host.empty() || reg->port == 0) {
    return RespondError(ex, 400, "POST /internal/workers: host and port are required");
  }
  http_registrations_[reg->name] = *reg;
  Observe(*reg);
  ex.Respond(200, "application/json", "{\"status\":\"registered\"}");
}

void FrontendService::Impl::HandleDeregister(const http::HttpRequest& req, http::HttpExchange& ex) {
  const nlohmann::json j = nlohmann::json::parse(req.body, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("name") || !j["name"].is_string()) {
    return RespondError(ex, 400, "POST /internal/workers/deregister: expected {\"name\": NAME}");
  }
  // The next scan sees the registration gone: the worker left cleanly.
  http_registrations_.erase(j["name"].get<std::string>());
  ex.Respond(200, "application/json", "{\"status\":\"deregistered\"}");
}

void FrontendService::Impl::HandleGenerate(api::Endpoint endpoint, const http::HttpRequest& req,
                                           std::shared_ptr<http::HttpExchange> ex) {
  if (shutting_down_) {
    ++stats_.rejected_503;
    metrics_.rejections.Inc();
    return RespondError(*ex, 503, "the server is shutting down; retry on another instance",
                        "server_error");
  }
  api::ParseResult parsed = api::ParseGenerateRequest(endpoint, req.body, parse_);
  if (auto* err = std::get_if<api::ApiError>(&parsed)) {
    metrics_.RequestDone(endpoint, RequestStatus::kError);
    return ex->Respond(err->http_status, "application/json", api::ErrorBody(*err));
  }
  api::GenerateRequest& g = std::get<api::GenerateRequest>(parsed);
  if (static_cast<int64_t>(pending_.size()) >= opt_.max_inflight) {
    ++stats_.rejected_503;
    metrics_.rejections.Inc();
    return RespondError(*ex, 503,
                        "overloaded: " + std::to_string(pending_.size()) +
                            " requests in flight (limit " + std::to_string(opt_.max_inflight) +
                            "); retry later",
                        "server_error");
  }
  const uint64_t id = next_id_++;
  Pending& p = pending_[id];
  p.ex = std::move(ex);
  p.endpoint = endpoint;
  p.stream = g.stream;
  p.include_usage = g.include_usage;
  p.meta.id = (endpoint == api::Endpoint::kCompletions ? "cmpl-" : "chatcmpl-") + Hex(id);
  p.meta.model = opt_.model_name;
  p.meta.created = static_cast<int64_t>(std::time(nullptr));
  p.client_id = std::string(req.header("x-request-id"));
  p.prompt_tokens = static_cast<int32_t>(g.prompt_tokens.size());
  p.max_tokens = g.max_tokens;
  p.seed = api::GenerationSeed(g.prompt_tokens, g.seed);
  p.hashes = router::TokenBlockHashes(g.prompt_tokens, block_size_);
  p.start = Now();
  ++stats_.accepted;
  if (observer_) observer_->Arrival(p.prompt_tokens, p.max_tokens);
  metrics_.input_tokens_total.Inc(p.prompt_tokens);
  metrics_.input_tokens.Observe(p.prompt_tokens);
  p.ex->OnClose([this, id] { OnClientGone(id); });
  Dispatch(id);
}

// ---------------------------------------------------------------------------------------------
// Requests

bool FrontendService::Impl::CanRoute(const Pending& p) const {
  if (!ready_) return false;
  if (!decode_router_) return router_->num_workers() > 0;
  // A prompt needs a prefill worker now and a decode worker later; a request past its first
  // token (a migration) needs a decode worker only.
  return decode_router_->num_workers() > 0 && (p.generated > 0 || router_->num_workers() > 0);
}

std::optional<std::string> FrontendService::Impl::DecodeCapacityError(const Pending& p) const {
  int64_t most = 0;
  for (const auto& [id, w] : workers_) {
    if (w.role == WorkerRole::kDecode && w.state == WorkerState::kActive) {
      most = std::max(most, w.num_blocks);
    }
  }
  const int64_t tokens = int64_t{p.prompt_tokens} + std::max(1, p.max_tokens);
  const int64_t need = (tokens + block_size_ - 1) / block_size_;
  if (most == 0 || need <= most) return std::nullopt;
  return "prompt of " + std::to_string(p.prompt_tokens) + " tokens + " +
         std::to_string(p.max_tokens) + " output tokens needs " + std::to_string(need) +
         " KV blocks; the largest decode worker has " + std::to_string(most) +
         "; shorten the prompt or max_tokens";
}

void FrontendService::Impl::Dispatch(uint64_t id) {
  Pending& p = pending_.at(id);
  if (!CanRoute(p)) {
    if (!p.parked) {
      p.parked = true;
      p.parked_at = Now();
      parked_.push_back(id);
    }
    return;
  }
  if (decode_router_) {
    if (p.generated > 0) return DispatchDecode(id);
    // A request no decode worker could ever hold is refused before any prefill work.
    if (std::optional<std::string> err = DecodeCapacityError(p)) return Fail(id, 400, *err);
  }
  const router::Decision d =
      router_->Route(Now(), {RequestId(id), p.prompt_tokens, p.hashes, p.max_tokens});
  if (d.queued) {
    p.in_router_queue = true;
    return;
  }
  SendTo(id, d.worker.value(), d.overlap_blocks);
}

void FrontendService::Impl::DispatchDecode(uint64_t id) {
  Pending& p = pending_.at(id);
  // As the simulator routes the decode half: no block hashes (the KV comes with the request).
  const router::Decision d =
      decode_router_->Route(Now(), {RequestId(id), p.prompt_tokens, {}, p.max_tokens});
  DYNAMO_CHECK(!d.queued);  // the decode router never queues (plan_router)
  std::string source;
  if (p.kv_holder != kNoWorker) {
    const auto h = workers_.find(p.kv_holder);
    if (h != workers_.end() && h->second.state != WorkerState::kGone) {
      source = h->second.kv_address;
    } else {
      p.kv_holder = kNoWorker;
    }
  }
  SendTo(id, d.worker.value(), d.overlap_blocks, source);
}

void FrontendService::Impl::SendTo(uint64_t id, uint32_t worker, int32_t overlap,
                                   const std::string& kv_source) {
  Pending& p = pending_.at(id);
  Worker& w = workers_.at(worker);
  p.worker = worker;
  routing_.push_back({id, p.client_id, worker, overlap, p.migrations, w.role});
  net::AddRequest add;
  add.id = id;
  add.prompt_tokens = p.prompt_tokens;
  add.max_output_tokens = p.max_tokens;
  add.generated_tokens = p.generated;
  add.generation_seed = p.seed;
  add.block_hashes = p.hashes;
  add.kv_remote = !kv_source.empty();
  add.kv_source = kv_source;
  w.conn->Send(add);
}

void FrontendService::Impl::DrainRouterQueue() {
  while (auto routed = router_->Dequeue(Now())) {
    const auto it = pending_.find(routed->id.value());
    if (it == pending_.end()) {
      router_->Release(Now(), routed->id);
      continue;
    }
    it->second.in_router_queue = false;
    SendTo(routed->id.value(), routed->decision.worker.value(), routed->decision.overlap_blocks);
  }
}

void FrontendService::Impl::RetryParked() {
  if (!ready_) return;
  std::deque<uint64_t> parked;
  parked.swap(parked_);
  for (uint64_t id : parked) {
    const auto it = pending_.find(id);
    if (it == pending_.end() || !it->second.parked) continue;
    if (!CanRoute(it->second)) {  // still no worker for it
      parked_.push_back(id);
      continue;
    }
    it->second.parked = false;
    Dispatch(id);
  }
}

void FrontendService::Impl::SweepParked() {
  // Requests waiting for a worker too long fail; then look again in a second.
  const Time now = Now();
  std::vector<uint64_t> expired;
  for (uint64_t id : parked_) {
    const auto it = pending_.find(id);
    if (it != pending_.end() && it->second.parked &&
        now - it->second.parked_at > opt_.no_worker_timeout) {
      expired.push_back(id);
    }
  }
  for (uint64_t id : expired) {
    Fail(id, 503,
         "no worker became available within " +
             std::to_string(static_cast<int64_t>(opt_.no_worker_timeout.seconds())) + " s");
  }
  sweep_timer_.expires_after(std::chrono::seconds(1));
  sweep_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) SweepParked();
  });
}

void FrontendService::Impl::OnStep(uint32_t w, net::StepReport& rep) {
  const Time now = Now();
  const WorkerRole role = workers_.at(w).role;
  router::Router& router = RouterFor(role);
  bool prefill_done = false;
  if (observer_ && role != WorkerRole::kDecode) {
    for (const net::AdmittedOut& a : rep.admitted) {
      const auto it = pending_.find(a.id);
      if (it != pending_.end() && it->second.generated == 0) {
        observer_->Admitted(a.cached_tokens, it->second.prompt_tokens);
      }
    }
  }
  for (const net::TokenOut& t : rep.tokens) {
    const auto it = pending_.find(t.id);
    if (it == pending_.end() || it->second.worker != w) continue;  // cancelled or moved
    Pending& p = it->second;
    if (t.index != p.generated + 1) {
      // A migrated request restarts exactly after the last token the client has; anything
      // else is a worker bug: fail loudly rather than send a broken stream.
      Fail(t.id, 500,
           "worker " + workers_.at(w).name + " sent token " + std::to_string(t.index) + " after " +
               std::to_string(p.generated));
      continue;
    }
    if (observer_) {
      const double ms =
          ((now - (p.generated == 0 ? p.start : p.last_token)).millis()) / opt_.time_scale;
      if (p.generated == 0) {
        observer_->Ttft(WorkerId(w), ms);
      } else {
        observer_->Itl(WorkerId(w), ms);
      }
    }
    if (p.generated == 0) {
      metrics_.ttft_s.Observe((now - p.start).seconds());
      // As the simulator: a prefill worker's router releases the request once its KV is handed
      // off (OnPrefillDone), the others learn that the prompt is done.
      if (role != WorkerRole::kPrefill) router.PrefillDone(now, RequestId(t.id));
      prefill_done = true;
    } else {
      metrics_.itl_s.Observe((now - p.last_token).seconds());
    }
    p.last_token = now;
    if (router.wants_progress()) router.Progress(now, RequestId(t.id), t.index);
    // A prefill worker's only token ends its part, not the request.
    const bool last =
        (t.finished && role != WorkerRole::kPrefill) || p.generated + 1 >= p.max_tokens;
    if (!EmitToken(t.id, p, t, last)) continue;
    if (last) {
      if (role == WorkerRole::kPrefill) p.kv_holder = w;  // Complete frees the held KV
      Complete(t.id);
    } else if (role == WorkerRole::kPrefill) {
      OnPrefillDone(t.id, w);
    }
  }
  if (prefill_done) DrainRouterQueue();
}

void FrontendService::Impl::OnPrefillDone(uint64_t id, uint32_t prefill_worker) {
  Pending& p = pending_.at(id);
  router_->Release(Now(), RequestId(id));
  p.kv_holder = prefill_worker;
  if (decode_router_->num_workers() == 0) {  // every decode worker is gone: wait for one
    p.worker = kNoWorker;
    return Dispatch(id);
  }
  DispatchDecode(id);
}

void FrontendService::Impl::OnKvTransferDone(uint32_t w, const net::KvTransferDone& m) {
  const auto it = pending_.find(m.id);
  if (it == pending_.end() || it->second.worker != w) return;
  Pending& p = it->second;
  if (m.ok) {
    metrics_.kv_transfers_ok.Inc();
    metrics_.kv_transfer_bytes.Inc(static_cast<double>(m.bytes));
    metrics_.kv_transfer_s.Observe(static_cast<double>(m.micros) * 1e-6);
    p.kv_holder = kNoWorker;  // the prefill worker freed its copy once sent
    return;
  }
  metrics_.kv_transfers_fallback.Inc();
  ++stats_.kv_fallbacks;
  std::fprintf(stderr,
               "frontend: request %s: KV transfer failed (%s); the decode worker prefills\n",
               p.meta.id.c_str(), m.error.c_str());
  ReleaseKvHolder(m.id, p);
}

void FrontendService::Impl::ReleaseKvHolder(uint64_t id, Pending& p) {
  if (p.kv_holder == kNoWorker) return;
  const auto h = workers_.find(p.kv_holder);
  if (h != workers_.end() && h->second.conn) h->second.conn->Send(net::CancelRequest{id});
  p.kv_holder = kNoWorker;
}

bool FrontendService::Impl::EmitToken(uint64_t id, Pending& p, const net::TokenOut& t, bool last) {
  ++p.generated;
  ++stats_.tokens;
  metrics_.output_tokens_total.Inc();
  const std::string word = tokenizer_.Decode(t.token_id);
  if (!p.stream) {
    p.text += word;
    return true;
  }
  if (p.ex->closed()) {  // its OnClose may not have run yet
    OnClientGone(id);
    return false;
  }
  if (p.generated == 1) p.ex->StartStream(200, "text/event-stream");
  const api::Usage usage{p.prompt_tokens, p.generated};
  const std::optional<std::string_view> finish =
      last ? std::optional<std::string_view>("length") : std::nullopt;
  if (p.endpoint == api::Endpoint::kCompletions) {
    p.ex->Write(api::CompletionChunk(p.meta, word, finish, last ? &usage : nullptr));
  } else {
    p.ex->Write(api::ChatChunk(p.meta, word, p.generated == 1, finish, last ? &usage : nullptr));
  }
  if (p.ex->queued_bytes() > kMaxClientBacklogBytes) {
    std::fprintf(stderr, "frontend: request %s: the client stopped reading; cancelling\n",
                 p.meta.id.c_str());
    OnClientGone(id);
    return false;
  }
  return true;
}

void FrontendService::Impl::Complete(uint64_t id) {
  Pending& p = pending_.at(id);
  ReleaseKvHolder(id, p);  // a one-token answer never needed its KV moved
  const api::Usage usage{p.prompt_tokens, p.generated};
  if (p.stream) {
    if (p.include_usage) p.ex->Write(api::UsageChunk(p.endpoint, p.meta, usage));
    p.ex->Write(std::string(api::DoneEvent()));
    p.ex->Finish();
  } else if (p.endpoint == api::Endpoint::kCompletions) {
    p.ex->Respond(200, "application/json", api::CompletionBody(p.meta, p.text, usage, "length"));
  } else {
    p.ex->Respond(200, "application/json", api::ChatBody(p.meta, p.text, usage, "length"));
  }
  metrics_.duration_s.Observe((Now() - p.start).seconds());
  metrics_.output_tokens.Observe(p.generated);
  ++stats_.completed;
  Forget(id, RequestStatus::kSuccess);
}

void FrontendService::Impl::Fail(uint64_t id, int status, const std::string& message) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  CancelOnWorker(id, p);
  const std::string type = status >= 500 ? "server_error" : "invalid_request_error";
  if (p.stream && p.generated > 0) {
    // Headers are out: an error event, then the end of the stream.
    p.ex->Write("data: " + api::ErrorBody(status, message, type) + "\n\n");
    p.ex->Write(std::string(api::DoneEvent()));
    p.ex->Finish();
  } else {
    RespondError(*p.ex, status, message, type);
  }
  if (status == 503) {
    ++stats_.rejected_503;
    metrics_.rejections.Inc();
  }
  ++stats_.failed;
  Forget(id, RequestStatus::kError);
}

void FrontendService::Impl::CancelOnWorker(uint64_t id, Pending& p) {
  ReleaseKvHolder(id, p);
  if (p.worker == kNoWorker) return;
  const auto w = workers_.find(p.worker);
  if (w != workers_.end() && w->second.conn) w->second.conn->Send(net::CancelRequest{id});
}

void FrontendService::Impl::OnClientGone(uint64_t id) {
  const auto it = pending_.find(id);
  if (it == pending_.end()) return;
  Pending& p = it->second;
  CancelOnWorker(id, p);
  metrics_.disconnected_clients.Inc();
  ++stats_.cancelled;
  Forget(id, RequestStatus::kCancelled);
}

void FrontendService::Impl::Forget(uint64_t id, RequestStatus status) {
  auto node = pending_.extract(id);
  Pending& p = node.mapped();
  // Release calls for requests a router does not hold are ignored.
  router_->Release(Now(), RequestId(id));
  if (decode_router_) decode_router_->Release(Now(), RequestId(id));
  metrics_.RequestDone(p.endpoint, status);
  // While shutting down, the answer's last bytes must reach the client before connections close.
  if (shutting_down_) flushing_.push_back(std::move(p.ex));
  DrainRouterQueue();
  MaybeFinishShutdown();
}

void FrontendService::Impl::OnRejected(uint32_t w, const net::Rejected& r) {
  const auto it = pending_.find(r.id);
  if (it == pending_.end() || it->second.worker != w) return;
  if (workers_.at(w).state == WorkerState::kDraining) {
    // Raced with a drain: route it again.
    RouterFor(workers_.at(w).role).Release(Now(), RequestId(r.id));
    it->second.worker = kNoWorker;
    Dispatch(r.id);
    return;
  }
  Fail(r.id, 400, r.reason);
}

// ---------------------------------------------------------------------------------------------
// Workers

uint32_t FrontendService::Impl::PlanOrdinal(int32_t pool, int32_t replica) const {
  if (pool < 0 || pool >= static_cast<int32_t>(plan_.workers.size()) || replica < 0 ||
      replica >= plan_.workers[static_cast<size_t>(pool)].replicas) {
    return kNoWorker;
  }
  uint32_t ordinal = 0;
  for (int32_t i = 0; i < pool; ++i) {
    ordinal += static_cast<uint32_t>(plan_.workers[static_cast<size_t>(i)].replicas);
  }
  return ordinal + static_cast<uint32_t>(replica);
}

int FrontendService::Impl::ActiveWorkers() const {
  int n = 0;
  for (const auto& [id, w] : workers_) n += w.state == WorkerState::kActive ? 1 : 0;
  return n;
}

void FrontendService::Impl::Scan() {
  {
    const Time now = Now();
    std::vector<Registration> regs;
    if (run_dir_) regs = run_dir_->Scan();
    for (const auto& [name, r] : http_registrations_) regs.push_back(r);
    for (const Registration& r : regs) Observe(r);
    // Registrations that vanished (clean exit) or stopped beating (hung or dead).
    for (auto& [id, w] : workers_) {
      if (w.state == WorkerState::kGone) continue;
      const bool listed = std::any_of(regs.begin(), regs.end(),
                                      [&](const Registration& r) { return r.name == w.name; });
      if (!listed) {
        LoseWorker(id, "its registration was removed");
      } else if (now - w.heartbeat_seen > opt_.heartbeat_timeout) {
        LoseWorker(id, "no heartbeat for " +
                           std::to_string(static_cast<int64_t>((now - w.heartbeat_seen).millis())) +
                           " ms");
      }
    }
  }
  MaybeReady();
  scan_timer_.expires_after(ToChrono(opt_.scan_interval));
  scan_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Scan();
  });
}

void FrontendService::Impl::Observe(const Registration& reg) {
  const Time now = Now();
  const auto known = by_name_.find(reg.name);
  if (known != by_name_.end()) {
    Worker& w = workers_.at(known->second);
    if (w.state != WorkerState::kGone) {
      if (reg.heartbeat != w.heartbeat) {
        w.heartbeat = reg.heartbeat;
        w.heartbeat_seen = now;
      }
      return;
    }
    // A worker we gave up on beats again (it was stopped, then continued; or restarted under
    // its name): it comes back as a new incarnation. A dead worker's file may still show one
    // beat it wrote after we last looked: only two more, or another port, count as alive.
    if (reg.port == w.port && reg.heartbeat <= w.heartbeat + 1) return;
    by_name_.erase(known);
  }
  if (shutting_down_) return;
  // The first incarnation of a launched worker takes its plan ordinal as router id, so workers
  // join the router in plan order, as in the simulator; any other gets a fresh id.
  uint32_t id = PlanOrdinal(reg.pool, reg.replica);
  if (id == kNoWorker || workers_.count(id) != 0) id = next_extra_id_++;
  Worker w;
  w.name = reg.name;
  w.pool = reg.pool;
  w.replica = reg.replica;
  w.role = reg.role;
  w.host = reg.host;
  w.port = reg.port;
  w.heartbeat = reg.heartbeat;
  w.heartbeat_seen = now;
  workers_.emplace(id, std::move(w));
  by_name_[reg.name] = id;
  Connect(id);
}

void FrontendService::Impl::Connect(uint32_t id) {
  const Worker& w = workers_.at(id);
  net::Connect(io_, w.host, w.port, [this, id](StatusOr<std::shared_ptr<Connection>> conn) {
    const auto it = workers_.find(id);
    if (it == workers_.end() || it->second.state != WorkerState::kConnecting) {
      if (conn.ok()) (*conn)->Close();
      return;
    }
    if (!conn.ok()) {
      LoseWorker(id, conn.status().message());
      return;
    }
    it->second.conn = std::move(*conn);
    it->second.conn->Start([this, id](net::Message&& m) { OnWorkerMessage(id, std::move(m)); },
                           [this, id](const Status& why) {
                             LoseWorker(id, why.ok() ? "it closed the connection" : why.message());
                           });
  });
}

void FrontendService::Impl::OnWorkerMessage(uint32_t id, net::Message&& m) {
  Worker& w = workers_.at(id);
  if (w.state == WorkerState::kGone) return;
  if (auto* hello = std::get_if<net::Hello>(&m)) return OnWorkerHello(id, *hello);
  if (w.state == WorkerState::kConnecting) {
    return LoseWorker(id, std::string("sent ") + net::MessageName(m) + " before hello");
  }
  if (auto* step = std::get_if<net::StepReport>(&m)) return OnStep(id, *step);
  if (auto* kv = std::get_if<net::KvEvents>(&m)) {
    if (!w.in_router) return;
    const Time now = Now();
    router::Router& router = RouterFor(w.role);
    for (const net::KvEvent& e : kv->events) {
      if (e.stored) {
        router.KvStored(now, WorkerId(id), e.hashes);
      } else {
        router.KvRemoved(now, WorkerId(id), e.hashes);
      }
    }
    return;
  }
  if (auto* done = std::get_if<net::KvTransferDone>(&m)) return OnKvTransferDone(id, *done);
  if (auto* rej = std::get_if<net::Rejected>(&m)) return OnRejected(id, *rej);
  if (auto* load = std::get_if<net::Load>(&m)) {
    w.load = *load;
    if (load->draining && w.state == WorkerState::kActive) {
      // It will finish what it holds; route nothing new there.
      w.state = WorkerState::kDraining;
      if (w.in_router) {
        RouterFor(w.role).RemoveWorker(Now(), WorkerId(id));
        w.in_router = false;
      }
    }
    return;
  }
  LoseWorker(id, std::string("sent an unexpected ") + net::MessageName(m) + " message");
}

void FrontendService::Impl::OnWorkerHello(uint32_t id, const net::Hello& h) {
  Worker& w = workers_.at(id);
  std::string bad;
  if (h.protocol != net::kProtocolVersion) {
    bad = "protocol version " + std::to_string(h.protocol) + " (this frontend speaks " +
          std::to_string(net::kProtocolVersion) + ")";
  } else if (h.name != w.name) {
    bad = "its hello names \"" + h.name + "\", its registration \"" + w.name + "\"";
  } else if (h.pool < 0 || h.pool >= static_cast<int32_t>(plan_.workers.size()) ||
             plan_.workers[static_cast<size_t>(h.pool)].role != h.role) {
    bad = "pool " + std::to_string(h.pool) + " with role " + std::string(WorkerRoleName(h.role)) +
          " is not in the plan";
  } else if (h.role != WorkerRole::kAggregated && h.kv_address.empty()) {
    bad = "a " + std::string(WorkerRoleName(h.role)) + " worker without a KV-transfer address";
  } else if (h.block_size != block_size_) {
    bad = "block size " + std::to_string(h.block_size) + ", the router uses " +
          std::to_string(block_size_);
  }
  if (!bad.empty()) return LoseWorker(id, "refused: " + bad);
  if (w.state != WorkerState::kConnecting) return;
  w.state = WorkerState::kActive;
  w.load.total_blocks = h.num_blocks;
  w.max_num_batched_tokens = h.max_num_batched_tokens;
  w.num_blocks = h.num_blocks;
  w.kv_address = h.kv_address;
  // Before ready, workers join the router together, in id (plan) order: MaybeReady.
  if (ready_) AddToRouter(id);
  MaybeReady();
}

void FrontendService::Impl::AddToRouter(uint32_t id) {
  Worker& w = workers_.at(id);
  if (w.in_router || w.state != WorkerState::kActive) return;
  RouterFor(w.role).AddWorker(Now(), WorkerId(id), router::WorkerInfo{w.max_num_batched_tokens});
  w.in_router = true;
  if (observer_) observer_->WorkerJoined(WorkerId(id));
  std::fprintf(stderr, "frontend: worker %s (%s:%u) joined\n", w.name.c_str(), w.host.c_str(),
               w.port);
}

void FrontendService::Impl::MaybeReady() {
  if (ready_) {
    RetryParked();
    return;
  }
  const int active = ActiveWorkers();
  const bool all = active >= planned_workers_;
  // After the grace, one active worker of every role the plan has is enough.
  bool every_role = active > 0;
  for (const WorkerPoolSpec& pool : plan_.workers) {
    every_role = every_role && std::any_of(workers_.begin(), workers_.end(), [&](const auto& kv) {
                   return kv.second.role == pool.role && kv.second.state == WorkerState::kActive;
                 });
  }
  const bool grace = Now() - Time::Zero() > opt_.startup_grace && every_role;
  if (!all && !grace) return;
  ready_ = true;
  for (auto& [id, w] : workers_) AddToRouter(id);  // std::map: id (plan) order
  std::fprintf(stderr, "frontend: ready with %d worker(s)\n", active);
  ArmPlanner();
  if (on_ready_) {
    std::function<void()> cb = std::move(on_ready_);
    asio::post(io_, std::move(cb));
  }
  RetryParked();
}

void FrontendService::Impl::LoseWorker(uint32_t id, const std::string& why) {
  Worker& w = workers_.at(id);
  if (w.state == WorkerState::kGone) return;
  const bool clean = w.state == WorkerState::kDraining;
  w.state = WorkerState::kGone;
  if (w.conn) {
    w.conn->Close();
    w.conn.reset();
  }
  if (w.in_router) {
    RouterFor(w.role).RemoveWorker(Now(), WorkerId(id));
    w.in_router = false;
  }
  if (observer_) observer_->WorkerLeft(WorkerId(id));
  if (!shutting_down_ || !clean) {
    std::fprintf(stderr, "frontend: worker %s left: %s\n", w.name.c_str(), why.c_str());
  }
  // Its requests move: they continue elsewhere from the tokens the clients already have.
  std::vector<uint64_t> moved;
  for (auto& [rid, p] : pending_) {
    if (p.worker == id) moved.push_back(rid);
    // A prefill worker that held KV for a decode worker: that pull fails, the decode worker
    // prefills itself.
    if (p.kv_holder == id) p.kv_holder = kNoWorker;
  }
  std::sort(moved.begin(), moved.end());
  if (!moved.empty()) ++stats_.workers_lost;
  for (uint64_t rid : moved) {
    Pending& p = pending_.at(rid);
    RouterFor(w.role).Release(Now(), RequestId(rid));
    p.worker = kNoWorker;
    if (p.migrations >= opt_.migration_limit) {
      Fail(rid, 503,
           "worker " + w.name + " failed and the request already moved " +
               std::to_string(p.migrations) + " time(s) (the migration limit)");
      continue;
    }
    ++p.migrations;
    ++stats_.migrations;
    metrics_.migrations.Inc();
    Dispatch(rid);
  }
  MaybeFinishShutdown();
}

// ---------------------------------------------------------------------------------------------
// Shutdown

void FrontendService::Impl::Shutdown(std::function<void()> done) {
  if (shutting_down_) return;
  shutting_down_ = true;
  on_shutdown_ = std::move(done);
  http_->StopAccepting();
  drain_timer_.expires_after(ToChrono(opt_.drain_timeout));
  drain_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;
    std::vector<uint64_t> left;
    for (const auto& [id, p] : pending_) left.push_back(id);
    std::sort(left.begin(), left.end());
    for (uint64_t id : left) Fail(id, 503, "the server shut down before the answer was complete");
  });
  MaybeFinishShutdown();
}

void FrontendService::Impl::MaybeFinishShutdown() {
  if (!shutting_down_ || shutdown_done_ || !pending_.empty()) return;
  std::erase_if(flushing_, [](const std::shared_ptr<http::HttpExchange>& ex) {
    return ex->closed() || ex->queued_bytes() == 0;
  });
  if (!flushing_.empty()) {  // look again shortly (writes complete on this loop)
    flush_timer_.expires_after(std::chrono::milliseconds(5));
    flush_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec) MaybeFinishShutdown();
    });
    return;
  }
  shutdown_done_ = true;
  drain_timer_.cancel();
  scan_timer_.cancel();
  sweep_timer_.cancel();
  planner_timer_.cancel();
  for (auto& [id, w] : workers_) {
    if (w.conn && w.state != WorkerState::kGone) {
      w.state = WorkerState::kDraining;
      w.conn->Send(net::Drain{});
    }
  }
  WriteRoutingLog();
  WritePlannerLog();
  http_->CloseAll();
  if (on_shutdown_) {
    std::function<void()> cb = std::move(on_shutdown_);
    asio::post(io_, std::move(cb));
  }
}

void FrontendService::Impl::WriteRoutingLog() {
  if (!run_dir_) return;
  std::string csv =
      "seq,request,client_request_id,worker_id,worker,overlap_blocks,migration,role\n";
  int64_t seq = 0;
  for (const RoutingRecord& r : routing_) {
    const auto w = workers_.find(r.worker);
    csv += std::to_string(seq++) + "," + std::to_string(r.id) + "," + CsvQuote(r.client_id) + "," +
           std::to_string(r.worker) + "," + CsvQuote(w != workers_.end() ? w->second.name : "?") +
           "," + std::to_string(r.overlap) + "," + std::to_string(r.migration) + "," +
           std::string(WorkerRoleName(r.role)) + "\n";
  }
  const Status st = WriteFileAtomic(run_dir_->path() + "/routing.csv", csv);
  if (!st.ok()) std::fprintf(stderr, "frontend: %s\n", st.ToString().c_str());
}

// ---------------------------------------------------------------------------------------------

StatusOr<std::unique_ptr<FrontendService>> FrontendService::Create(asio::io_context& io,
                                                                   const Plan& plan,
                                                                   FrontendOptions options) {
  if (options.model_name.empty()) options.model_name = plan.model.name();
  auto impl = std::make_unique<Impl>(io, plan, std::move(options));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<FrontendService>(new FrontendService(std::move(impl)));
}

FrontendService::FrontendService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
FrontendService::~FrontendService() = default;
uint16_t FrontendService::port() const { return impl_->port(); }
bool FrontendService::ready() const { return impl_->ready(); }
void FrontendService::OnReady(std::function<void()> cb) { impl_->OnReady(std::move(cb)); }
void FrontendService::Shutdown(std::function<void()> done) { impl_->Shutdown(std::move(done)); }
const FrontendStats& FrontendService::stats() const { return impl_->stats(); }
bool FrontendService::DrainWorker(const std::string& name) { return impl_->DrainWorker(name); }

}  // namespace dynamo::service
