#include "runtime/service/worker_service.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <nlohmann/json.hpp>

#include "core/perf/step_timer.h"
#include "runtime/api/mock_tokenizer.h"
#include "runtime/kvtransfer/ucx_kv_transport.h"
#include "runtime/loadgen/http_client.h"
#include "runtime/net/connection.h"
#include "runtime/router/plan_router.h"
#include "runtime/service/real_clock.h"
#include "runtime/service/run_dir.h"
#include "runtime/worker/engine_scheduler.h"

namespace dynamo::service {

namespace asio = boost::asio;
using asio::ip::tcp;
using net::Connection;

class WorkerService::Impl {
 public:
  Impl(asio::io_context& io, WorkerOptions options, worker::EngineConfig engine,
       perf::StepTimer timer, int64_t kv_bytes_per_token)
      : io_(io),
        opt_(std::move(options)),
        sched_(engine),
        timer_(std::move(timer)),
        acceptor_(io),
        step_timer_(io),
        load_timer_(io),
        beat_timer_(io),
        kv_bytes_per_token_(kv_bytes_per_token) {}

  ~Impl() {
    for (const auto& c : conns_) c->Abort();
  }
  Status Listen();
  // Prefill and decode roles: the UCX transport (its address goes into the hello).
  Status StartKvTransport();
  void Start();
  void Drain(std::function<void()> done);
  uint16_t port() const { return port_; }
  const std::string& name() const { return opt_.name; }
  const WorkerStats& stats() const { return stats_; }
  void set_registry(std::optional<RunDir> dir, Registration reg) {
    run_dir_ = std::move(dir);
    reg_ = std::move(reg);
  }
  // Registration over HTTP with the frontend at opt_.frontend (resolved once, at start).
  Status ResolveFrontend();
  net::Hello hello;

 private:
  struct Live {
    std::weak_ptr<Connection> conn;  // who asked; tokens go back there
    uint64_t seed = 0;
    bool cancelled = false;  // cancel deferred until the step in flight completes
    // Disaggregated.
    bool held = false;     // prefill: prompt done, KV held for the decode worker
    bool sending = false;  // prefill: a pull of it is being served
    Time held_since;
    std::string kv_source;  // decode: the prefill worker's UCX address ("" when local)
    Time pull_started;
    // Decode: what a local prefill (the fallback) needs.
    int32_t prompt_tokens = 0, max_output_tokens = 1, generated_tokens = 0;
    std::vector<uint64_t> block_hashes;
  };

  Time Now() const { return clock_.Now(); }
  void Accept();
  void OnMessage(const std::shared_ptr<Connection>& conn, net::Message&& m);
  void OnAdd(const std::shared_ptr<Connection>& conn, net::AddRequest&& r);
  void OnCancel(uint64_t id);
  void OnConnectionClosed(const Connection* conn);
  void MaybeStep();
  void OnStepDone();
  // The report for the connection `live` belongs to; null when that connection is gone.
  net::StepReport* ReportFor(const Live& live);
  void SendReports();
  void FlushKvEvents();
  void SendLoad();
  void Beat();
  void PostRegistration();
  // Drained: deregister from the frontend (best effort, bounded), then `then`.
  void Deregister(std::function<void()> then);
  void MaybeFinishDrain();
  // Decode: pull the KV of a request the scheduler reserved blocks for.
  void StartPull(const worker::KvReservation& kr);
  void OnPullDone(uint64_t id, const Status& st, int64_t bytes);
  void FallBackToLocalPrefill(uint64_t id);  // precondition: no step in flight
  // Prefill: serving pulls.
  bool AcceptPull(uint64_t id, int64_t bytes);
  void OnKvSent(uint64_t id, const Status& st);
  void ExpireHeldKv();
  void Reject(const std::shared_ptr<Connection>& conn, uint64_t id, std::string reason);

  asio::io_context& io_;
  WorkerOptions opt_;
  worker::EngineScheduler sched_;
  perf::StepTimer timer_;
  tcp::acceptor acceptor_;
  asio::steady_timer step_timer_, load_timer_, beat_timer_;
  RealClock clock_;
  uint16_t port_ = 0;
  std::vector<std::shared_ptr<Connection>> conns_;
  std::unordered_map<uint64_t, Live> live_;
  std::vector<uint64_t> deferred_cancels_;
  std::vector<uint64_t> deferred_fallbacks_;  // failed pulls during a step
  int64_t kv_bytes_per_token_ = 0;
  std::unique_ptr<kvtransfer::UcxKvTransport> kv_;
  bool stepping_ = false;
  bool draining_ = false;
  bool done_ = false;
  std::function<void()> on_drained_;
  std::optional<RunDir> run_dir_;
  Registration reg_;
  std::optional<loadgen::HttpUrl> frontend_url_;
  loadgen::TcpEndpoints frontend_endpoints_;
  bool registering_ = false;  // a registration post is in flight
  Time frontend_ok_;          // start, or the last registration the frontend took
  WorkerStats stats_;
  // The step's reports, one per connection that has requests in it (built from the admissions
  // in MaybeStep and the tokens in OnStepDone, sent by SendReports).
  std::vector<std::pair<std::shared_ptr<Connection>, net::StepReport>> reports_;
};

Status WorkerService::Impl::Listen() {
  boost::system::error_code ec;
  const asio::ip::address addr =
      asio::ip::make_address(opt_.host == "localhost" ? "127.0.0.1" : opt_.host, ec);
  if (ec) return InvalidArgument("--host " + opt_.host + ": not an IP address");
  const tcp::endpoint ep(addr, opt_.port);
  acceptor_.open(ep.protocol(), ec);
  if (!ec) acceptor_.set_option(tcp::acceptor::reuse_address(true), ec);
  if (!ec) acceptor_.bind(ep, ec);
  if (!ec) acceptor_.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) {
    return IoError("worker " + opt_.name + ": cannot listen on " + opt_.host + ":" +
                   std::to_string(opt_.port) + ": " + ec.message());
  }
  port_ = acceptor_.local_endpoint().port();
  return Status::Ok();
}

void WorkerService::Impl::Start() {
  Accept();
  SendLoad();
  Beat();
}

void WorkerService::Impl::Accept() {
  acceptor_.async_accept([this](boost::system::error_code ec, tcp::socket socket) {
    if (ec) return;  // closed (drained) or a transient error: nothing to serve
    std::shared_ptr<Connection> conn = Connection::Adopt(std::move(socket));
    conns_.push_back(conn);
    std::weak_ptr<Connection> weak = conn;
    conn->Start(
        [this, weak](net::Message&& m) {
          if (auto c = weak.lock()) OnMessage(c, std::move(m));
        },
        [this, raw = conn.get()](const Status& why) {
          if (!why.ok())
            std::fprintf(stderr, "worker %s: %s\n", opt_.name.c_str(), why.ToString().c_str());
          OnConnectionClosed(raw);
        });
    conn->Send(hello);
    Accept();
  });
}

void WorkerService::Impl::OnMessage(const std::shared_ptr<Connection>& conn, net::Message&& m) {
  if (auto* add = std::get_if<net::AddRequest>(&m)) {
    OnAdd(conn, std::move(*add));
  } else if (auto* cancel = std::get_if<net::CancelRequest>(&m)) {
    OnCancel(cancel->id);
  } else if (std::holds_alternative<net::Drain>(m)) {
    Drain(nullptr);
  } else {
    std::fprintf(stderr, "worker %s: unexpected %s message from %s; closing it\n",
                 opt_.name.c_str(), net::MessageName(m), conn->peer().c_str());
    conn->Close();
  }
}

void WorkerService::Impl::Reject(const std::shared_ptr<Connection>& conn, uint64_t id,
                                 std::string reason) {
  ++stats_.rejected;
  conn->Send(net::Rejected{id, std::move(reason)});
}

void WorkerService::Impl::OnAdd(const std::shared_ptr<Connection>& conn, net::AddRequest&& r) {
  if (draining_) return Reject(conn, r.id, "worker " + opt_.name + " is draining");
  if (live_.count(r.id) != 0) {
    return Reject(conn, r.id, "request id " + std::to_string(r.id) + " is already on this worker");
  }
  const auto& cfg = sched_.config();
  const int64_t max_hashes = r.prompt_tokens / cfg.block_size;
  if (r.prompt_tokens <= 0 || r.max_output_tokens < 1 || r.generated_tokens < 0 ||
      r.generated_tokens >= r.max_output_tokens ||
      static_cast<int64_t>(r.block_hashes.size()) > max_hashes ||
      std::find(r.block_hashes.begin(), r.block_hashes.end(), 0) != r.block_hashes.end()) {
    return Reject(conn, r.id, "malformed request (tokens or block hashes out of range)");
  }
  if (r.kv_remote &&
      (cfg.role != WorkerRole::kDecode || r.kv_source.empty() || r.generated_tokens < 1 || !kv_)) {
    return Reject(conn, r.id, "a remote-KV request needs a decode worker and a KV source");
  }
  Live live{conn, r.generation_seed, false};
  if (cfg.role == WorkerRole::kDecode) {
    live.kv_source = r.kv_remote ? r.kv_source : "";
    live.prompt_tokens = r.prompt_tokens;
    live.max_output_tokens = r.max_output_tokens;
    live.generated_tokens = r.generated_tokens;
    live.block_hashes = r.block_hashes;
  }
  worker::EngineRequest er;
  er.id = RequestId(r.id);
  er.prompt_tokens = r.prompt_tokens;
  er.max_output_tokens =
      cfg.role == WorkerRole::kPrefill ? r.generated_tokens + 1 : r.max_output_tokens;
  er.generated_tokens = r.generated_tokens;
  er.block_hashes = std::move(r.block_hashes);
  er.kv_remote = r.kv_remote;
  if (sched_.Add(Now(), std::move(er)) != worker::AddResult::kAccepted) {
    const int64_t need = sched_.blocks().BlocksFor(int64_t{r.prompt_tokens} + r.max_output_tokens);
    return Reject(conn, r.id,
                  "prompt of " + std::to_string(r.prompt_tokens) + " tokens + " +
                      std::to_string(r.max_output_tokens) + " output tokens needs " +
                      std::to_string(need) + " KV blocks; worker " + opt_.name + " has " +
                      std::to_string(sched_.blocks().num_blocks()));
  }
  ++stats_.requests;
  live_[r.id] = std::move(live);
  MaybeStep();
}

void WorkerService::Impl::OnCancel(uint64_t id) {
  const auto it = live_.find(id);
  if (it == live_.end() || it->second.cancelled) return;
  if (stepping_) {
    it->second.cancelled = true;  // the step in flight may hold it: cancel once it completes
    deferred_cancels_.push_back(id);
    return;
  }
  sched_.Cancel(Now(), RequestId(id));
  live_.erase(it);
  ++stats_.cancelled;
  FlushKvEvents();
  MaybeStep();  // freed blocks may admit others
  MaybeFinishDrain();
}

void WorkerService::Impl::OnConnectionClosed(const Connection* conn) {
  std::erase_if(conns_, [conn](const std::shared_ptr<Connection>& c) { return c.get() == conn; });
  std::vector<uint64_t> orphans;
  for (const auto& [id, live] : live_) {
    const std::shared_ptr<Connection> c = live.conn.lock();
    if (!c || c.get() == conn) orphans.push_back(id);
  }
  std::sort(orphans.begin(), orphans.end());
  for (uint64_t id : orphans) OnCancel(id);
}

void WorkerService::Impl::MaybeStep() {
  if (stepping_ || done_) return;
  const worker::StepPlan& plan = sched_.Schedule(Now());
  reports_.clear();
  for (const worker::Admission& a : plan.admitted) {
    const auto it = live_.find(a.id.value());
    if (a.resumed || it == live_.end()) continue;
    if (net::StepReport* rep = ReportFor(it->second)) {
      rep->admitted.push_back({a.id.value(), a.cached_tokens});
    }
  }
  stats_.preemptions += static_cast<int64_t>(plan.preempted.size());
  for (const worker::KvReservation& kr : plan.kv_reserved) StartPull(kr);
  FlushKvEvents();  // evictions made room for this step
  if (plan.empty()) {
    SendReports();  // admissions without a step (nothing runnable) go out right away
    return;
  }
  stepping_ = true;
  ++stats_.steps;
  const Duration model = timer_.StepTime(plan.batch);
  const auto wait = std::chrono::nanoseconds(
      static_cast<int64_t>(static_cast<double>(model.nanos()) * opt_.time_scale));
  step_timer_.expires_after(wait);
  step_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec) return;  // cancelled: shutting down
    OnStepDone();
  });
}

void WorkerService::Impl::OnStepDone() {
  stepping_ = false;
  const worker::StepOutcome& out = sched_.StepDone(Now());
  for (const worker::TokenOut& t : out.tokens) {
    const auto it = live_.find(t.id.value());
    if (it == live_.end() || it->second.cancelled) continue;
    net::StepReport* rep = ReportFor(it->second);
    if (rep == nullptr) continue;
    rep->tokens.push_back(
        {t.id.value(), t.index, api::MockTokenId(it->second.seed, t.index), t.finished});
    ++stats_.tokens;
  }
  for (RequestId id : out.prefill_done) {
    const auto it = live_.find(id.value());
    if (it == live_.end()) continue;
    it->second.held = true;  // until the decode worker pulled it (or the hold expires)
    it->second.held_since = Now();
  }
  for (RequestId id : out.finished) {
    const auto it = live_.find(id.value());
    if (it == live_.end()) continue;
    if (sched_.config().role == WorkerRole::kPrefill) continue;  // KV held until pulled
    if (!it->second.cancelled) ++stats_.finished;
    live_.erase(it);
  }
  // The step's KV events first, as the simulator applies them before the step's tokens: a
  // request finished by this step must not reach the router before the blocks it cached.
  FlushKvEvents();
  SendReports();
  // Cancels that arrived during the step.
  std::vector<uint64_t> cancels;
  cancels.swap(deferred_cancels_);
  for (uint64_t id : cancels) {
    const auto it = live_.find(id);
    if (it == live_.end()) continue;  // it finished in this step
    sched_.Cancel(Now(), RequestId(id));
    live_.erase(it);
    ++stats_.cancelled;
  }
  if (!cancels.empty()) FlushKvEvents();
  std::vector<uint64_t> fallbacks;
  fallbacks.swap(deferred_fallbacks_);
  for (uint64_t id : fallbacks) FallBackToLocalPrefill(id);
  MaybeStep();
  MaybeFinishDrain();
}

net::StepReport* WorkerService::Impl::ReportFor(const Live& live) {
  std::shared_ptr<Connection> c = live.conn.lock();
  if (!c) return nullptr;
  for (auto& [conn, rep] : reports_) {
    if (conn == c) return &rep;
  }
  reports_.emplace_back(std::move(c), net::StepReport{});
  return &reports_.back().second;
}

void WorkerService::Impl::SendReports() {
  for (const auto& [conn, rep] : reports_) conn->Send(rep);  // no-op once closed
  reports_.clear();
}

void WorkerService::Impl::FlushKvEvents() {
  worker::KvEventLog& log = sched_.blocks().events();
  if (log.events.empty()) return;
  net::KvEvents msg;
  msg.events.reserve(log.events.size());
  for (const worker::KvEvent& e : log.events) {
    const auto h = log.HashesOf(e);
    msg.events.push_back({e.kind == worker::KvEvent::Kind::kStored, {h.begin(), h.end()}});
  }
  log.Clear();
  for (const auto& c : conns_) c->Send(msg);
}

void WorkerService::Impl::SendLoad() {
  if (done_) return;
  ExpireHeldKv();
  const worker::EngineLoad l = sched_.load();
  const net::Load msg{l.running, l.waiting, l.used_blocks, l.total_blocks, draining_};
  for (const auto& c : conns_) c->Send(msg);
  load_timer_.expires_after(ToChrono(opt_.load_interval));
  load_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) SendLoad();
  });
}

Status WorkerService::Impl::ResolveFrontend() {
  if (opt_.frontend.empty()) return Status::Ok();
  ASSIGN_OR_RETURN(loadgen::HttpUrl url, loadgen::ParseHttpUrl("http://" + opt_.frontend));
  frontend_url_ = url;
  frontend_ok_ = Now();
  // Resolved once; an unresolvable name (the frontend's Service not created yet) is retried by
  // PostRegistration until frontend_timeout.
  StatusOr<loadgen::TcpEndpoints> eps = loadgen::ResolveHttpUrl(url);
  if (eps.ok()) frontend_endpoints_ = std::move(*eps);
  return Status::Ok();
}

void WorkerService::Impl::PostRegistration() {
  if (!frontend_url_ || registering_) return;
  if (frontend_endpoints_.empty()) {
    StatusOr<loadgen::TcpEndpoints> eps = loadgen::ResolveHttpUrl(*frontend_url_);
    if (eps.ok()) frontend_endpoints_ = std::move(*eps);
  }
  auto failed = [this](const std::string& why) {
    if (done_ || Now() - frontend_ok_ <= opt_.frontend_timeout) return;
    const Status st =
        IoError("worker " + opt_.name + ": the frontend at " + opt_.frontend +
                " has not taken a registration for " +
                std::to_string(static_cast<int64_t>(opt_.frontend_timeout.seconds())) + " s (" +
                why + "); is `dynamo-run frontend` running there?");
    if (opt_.on_failed) asio::post(io_, [cb = opt_.on_failed, st] { cb(st); });
    done_ = true;
  };
  if (frontend_endpoints_.empty()) return failed("cannot resolve " + frontend_url_->host);
  loadgen::HttpRequest req;
  req.method = loadgen::HttpMethod::kPost;
  req.target = frontend_url_->base_path + "/internal/workers";
  req.host = frontend_url_->HostHeader();
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = RegistrationJson(reg_);
  registering_ = true;
  auto status = std::make_shared<int>(0);
  auto body = std::make_shared<std::string>();
  loadgen::HttpCallbacks cb;
  cb.on_head = [status](int code) { *status = code; };
  cb.on_body = [body](std::string_view b) {
    if (body->size() < 4096) body->append(b);
    return true;
  };
  cb.on_done = [this, status, body, failed](const loadgen::HttpOutcome& out) {
    registering_ = false;
    if (out.failure == loadgen::HttpFailure::kNone && *status == 200) {
      frontend_ok_ = Now();
      return;
    }
    const std::string why = out.failure != loadgen::HttpFailure::kNone
                                ? out.message
                                : "HTTP " + std::to_string(*status) + ": " + *body;
    if (*status == 400) {  // refused for good (not in the plan): no point retrying
      std::fprintf(stderr, "worker %s: the frontend refused the registration: %s\n",
                   opt_.name.c_str(), why.c_str());
    }
    failed(why);
  };
  loadgen::HttpCall::Start(io_, frontend_endpoints_, std::move(req), std::move(cb),
                           Duration::Seconds(2));
}

void WorkerService::Impl::Deregister(std::function<void()> then) {
  if (!frontend_url_ || frontend_endpoints_.empty()) return then();
  loadgen::HttpRequest req;
  req.method = loadgen::HttpMethod::kPost;
  req.target = frontend_url_->base_path + "/internal/workers/deregister";
  req.host = frontend_url_->HostHeader();
  req.headers.push_back({"Content-Type", "application/json"});
  req.body = "{\"name\":" + nlohmann::json(opt_.name).dump() + "}";
  loadgen::HttpCallbacks cb;
  cb.on_done = [then = std::move(then)](const loadgen::HttpOutcome&) { then(); };
  loadgen::HttpCall::Start(io_, frontend_endpoints_, std::move(req), std::move(cb),
                           Duration::Seconds(1));
}

void WorkerService::Impl::Beat() {
  if (done_ || (!run_dir_ && !frontend_url_)) return;
  ++reg_.heartbeat;
  if (run_dir_) {
    const Status st = run_dir_->WriteRegistration(reg_);
    if (!st.ok()) std::fprintf(stderr, "worker %s: %s\n", opt_.name.c_str(), st.ToString().c_str());
  }
  PostRegistration();
  beat_timer_.expires_after(ToChrono(opt_.heartbeat_interval));
  beat_timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Beat();
  });
}

void WorkerService::Impl::Drain(std::function<void()> done) {
  if (done && !on_drained_) on_drained_ = std::move(done);
  if (draining_) {
    MaybeFinishDrain();
    return;
  }
  draining_ = true;
  for (const auto& c : conns_) {
    const worker::EngineLoad l = sched_.load();
    c->Send(net::Load{l.running, l.waiting, l.used_blocks, l.total_blocks, true});
  }
  MaybeFinishDrain();
}

void WorkerService::Impl::MaybeFinishDrain() {
  if (!draining_ || done_ || !live_.empty() || stepping_) return;
  done_ = true;
  boost::system::error_code ec;
  acceptor_.close(ec);
  step_timer_.cancel();
  load_timer_.cancel();
  beat_timer_.cancel();
  if (run_dir_) {
    const Status st = run_dir_->RemoveRegistration(reg_.name);
    if (!st.ok()) std::fprintf(stderr, "worker %s: %s\n", opt_.name.c_str(), st.ToString().c_str());
  }
  std::vector<std::shared_ptr<Connection>> conns;
  conns.swap(conns_);
  for (const auto& c : conns) c->Close();
  Deregister([this] {
    if (on_drained_) {
      std::function<void()> cb = std::move(on_drained_);
      asio::post(io_, std::move(cb));
    }
    if (opt_.on_drained) asio::post(io_, opt_.on_drained);
  });
}

// ---------------------------------------------------------------------------------------------
// KV transfer (disaggregated plans)

Status WorkerService::Impl::StartKvTransport() {
  const WorkerRole role = sched_.config().role;
  if (role == WorkerRole::kAggregated) return Status::Ok();
  ASSIGN_OR_RETURN(
      kv_, kvtransfer::UcxKvTransport::Create(
               io_, {.host = opt_.host, .port = opt_.kv_port, .poll_idle = opt_.kv_poll_idle}));
  if (role == WorkerRole::kPrefill) {
    kv_->Serve([this](uint64_t id, int64_t bytes) { return AcceptPull(id, bytes); },
               [this](uint64_t id, Status st) { OnKvSent(id, st); });
  }
  hello.kv_address = kv_->address();
  return Status::Ok();
}

void WorkerService::Impl::StartPull(const worker::KvReservation& kr) {
  const auto it = live_.find(kr.id.value());
  if (it == live_.end()) return;
  Live& l = it->second;
  // Only the prompt tokens this worker does not already hold move (as the simulator's SendKv).
  const int64_t tokens = std::max<int64_t>(0, l.prompt_tokens - kr.cached_tokens);
  const int64_t bytes = static_cast<int64_t>(
      static_cast<double>(tokens) * static_cast<double>(kv_bytes_per_token_) * opt_.kv_bytes_scale);
  l.pull_started = Now();
  const uint64_t id = kr.id.value();
  kv_->Pull(l.kv_source, id, bytes, opt_.kv_timeout,
            [this, id, bytes](Status st) { OnPullDone(id, st, bytes); });
}

void WorkerService::Impl::OnPullDone(uint64_t id, const Status& st, int64_t bytes) {
  const auto it = live_.find(id);
  if (it == live_.end() || it->second.cancelled) return;  // the client went away meanwhile
  Live& l = it->second;
  net::KvTransferDone msg{id, st.ok(), st.ok() ? bytes : 0, (Now() - l.pull_started).nanos() / 1000,
                          st.ok() ? "" : st.message()};
  if (std::shared_ptr<Connection> c = l.conn.lock()) c->Send(msg);
  if (st.ok()) {
    ++stats_.kv_pulls_ok;
    sched_.KvArrived(Now(), RequestId(id));
    MaybeStep();
    return;
  }
  ++stats_.kv_fallbacks;
  std::fprintf(stderr, "worker %s: request %llu: %s; prefilling it here\n", opt_.name.c_str(),
               static_cast<unsigned long long>(id), st.message().c_str());
  if (stepping_) {
    deferred_fallbacks_.push_back(id);
  } else {
    FallBackToLocalPrefill(id);
    MaybeStep();
  }
}

void WorkerService::Impl::FallBackToLocalPrefill(uint64_t id) {
  const auto it = live_.find(id);
  if (it == live_.end() || it->second.cancelled) return;
  Live& l = it->second;
  sched_.Cancel(Now(), RequestId(id));  // frees the blocks reserved for the pulled KV
  l.kv_source.clear();
  worker::EngineRequest er;
  er.id = RequestId(id);
  er.prompt_tokens = l.prompt_tokens;
  er.max_output_tokens = l.max_output_tokens;
  er.generated_tokens = l.generated_tokens;  // the first token is out: continue from the next
  er.block_hashes = l.block_hashes;
  if (sched_.Add(Now(), std::move(er)) != worker::AddResult::kAccepted) {
    // It fitted as a remote-KV request, so it fits as a local one; never expected.
    std::shared_ptr<Connection> c = l.conn.lock();
    live_.erase(it);
    if (c) Reject(c, id, "worker " + opt_.name + " cannot prefill the request after a failed pull");
  }
  FlushKvEvents();
}

bool WorkerService::Impl::AcceptPull(uint64_t id, int64_t /*bytes*/) {
  const auto it = live_.find(id);
  if (opt_.kv_refuse || it == live_.end() || !it->second.held || it->second.cancelled ||
      it->second.sending) {
    return false;
  }
  it->second.sending = true;
  return true;
}

void WorkerService::Impl::OnKvSent(uint64_t id, const Status& st) {
  const auto it = live_.find(id);
  if (it == live_.end()) return;
  if (st.ok()) {
    ++stats_.kv_sent;
  } else {
    std::fprintf(stderr, "worker %s: sending the KV of request %llu failed: %s\n",
                 opt_.name.c_str(), static_cast<unsigned long long>(id), st.message().c_str());
  }
  // Either way this copy is done with: the decode worker has it, or prefills itself.
  if (it->second.cancelled) return;  // the deferred cancel frees it
  sched_.ReleaseKv(Now(), RequestId(id));
  live_.erase(it);
  MaybeStep();  // freed blocks may admit waiting prompts
  MaybeFinishDrain();
}

void WorkerService::Impl::ExpireHeldKv() {
  if (stepping_ || sched_.config().role != WorkerRole::kPrefill) return;
  const Time now = Now();
  std::vector<uint64_t> expired;
  for (const auto& [id, l] : live_) {
    if (l.held && !l.sending && !l.cancelled && now - l.held_since > opt_.kv_hold_timeout) {
      expired.push_back(id);
    }
  }
  if (expired.empty()) return;
  std::sort(expired.begin(), expired.end());
  for (uint64_t id : expired) {
    sched_.Cancel(now, RequestId(id));
    live_.erase(id);
    ++stats_.kv_expired;
  }
  std::fprintf(stderr, "worker %s: freed the KV of %zu request(s) nobody pulled within %lld s\n",
               opt_.name.c_str(), expired.size(),
               static_cast<long long>(opt_.kv_hold_timeout.seconds()));
  FlushKvEvents();
  MaybeStep();
  MaybeFinishDrain();
}

StatusOr<std::unique_ptr<WorkerService>> WorkerService::Create(
    asio::io_context& io, const Plan& plan, std::shared_ptr<const perf::PerfModel> perf,
    WorkerOptions options) {
  if (options.pool < 0 || options.pool >= static_cast<int32_t>(plan.workers.size())) {
    return InvalidArgument("--pool " + std::to_string(options.pool) + ": the plan has " +
                           std::to_string(plan.workers.size()) + " pool(s); use 0.." +
                           std::to_string(plan.workers.size() - 1));
  }
  if (!(options.time_scale > 0)) {
    return InvalidArgument("--time-scale " + std::to_string(options.time_scale) +
                           ": must be > 0 (1 = the model's time)");
  }
  const WorkerPoolSpec& spec = plan.workers[static_cast<size_t>(options.pool)];
  if (options.name.empty()) {
    options.name =
        std::string(WorkerRoleName(spec.role)) + "-" + std::to_string(options.pool) + "-" +
        (options.replica >= 0 ? std::to_string(options.replica) : "p" + std::to_string(::getpid()));
  }
  const std::string where = plan.source + ": $.workers[" + std::to_string(options.pool) + "]";
  perf::WorkerConfig wc{spec.parallelism, plan.weight_dtype, plan.kv_dtype};
  auto model = perf::StepLatencyModel::Create(plan.model, wc, std::move(perf));
  if (!model.ok()) return model.status().WithContext(where);
  ASSIGN_OR_RETURN(router::Router router, router::MakeRouterFor(plan, spec.role, 0));

  const worker::EngineConfig ec = worker::EngineConfigFor(spec, router.wants_kv_events());
  if (ec.num_blocks <= 0) {
    return FailedPrecondition(where + ": no KV cache blocks fit on the worker's GPUs");
  }

  if (!(options.kv_bytes_scale >= 0)) {
    return InvalidArgument("--kv-bytes-scale " + std::to_string(options.kv_bytes_scale) +
                           ": must be >= 0 (1 = the model's KV bytes)");
  }
  auto impl =
      std::make_unique<Impl>(io, options, ec, perf::StepTimer(std::move(*model), spec.max_num_seqs),
                             plan.model.KvBytesPerToken(plan.kv_dtype));
  RETURN_IF_ERROR(impl->Listen());
  RETURN_IF_ERROR(impl->StartKvTransport());
  impl->hello.name = options.name;
  impl->hello.role = spec.role;
  impl->hello.pool = options.pool;
  impl->hello.max_num_batched_tokens = spec.max_num_batched_tokens;
  impl->hello.block_size = spec.block_size;
  impl->hello.num_blocks = ec.num_blocks;
  impl->hello.pid = static_cast<uint32_t>(::getpid());
  {
    std::optional<RunDir> dir;
    if (!options.run_dir.empty()) {
      ASSIGN_OR_RETURN(RunDir d, RunDir::Open(options.run_dir, /*create=*/false));
      dir.emplace(std::move(d));
    }
    Registration reg;
    reg.name = options.name;
    reg.pool = options.pool;
    reg.replica = options.replica;
    reg.role = spec.role;
    reg.host = options.host;
    reg.port = impl->port();
    reg.pid = static_cast<uint32_t>(::getpid());
    impl->set_registry(std::move(dir), std::move(reg));
    RETURN_IF_ERROR(impl->ResolveFrontend());
  }
  impl->Start();
  return std::unique_ptr<WorkerService>(new WorkerService(std::move(impl)));
}

WorkerService::WorkerService(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
WorkerService::~WorkerService() = default;
uint16_t WorkerService::port() const { return impl_->port(); }
const std::string& WorkerService::name() const { return impl_->name(); }
void WorkerService::Drain(std::function<void()> done) { impl_->Drain(std::move(done)); }
const WorkerStats& WorkerService::stats() const { return impl_->stats(); }

}  // namespace dynamo::service
