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
#include "core/workload/csv.h"
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
        flush_timer_(io) {}

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
    uint32_t worker = kNoWorker;   // where it runs now
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
  };

  Time Now() const { return clock_.Now(); }

  // HTTP.
  void Handle(const http::HttpRequest& req, std::shared_ptr<http::HttpExchange> ex);
  void HandleGenerate(api::Endpoint endpoint, const http::HttpRequest& req,
                      std::shared_ptr<http::HttpExchange> ex);
  void HandleHealth(const std::shared_ptr<http::HttpExchange>& ex);
  // The gauges, derived from the request and worker tables when scraped (no counts to keep in
  // step with every state change).
  void RefreshGauges();
  static void RespondError(http::HttpExchange& ex, int status, std::string_view message,
                           std::string_view type = "invalid_request_error");

  // Requests.
  void Dispatch(uint64_t id);  // route (or park) and send
  void SendTo(uint64_t id, uint32_t worker, int32_t overlap);
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
  void CancelOnWorker(uint64_t id, const Pending& p);  // frees its KV there
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

  asio::io_context& io_;
  const Plan& plan_;
  FrontendOptions opt_;
  FrontendMetrics metrics_;
  api::MockTokenizer tokenizer_;
  api::ParseOptions parse_;
  std::unique_ptr<http::HttpServer> http_;
  std::optional<router::Router> router_;
  std::optional<RunDir> run_dir_;
  int32_t block_size_ = 16;
  int32_t planned_workers_ = 0;
  asio::steady_timer scan_timer_, sweep_timer_, drain_timer_, flush_timer_;
  RealClock clock_;
  int64_t created_unix_ = 0;

  std::map<uint32_t, Worker> workers_;  // router WorkerId value -> worker
  std::unordered_map<std::string, uint32_t> by_name_;
  uint32_t next_extra_id_ = 0;  // ids after the plan's ordinals
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
};

// ---------------------------------------------------------------------------------------------
// Set-up

Status FrontendService::Impl::Init() {
  if (plan_.disaggregated()) {
    return FailedPrecondition(plan_.source +
                              ": disaggregated plans are not served by dynamo-run yet; run an "
                              "aggregated plan (workers[].role \"agg\")");
  }
  ASSIGN_OR_RETURN(router::Router r,
                   router::MakeRouterFor(plan_, WorkerRole::kAggregated, opt_.seed));
  router_.emplace(std::move(r));
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
  Scan();
  SweepParked();
  return Status::Ok();
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
  metrics_.input_tokens_total.Inc(p.prompt_tokens);
  metrics_.input_tokens.Observe(p.prompt_tokens);
  p.ex->OnClose([this, id] { OnClientGone(id); });
  Dispatch(id);
}

// ---------------------------------------------------------------------------------------------
// Requests

void FrontendService::Impl::Dispatch(uint64_t id) {
  Pending& p = pending_.at(id);
  if (!ready_ || router_->num_workers() == 0) {
    if (!p.parked) {
      p.parked = true;
      p.parked_at = Now();
      parked_.push_back(id);
    }
    return;
  }
  const router::Decision d =
      router_->Route(Now(), {RequestId(id), p.prompt_tokens, p.hashes, p.max_tokens});
  if (d.queued) {
    p.in_router_queue = true;
    return;
  }
  SendTo(id, d.worker.value(), d.overlap_blocks);
}

void FrontendService::Impl::SendTo(uint64_t id, uint32_t worker, int32_t overlap) {
  Pending& p = pending_.at(id);
  Worker& w = workers_.at(worker);
  p.worker = worker;
  routing_.push_back({id, p.client_id, worker, overlap, p.migrations});
  net::AddRequest add;
  add.id = id;
  add.prompt_tokens = p.prompt_tokens;
  add.max_output_tokens = p.max_tokens;
  add.generated_tokens = p.generated;
  add.generation_seed = p.seed;
  add.block_hashes = p.hashes;
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
  if (!ready_ || router_->num_workers() == 0) return;
  std::deque<uint64_t> parked;
  parked.swap(parked_);
  for (uint64_t id : parked) {
    const auto it = pending_.find(id);
    if (it == pending_.end() || !it->second.parked) continue;
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
  bool prefill_done = false;
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
    if (p.generated == 0) {
      metrics_.ttft_s.Observe((now - p.start).seconds());
      router_->PrefillDone(now, RequestId(t.id));
      prefill_done = true;
    } else {
      metrics_.itl_s.Observe((now - p.last_token).seconds());
    }
    p.last_token = now;
    if (router_->wants_progress()) router_->Progress(now, RequestId(t.id), t.index);
    const bool last = t.finished || p.generated + 1 >= p.max_tokens;
    if (EmitToken(t.id, p, t, last) && last) Complete(t.id);
  }
  if (prefill_done) DrainRouterQueue();
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

void FrontendService::Impl::CancelOnWorker(uint64_t id, const Pending& p) {
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
  router_->Release(Now(), RequestId(id));
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
    router_->Release(Now(), RequestId(r.id));
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
  if (run_dir_) {
    const Time now = Now();
    std::vector<Registration> regs = run_dir_->Scan();
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
    for (const net::KvEvent& e : kv->events) {
      if (e.stored) {
        router_->KvStored(now, WorkerId(id), e.hashes);
      } else {
        router_->KvRemoved(now, WorkerId(id), e.hashes);
      }
    }
    return;
  }
  if (auto* rej = std::get_if<net::Rejected>(&m)) return OnRejected(id, *rej);
  if (auto* load = std::get_if<net::Load>(&m)) {
    w.load = *load;
    if (load->draining && w.state == WorkerState::kActive) {
      // It will finish what it holds; route nothing new there.
      w.state = WorkerState::kDraining;
      if (w.in_router) {
        router_->RemoveWorker(Now(), WorkerId(id));
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
  } else if (h.block_size != block_size_) {
    bad = "block size " + std::to_string(h.block_size) + ", the router uses " +
          std::to_string(block_size_);
  }
  if (!bad.empty()) return LoseWorker(id, "refused: " + bad);
  if (w.state != WorkerState::kConnecting) return;
  w.state = WorkerState::kActive;
  w.load.total_blocks = h.num_blocks;
  w.max_num_batched_tokens = h.max_num_batched_tokens;
  // Before ready, workers join the router together, in id (plan) order: MaybeReady.
  if (ready_) AddToRouter(id);
  MaybeReady();
}

void FrontendService::Impl::AddToRouter(uint32_t id) {
  Worker& w = workers_.at(id);
  if (w.in_router || w.state != WorkerState::kActive) return;
  router_->AddWorker(Now(), WorkerId(id), router::WorkerInfo{w.max_num_batched_tokens});
  w.in_router = true;
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
  const bool grace = Now() - Time::Zero() > opt_.startup_grace && active > 0;
  if (!all && !grace) return;
  ready_ = true;
  for (auto& [id, w] : workers_) AddToRouter(id);  // std::map: id (plan) order
  std::fprintf(stderr, "frontend: ready with %d worker(s)\n", active);
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
    router_->RemoveWorker(Now(), WorkerId(id));
    w.in_router = false;
  }
  if (!shutting_down_ || !clean) {
    std::fprintf(stderr, "frontend: worker %s left: %s\n", w.name.c_str(), why.c_str());
  }
  // Its requests move: they continue elsewhere from the tokens the clients already have.
  std::vector<uint64_t> moved;
  for (const auto& [rid, p] : pending_) {
    if (p.worker == id) moved.push_back(rid);
  }
  std::sort(moved.begin(), moved.end());
  if (!moved.empty()) ++stats_.workers_lost;
  for (uint64_t rid : moved) {
    Pending& p = pending_.at(rid);
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
  for (auto& [id, w] : workers_) {
    if (w.conn && w.state != WorkerState::kGone) {
      w.state = WorkerState::kDraining;
      w.conn->Send(net::Drain{});
    }
  }
  WriteRoutingLog();
  http_->CloseAll();
  if (on_shutdown_) {
    std::function<void()> cb = std::move(on_shutdown_);
    asio::post(io_, std::move(cb));
  }
}

void FrontendService::Impl::WriteRoutingLog() {
  if (!run_dir_) return;
  std::string csv = "seq,request,client_request_id,worker_id,worker,overlap_blocks,migration\n";
  int64_t seq = 0;
  for (const RoutingRecord& r : routing_) {
    const auto w = workers_.find(r.worker);
    csv += std::to_string(seq++) + "," + std::to_string(r.id) + "," + CsvQuote(r.client_id) + "," +
           std::to_string(r.worker) + "," + CsvQuote(w != workers_.end() ? w->second.name : "?") +
           "," + std::to_string(r.overlap) + "," + std::to_string(r.migration) + "\n";
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

}  // namespace dynamo::service
