#include "sim/simulation.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <utility>

#include "core/check.h"
#include "core/perf/step_timer.h"
#include "core/rng.h"
#include "core/topology/cluster_topology.h"
#include "planner/interval_observer.h"
#include "planner/plan_planner.h"
#include "planner/sla_planner.h"
#include "runtime/router/block_hash.h"
#include "runtime/router/plan_router.h"
#include "runtime/router/router.h"
#include "runtime/worker/engine_scheduler.h"
#include "sim/event_queue.h"
#include "sim/network_model.h"

namespace dynamo::sim {
namespace {

using worker::EngineScheduler;
using worker::KvBlockManager;

enum class EventKind : uint8_t {
  kArrival,   // a = request index
  kWake,      // a = worker: schedule a step if idle
  kStepDone,  // a = worker
  kNetwork,   // b = token (stale tokens are skipped)
  kSample,    // close a time-series interval
  kPlanner,   // a planner interval ends: observe, decide, scale
  kReady,     // a = worker: start-up done, it joins its router
};

struct Event {
  EventKind kind;
  uint32_t a = 0;
  uint64_t b = 0;
};

// A worker's life under the planner: starting (GPUs held, model loading) -> active (routed to)
// -> draining (no new requests; finishes what it holds) -> retired (GPUs freed). Without the
// planner every worker is active for the whole run.
enum class WorkerState : uint8_t { kStarting, kActive, kDraining, kRetired };

struct Worker {
  int pool = 0;
  WorkerRole role = WorkerRole::kAggregated;
  WorkerState state = WorkerState::kActive;
  int32_t pending_handoffs = 0;  // requests routed here for decode but not yet added
  std::unique_ptr<EngineScheduler> sched;
  std::vector<GpuId> gpus;
  bool stepping = false;
  bool wake_pending = false;
  int32_t batch_seqs = 0;  // sequences in the step in flight
};

struct Pool {
  std::unique_ptr<perf::StepTimer> timer;
  const WorkerPoolSpec* spec = nullptr;
  int32_t block_size = 16;
  bool emit_kv_events = false;
};

// Per-request state of a prefill -> decode hand-off.
struct Handoff {
  int32_t decode_worker = -1;
  bool decode_added = false;
  bool reserved = false;
  bool prefill_done = false;
  bool arrived = false;
  int32_t cached_at_decode = 0;  // prompt tokens the decode worker already held
  int32_t sent_upto = 0;         // prompt tokens whose KV has been put on the network
  int32_t computed = 0;          // prompt tokens computed on the prefill worker so far
  int32_t outstanding = 0;       // transfers in flight
  Time prefill_done_at;
  Time reserved_at;
};

class Simulation {
 public:
  Simulation(const Plan& plan, const Workload& workload,
             std::shared_ptr<const perf::PerfModel> perf, const SimOptions& options)
      : plan_(plan), wl_(workload), perf_(std::move(perf)), opt_(options) {}

  Status Init();
  SimResult Run();

 private:
  // Setup.
  void InitEarlyStop();
  Status BuildWorkers();
  Status MakeRouters();
  Status MakePlanner();
  StatusOr<router::Router> MakeRouter(WorkerRole role);
  // Creates a worker of pool `pi` on `gpus` (active, or starting under the planner).
  int AddWorker(int pi, std::vector<GpuId> gpus, WorkerState state);
  router::Router* RouterFor(WorkerRole role);

  // Event handlers.
  void OnArrival(uint32_t index);
  void OnStepDone(int w);
  void OnNetwork();
  void OnSample();
  void OnPlannerTick();
  void OnReady(int w);

  // Planner: scaling a pool to `target` workers (starting + active).
  void ScalePool(int pi, int target);
  std::optional<std::vector<GpuId>> AllocateGpus(int count);
  void MaybeRetire(int w);
  int CountWorkers(int pi, bool include_starting) const;

  // Worker driving.
  void Wake(int w);
  void StartStep(int w);
  // Queues request `id` on worker `w`; false when the worker rejects it (too long). `hashes`:
  // the request's block hashes at w's block size when the caller already has them.
  bool AddToWorker(int w, RequestId id, bool kv_remote, int32_t generated,
                   std::vector<uint64_t>* hashes = nullptr);
  void ProcessOutcome(int w, const worker::StepOutcome& out);
  void FlushKvEvents(int w);  // the worker's KV events -> its router's indexer
  // Requests the router let wait, dispatched once a worker has room.
  void DrainRouterQueue(WorkerRole role);
  void StartAgg(RequestId id, int w, std::vector<uint64_t> hashes);
  void StartPrefill(RequestId id, int p, std::vector<uint64_t> hashes);
  void OnPrefillDone(int w, RequestId id);
  // Picks the decode worker. `hashes`: the prompt's hashes at the decode block size (read only
  // under conditional disaggregation, where the decode router weighs overlap).
  void RouteToDecode(RequestId id, std::span<const uint64_t> hashes = {});
  void SendKv(RequestId id, int32_t upto);
  void MaybeKvArrived(RequestId id);
  void ReleasePrefillKv(int w, RequestId id);  // the prefill worker frees the request's blocks
  void Leave(RequestId id);  // the request leaves the system: counters, router bookings
  void Complete(RequestId id);
  void Reject(RequestId id);
  void Finished();  // after Complete or Reject: progress, closed-loop refill
  bool FitsSomeDecodeWorker(const Request& r) const;
  void ArmNetwork();

  // Accounting.
  void Advance(Time t);  // integrates the time-average counters up to t
  void Mix(uint64_t v) { fingerprint_ = Mix64(fingerprint_ ^ v) + 0x9e3779b97f4a7c15ULL; }
  std::vector<uint64_t> HashesFor(const Request& r, int32_t block_size) const;
  void CountShareableBlocks();
  RunSummary Summarize(double wall_s);

  const Plan& plan_;
  const Workload& wl_;
  std::shared_ptr<const perf::PerfModel> perf_;
  SimOptions opt_;

  std::optional<ClusterTopology> topology_;
  std::unique_ptr<NetworkModel> network_;
  std::vector<Pool> pools_;
  std::vector<Worker> workers_;
  std::optional<router::Router> agg_router_, prefill_router_, decode_router_;
  bool draining_queue_ = false;
  int64_t kv_bytes_per_token_ = 0;

  // Planner (plan.planner.enabled).
  std::optional<planner::SlaPlanner> planner_;
  std::vector<int>
      planner_pools_;           // pool indices in the planner's order: {agg} or {prefill, decode}
  std::vector<bool> gpu_used_;  // [gpu]
  int64_t planner_intervals_ = 0, planner_intervals_ok_ = 0;
  int64_t scale_ups_ = 0, scale_downs_ = 0;
  // The interval being observed (planner on).
  std::optional<planner::IntervalObserver> observer_;

  EventQueue<Event> queue_;
  Time now_;
  uint64_t network_token_ = 0;
  Time network_armed_ = Time::Max();
  std::vector<TransferId> completed_transfers_;
  std::unordered_map<uint64_t, RequestId> transfer_owner_;  // transfers in flight -> request
  std::vector<worker::KvReservation> reserved_scratch_;

  std::vector<RequestRecord> records_;
  std::vector<Handoff> handoffs_;  // [request] (disaggregated plans)
  // [request] leading workload blocks whose content another request also holds.
  std::vector<int32_t> shareable_;
  size_t next_arrival_ = 0;  // open loop: next request to arrive; closed loop: next to send
  int64_t finished_ = 0;     // completed + rejected
  int64_t completed_ = 0, rejected_ = 0;
  // stop_on_slo_miss: values above the targets (x the histogram's ratio, so the final verdict
  // agrees) and how many the percentile tolerates.
  double ttft_limit_ms_ = 0, itl_limit_ms_ = 0;
  int64_t ttft_over_ = 0, itl_over_ = 0;
  int64_t ttft_allowed_ = 0, itl_allowed_ = 0;
  bool stop_ = false;
  bool cancelled_ = false;

  stats::LogHistogram ttft_, itl_, tpot_, e2e_, queue_ms_, transfer_ms_;
  int64_t output_tokens_ = 0, prompt_tokens_ = 0, cached_tokens_ = 0;
  int64_t steps_ = 0, events_ = 0, preemptions_ = 0, transfers_ = 0;
  double transfer_bytes_ = 0;
  double good_requests_ = 0;
  uint64_t fingerprint_ = 0x6a09e667f3bcc908ULL;

  // Time-average counters, integrated in Advance().
  Time last_advance_;
  int64_t in_system_ = 0, stepping_ = 0, running_seqs_ = 0;
  int64_t gpus_held_ = 0, workers_held_ = 0;  // by workers starting, active or draining
  double in_system_area_ = 0, stepping_area_ = 0, running_area_ = 0;  // x nanoseconds
  double gpu_area_ = 0, worker_area_ = 0;                             // x nanoseconds
  Time first_arrival_ = Time::Max(), last_finish_;
  // Current time-series interval.
  TimeseriesRow row_;
  double row_in_system_area_ = 0, row_stepping_area_ = 0, row_running_area_ = 0;
  double row_worker_area_ = 0;
  std::vector<TimeseriesRow> timeseries_;
  std::vector<PlannerRow> planner_rows_;
};

std::vector<uint64_t> Simulation::HashesFor(const Request& r, int32_t bs) const {
  std::vector<uint64_t> out;
  if (wl_.block_tokens <= 0 || r.block_hashes.empty()) return out;
  // Only the shareable prefix: blocks no other request holds are never hit by another request,
  // so they need not enter the prefix cache's index (the dominant cost on long prompts) nor the
  // router's.
  const int64_t covered =
      opt_.hash_every_block
          ? r.isl
          : std::min<int64_t>(r.isl,
                              static_cast<int64_t>(shareable_[r.id.value()]) * wl_.block_tokens);
  router::HashesFromBlockIds(r.block_hashes, wl_.block_tokens, bs, covered / bs,
                             router::kBlockHashSeed, out);
  return out;
}

void Simulation::CountShareableBlocks() {
  // A workload hash identifies the prompt through its block; a block is shareable when at
  // least two requests hold that hash. Hashes are chained (equal at depth d means equal
  // prompts through d), so the shareable blocks of a request are a leading run, and a request
  // whose block d is unique cannot share any deeper block: compare depth by depth, keeping
  // only the requests still sharing. Cost: the sum of shared runs, not of prompt lengths.
  const size_t n = wl_.requests.size();
  shareable_.assign(n, 0);
  std::vector<uint32_t> alive;
  for (size_t i = 0; i < n; ++i) {
    if (!wl_.requests[i].block_hashes.empty()) alive.push_back(static_cast<uint32_t>(i));
  }
  std::vector<std::pair<uint64_t, uint32_t>> level;  // (hash at this depth, request index)
  for (size_t depth = 0; !alive.empty(); ++depth) {
    level.clear();
    for (uint32_t i : alive) {
      const std::vector<uint64_t>& h = wl_.requests[i].block_hashes;
      if (depth < h.size()) level.emplace_back(h[depth], i);
    }
    std::sort(level.begin(), level.end());
    alive.clear();
    for (size_t a = 0; a < level.size();) {
      size_t b = a + 1;
      while (b < level.size() && level[b].first == level[a].first) ++b;
      if (b - a >= 2) {
        for (size_t k = a; k < b; ++k) {
          shareable_[level[k].second] = static_cast<int32_t>(depth + 1);
          alive.push_back(level[k].second);
        }
      }
      a = b;
    }
  }
}

StatusOr<router::Router> Simulation::MakeRouter(WorkerRole role) {
  return router::MakeRouterFor(plan_, role, opt_.seed);
}

router::Router* Simulation::RouterFor(WorkerRole role) {
  switch (role) {
    case WorkerRole::kAggregated:
      return agg_router_ ? &*agg_router_ : nullptr;
    case WorkerRole::kPrefill:
      return prefill_router_ ? &*prefill_router_ : nullptr;
    case WorkerRole::kDecode:
      return decode_router_ ? &*decode_router_ : nullptr;
  }
  return nullptr;
}

Status Simulation::MakeRouters() {
  if (plan_.disaggregated()) {
    ASSIGN_OR_RETURN(router::Router pr, MakeRouter(WorkerRole::kPrefill));
    ASSIGN_OR_RETURN(router::Router dr, MakeRouter(WorkerRole::kDecode));
    prefill_router_.emplace(std::move(pr));
    decode_router_.emplace(std::move(dr));
  } else {
    ASSIGN_OR_RETURN(router::Router ar, MakeRouter(WorkerRole::kAggregated));
    agg_router_.emplace(std::move(ar));
  }
  return Status::Ok();
}

int Simulation::AddWorker(int pi, std::vector<GpuId> gpus, WorkerState state) {
  const Pool& pool = pools_[static_cast<size_t>(pi)];
  const WorkerPoolSpec& spec = *pool.spec;
  const worker::EngineConfig ec = worker::EngineConfigFor(spec, pool.emit_kv_events);
  Worker w;
  w.pool = pi;
  w.role = spec.role;
  w.state = state;
  w.sched = std::make_unique<EngineScheduler>(ec);
  for (GpuId g : gpus) {
    if (!gpu_used_.empty()) gpu_used_[g.value()] = true;
  }
  w.gpus = std::move(gpus);
  Advance(now_);
  gpus_held_ += static_cast<int64_t>(w.gpus.size());
  ++workers_held_;
  workers_.push_back(std::move(w));
  const int id = static_cast<int>(workers_.size() - 1);
  if (state == WorkerState::kActive) {
    RouterFor(spec.role)->AddWorker(
        now_, WorkerId(static_cast<uint32_t>(id)),
        router::WorkerInfo{static_cast<int32_t>(spec.max_num_batched_tokens)});
  }
  return id;
}

Status Simulation::BuildWorkers() {
  ASSIGN_OR_RETURN(ClusterTopology topo, ClusterTopology::Build(plan_.cluster));
  topology_.emplace(std::move(topo));
  std::vector<int> gpus;
  for (const WorkerPoolSpec& p : plan_.workers) {
    for (int i = 0; i < p.replicas; ++i) gpus.push_back(p.parallelism.gpus());
  }
  auto placed = topology_->Place(gpus);
  if (!placed.ok()) return placed.status().WithContext(plan_.source + ": $.workers");
  network_ = std::make_unique<NetworkModel>(*topology_);
  if (plan_.planner.enabled) gpu_used_.assign(static_cast<size_t>(topology_->num_gpus()), false);

  for (size_t pi = 0; pi < plan_.workers.size(); ++pi) {
    const WorkerPoolSpec& spec = plan_.workers[pi];
    perf::WorkerConfig wc{spec.parallelism, plan_.weight_dtype, plan_.kv_dtype};
    auto model = perf::StepLatencyModel::Create(plan_.model, wc, perf_);
    if (!model.ok()) {
      return model.status().WithContext(plan_.source + ": $.workers[" + std::to_string(pi) + "]");
    }
    Pool pool;
    pool.timer = std::make_unique<perf::StepTimer>(std::move(*model), spec.max_num_seqs);
    pool.spec = &spec;
    pool.block_size = spec.block_size;
    pool.emit_kv_events = RouterFor(spec.role)->wants_kv_events();
    pools_.push_back(std::move(pool));
  }
  size_t next = 0;
  for (size_t pi = 0; pi < plan_.workers.size(); ++pi) {
    for (int i = 0; i < plan_.workers[pi].replicas; ++i) {
      AddWorker(static_cast<int>(pi), (*placed)[next++], WorkerState::kActive);
    }
  }
  return Status::Ok();
}

Status Simulation::MakePlanner() {
  std::vector<const perf::StepLatencyModel*> models;
  for (const Pool& pool : pools_) models.push_back(&pool.timer->model());
  ASSIGN_OR_RETURN(planner::PlanPlanner made,
                   planner::MakePlannerFor(plan_, models, topology_->num_gpus()));
  planner_.emplace(std::move(made.planner));
  planner_pools_ = std::move(made.plan_pools);
  observer_.emplace(plan_.planner.percentile);
  if (opt_.planner_warmup != nullptr) {
    planner_->WarmUp(planner::BucketByInterval(*opt_.planner_warmup, planner_->config().interval));
  }
  return Status::Ok();
}

// The largest number of values above the target that still leaves the nearest-rank percentile
// of `total` values at or below it; the final count can only be smaller (rejections), which
// makes the bound conservative.
static int64_t AllowedAbove(int64_t total, double percentile) {
  // The rank stats::LogHistogram::Percentile uses (q x n first, then / 100), so both agree.
  const auto rank =
      static_cast<int64_t>(std::ceil(percentile * static_cast<double>(total) / 100.0));
  return total - std::max<int64_t>(1, rank);
}

void Simulation::InitEarlyStop() {
  int64_t gaps = 0;
  for (const Request& r : wl_.requests) gaps += std::max(0, r.osl - 1);
  const auto n = static_cast<int64_t>(wl_.requests.size());
  const double q = opt_.slo.percentile;
  ttft_limit_ms_ = opt_.slo.ttft_ms ? *opt_.slo.ttft_ms * stats::LogHistogram::kRatio : 0;
  itl_limit_ms_ = opt_.slo.itl_ms ? *opt_.slo.itl_ms * stats::LogHistogram::kRatio : 0;
  ttft_allowed_ = AllowedAbove(n, q);
  itl_allowed_ = AllowedAbove(gaps, q);
}

Status Simulation::Init() {
  RETURN_IF_ERROR(MakeRouters());
  RETURN_IF_ERROR(BuildWorkers());
  if (plan_.planner.enabled) RETURN_IF_ERROR(MakePlanner());
  if (opt_.timeseries_interval <= Duration::Zero()) {
    return InvalidArgument("time-series interval must be positive");
  }
  for (size_t i = 0; i < wl_.requests.size(); ++i) {
    if (wl_.requests[i].id.value() != i) {
      return InvalidArgument(
          wl_.source + ": request ids must be 0..n-1 in arrival order (request " +
          std::to_string(i) + " has id " + std::to_string(wl_.requests[i].id.value()) + ")");
    }
  }
  kv_bytes_per_token_ = plan_.model.KvBytesPerToken(plan_.kv_dtype);
  const size_t n = wl_.requests.size();
  records_.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const Request& r = wl_.requests[i];
    RequestRecord& rec = records_[i];
    rec.id = r.id;
    rec.arrival = r.arrival;
    rec.isl = r.isl;
    rec.osl = r.osl;
  }
  if (plan_.disaggregated()) handoffs_.resize(n);
  if (opt_.stop_on_slo_miss) InitEarlyStop();
  CountShareableBlocks();
  queue_.Reserve(1024);
  return Status::Ok();
}

void Simulation::Advance(Time t) {
  if (t <= last_advance_) return;
  const double dt = static_cast<double>((t - last_advance_).nanos());
  in_system_area_ += static_cast<double>(in_system_) * dt;
  stepping_area_ += static_cast<double>(stepping_) * dt;
  running_area_ += static_cast<double>(running_seqs_) * dt;
  gpu_area_ += static_cast<double>(gpus_held_) * dt;
  worker_area_ += static_cast<double>(workers_held_) * dt;
  last_advance_ = t;
}

void Simulation::Wake(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  if (wk.stepping || wk.wake_pending) return;
  wk.wake_pending = true;
  queue_.Push(now_, Event{EventKind::kWake, static_cast<uint32_t>(w), 0});
}

bool Simulation::AddToWorker(int w, RequestId id, bool kv_remote, int32_t generated,
                             std::vector<uint64_t>* hashes) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  const Pool& pool = pools_[static_cast<size_t>(wk.pool)];
  const Request& r = wl_.requests[id.value()];
  worker::EngineRequest er;
  er.id = id;
  er.prompt_tokens = r.isl;
  er.max_output_tokens = wk.role == WorkerRole::kPrefill ? 1 : std::max(1, r.osl);
  er.block_hashes = hashes ? std::move(*hashes) : HashesFor(r, pool.block_size);
  er.generated_tokens = generated;
  er.kv_remote = kv_remote;
  if (wk.sched->Add(now_, std::move(er)) != worker::AddResult::kAccepted) return false;
  Mix(id.value() * 1315423911ULL + static_cast<uint64_t>(w));
  Wake(w);
  return true;
}

void Simulation::OnArrival(uint32_t index) {
  const Request& r = wl_.requests[index];
  const RequestId id = r.id;
  RequestRecord& rec = records_[index];
  rec.arrival = now_;  // closed loop: sent now
  first_arrival_ = std::min(first_arrival_, now_);
  Advance(now_);
  ++in_system_;
  ++row_.arrivals;
  if (observer_) observer_->Arrival(r.isl, r.osl);
  // Open loop: the next arrival is scheduled when this one happens (keeps the queue small).
  if (wl_.closed_loop_concurrency <= 0 && next_arrival_ < wl_.requests.size()) {
    const Request& nx = wl_.requests[next_arrival_];
    queue_.Push(std::max(nx.arrival, now_),
                Event{EventKind::kArrival, static_cast<uint32_t>(next_arrival_++), 0});
  }
  if (!plan_.disaggregated()) {
    std::vector<uint64_t> hashes = HashesFor(r, agg_router_->config().block_size);
    const router::Decision d = agg_router_->Route(now_, {id, r.isl, hashes, r.osl});
    if (!d.queued) StartAgg(id, static_cast<int>(d.worker.value()), std::move(hashes));
    return;
  }
  // A request no decode worker could ever hold is rejected before any prefill work.
  if (!FitsSomeDecodeWorker(r)) {
    Reject(id);
    return;
  }
  Handoff& h = handoffs_[index];
  if (plan_.disagg.layerwise_streaming && !plan_.disagg.conditional) RouteToDecode(id);
  if (plan_.disagg.conditional) {
    // The decode worker with the best overlap and load; it prefills locally when the tokens it
    // does not already hold are few.
    const int32_t bs = decode_router_->config().block_size;
    std::vector<uint64_t> hashes = HashesFor(r, bs);
    RouteToDecode(id, hashes);
    Worker& d = workers_[static_cast<size_t>(h.decode_worker)];
    const int64_t uncached = r.isl - d.sched->blocks().MatchPrefix(hashes) * bs;
    if (uncached <= plan_.disagg.max_local_prefill_tokens) {
      --d.pending_handoffs;
      h.decode_added = true;
      if (AddToWorker(h.decode_worker, id, false, 0, &hashes)) {
        rec.local_prefill = true;
        rec.prefill_worker = h.decode_worker;
        return;
      }
      h.decode_added = false;
      ++d.pending_handoffs;
    }
  }
  std::vector<uint64_t> hashes = HashesFor(r, prefill_router_->config().block_size);
  const router::Decision d = prefill_router_->Route(now_, {id, r.isl, hashes, r.osl});
  if (!d.queued) StartPrefill(id, static_cast<int>(d.worker.value()), std::move(hashes));
}

void Simulation::StartAgg(RequestId id, int w, std::vector<uint64_t> hashes) {
  records_[id.value()].prefill_worker = w;
  if (!AddToWorker(w, id, false, 0, &hashes)) Reject(id);
}

void Simulation::StartPrefill(RequestId id, int p, std::vector<uint64_t> hashes) {
  const Request& r = wl_.requests[id.value()];
  records_[id.value()].prefill_worker = p;
  if (!AddToWorker(p, id, false, 0, &hashes)) {
    Reject(id);
    return;
  }
  Handoff& h = handoffs_[id.value()];
  if (plan_.disagg.layerwise_streaming && r.osl > 1) {
    // The decode worker reserves blocks now, so KV can stream while the prompt is computed.
    h.decode_added = true;
    --workers_[static_cast<size_t>(h.decode_worker)].pending_handoffs;
    if (!AddToWorker(h.decode_worker, id, true, 1)) {
      h.decode_added = false;
      ++workers_[static_cast<size_t>(h.decode_worker)].pending_handoffs;
    }
  }
}

void Simulation::DrainRouterQueue(WorkerRole role) {
  router::Router* router = RouterFor(role);
  if (router == nullptr || router->waiting() == 0 || draining_queue_) return;
  draining_queue_ = true;  // dispatching may release capacity again (a rejection): no recursion
  while (auto routed = router->Dequeue(now_)) {
    std::vector<uint64_t> hashes = std::move(routed->block_hashes);
    const int w = static_cast<int>(routed->decision.worker.value());
    Mix(0x9ULL << 56 ^ routed->id.value() ^ static_cast<uint64_t>(w) << 32);
    if (role == WorkerRole::kAggregated) {
      StartAgg(routed->id, w, std::move(hashes));
    } else {
      StartPrefill(routed->id, w, std::move(hashes));
    }
  }
  draining_queue_ = false;
}

void Simulation::StartStep(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  wk.wake_pending = false;
  if (wk.stepping || wk.state == WorkerState::kRetired) return;
  const worker::StepPlan& plan = wk.sched->Schedule(now_);
  if (pools_[static_cast<size_t>(wk.pool)].emit_kv_events) FlushKvEvents(w);  // evictions
  for (const worker::Admission& a : plan.admitted) {
    RequestRecord& rec = records_[a.id.value()];
    if (a.resumed) continue;
    const bool decode_side =
        plan_.disaggregated() && wk.role == WorkerRole::kDecode && !rec.local_prefill;
    if (decode_side) continue;  // admitted after KV arrival: not queueing for the prompt
    if (rec.admitted == Time::Max()) {
      rec.admitted = now_;
      rec.cached_tokens = a.cached_tokens;
      cached_tokens_ += a.cached_tokens;
      prompt_tokens_ += rec.isl;
      if (observer_) observer_->Admitted(a.cached_tokens, rec.isl);
      queue_ms_.Add((now_ - rec.arrival).millis());
    }
  }
  for (RequestId id : plan.preempted) {
    ++records_[id.value()].preemptions;
    ++preemptions_;
    Mix(0xdeadULL << 32 | id.value());
  }
  // Copied: handling a reservation may call into this scheduler (KvArrived).
  reserved_scratch_.assign(plan.kv_reserved.begin(), plan.kv_reserved.end());
  for (const worker::KvReservation& kr : reserved_scratch_) {
    Handoff& h = handoffs_[kr.id.value()];
    h.reserved = true;
    h.reserved_at = now_;
    h.cached_at_decode = kr.cached_tokens;
    if (h.prefill_done) records_[kr.id.value()].kv_wait = now_ - h.prefill_done_at;
    const Request& r = wl_.requests[kr.id.value()];
    SendKv(kr.id, h.prefill_done ? r.isl : h.computed);
    MaybeKvArrived(kr.id);
  }
  if (plan.empty()) return;
  // Layer-wise streaming: the KV of each prompt chunk starts moving as its step starts.
  if (plan_.disagg.layerwise_streaming && wk.role == WorkerRole::kPrefill) {
    for (const worker::ScheduledSeq& s : plan.seqs) {
      Handoff& h = handoffs_[s.id.value()];
      h.computed = std::max(h.computed, s.context_before + s.num_tokens);
      if (h.reserved) SendKv(s.id, h.computed);
    }
  }
  const Duration d = pools_[static_cast<size_t>(wk.pool)].timer->StepTime(plan.batch);
  Advance(now_);
  wk.stepping = true;
  wk.batch_seqs = static_cast<int32_t>(plan.seqs.size());
  ++stepping_;
  running_seqs_ += wk.batch_seqs;
  ++steps_;
  Mix((static_cast<uint64_t>(w) << 48) ^ (static_cast<uint64_t>(plan.num_tokens) << 20) ^
      static_cast<uint64_t>(d.nanos()));
  queue_.Push(now_ + d, Event{EventKind::kStepDone, static_cast<uint32_t>(w), 0});
}

void Simulation::OnStepDone(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  Advance(now_);
  wk.stepping = false;
  --stepping_;
  running_seqs_ -= wk.batch_seqs;
  wk.batch_seqs = 0;
  const worker::StepOutcome& out = wk.sched->StepDone(now_);
  if (pools_[static_cast<size_t>(wk.pool)].emit_kv_events) FlushKvEvents(w);  // new cached blocks
  ProcessOutcome(w, out);
  StartStep(w);
  if (wk.state == WorkerState::kDraining) MaybeRetire(w);
}

void Simulation::ProcessOutcome(int w, const worker::StepOutcome& out) {
  const WorkerRole role = workers_[static_cast<size_t>(w)].role;
  const bool prefill_role = role == WorkerRole::kPrefill;
  router::Router* router = RouterFor(role);
  const bool progress = router->wants_progress();
  bool prefill_finished = false;
  for (const worker::TokenOut& t : out.tokens) {
    RequestRecord& rec = records_[t.id.value()];
    if (t.index == 1) {
      rec.first_token = now_;
      const double ttft = (now_ - rec.arrival).millis();
      ttft_.Add(ttft);
      if (ttft_limit_ms_ > 0 && ttft > ttft_limit_ms_ && ++ttft_over_ > ttft_allowed_) stop_ = true;
      if (observer_) observer_->Ttft(WorkerId(static_cast<uint32_t>(w)), ttft);
      if (!prefill_role) {
        router->PrefillDone(now_, t.id);
        prefill_finished = true;
      }
    } else {
      const Duration gap = now_ - rec.last_token;
      itl_.Add(gap.millis());
      if (itl_limit_ms_ > 0 && gap.millis() > itl_limit_ms_ && ++itl_over_ > itl_allowed_) {
        stop_ = true;
      }
      if (observer_) observer_->Itl(WorkerId(static_cast<uint32_t>(w)), gap.millis());
      rec.itl_max = std::max(rec.itl_max, gap);
    }
    if (progress) router->Progress(now_, t.id, t.index);
    rec.last_token = now_;
    rec.output = t.index;
    ++output_tokens_;
    ++row_.output_tokens;
  }
  if (prefill_role) {
    for (RequestId id : out.prefill_done) OnPrefillDone(w, id);
    DrainRouterQueue(role);
    return;
  }
  for (RequestId id : out.finished) Complete(id);
  if (prefill_finished) DrainRouterQueue(role);
}

void Simulation::FlushKvEvents(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  worker::KvEventLog& log = wk.sched->blocks().events();
  if (log.events.empty()) return;
  router::Router* router = RouterFor(wk.role);
  const WorkerId id(static_cast<uint32_t>(w));
  // A worker that is not routed to (starting, draining) keeps no index entries.
  if (router->HasWorker(id)) {
    for (const worker::KvEvent& e : log.events) {
      if (e.kind == worker::KvEvent::Kind::kStored) {
        router->KvStored(now_, id, log.HashesOf(e));
      } else {
        router->KvRemoved(now_, id, log.HashesOf(e));
      }
    }
  }
  log.Clear();
}

void Simulation::OnPrefillDone(int w, RequestId id) {
  const Request& r = wl_.requests[id.value()];
  prefill_router_->Release(now_, id);
  Handoff& h = handoffs_[id.value()];
  h.prefill_done = true;
  h.prefill_done_at = now_;
  h.computed = r.isl;
  if (r.osl <= 1) {  // the first token was the last
    ReleasePrefillKv(w, id);
    Complete(id);  // releases the decode router's booking too, if any
    return;
  }
  if (!h.decode_added) {
    if (h.decode_worker < 0) RouteToDecode(id);
    h.decode_added = true;
    --workers_[static_cast<size_t>(h.decode_worker)].pending_handoffs;
    if (!AddToWorker(h.decode_worker, id, true, 1)) {
      ReleasePrefillKv(w, id);
      Reject(id);
      return;
    }
  }
  if (h.reserved) SendKv(id, r.isl);
  MaybeKvArrived(id);
}

bool Simulation::FitsSomeDecodeWorker(const Request& r) const {
  for (const Worker& w : workers_) {
    if (w.role != WorkerRole::kDecode || w.state == WorkerState::kRetired) continue;
    const KvBlockManager& b = w.sched->blocks();
    if (b.BlocksFor(int64_t{r.isl} + std::max(1, r.osl)) <= b.num_blocks()) return true;
  }
  return false;
}

void Simulation::RouteToDecode(RequestId id, std::span<const uint64_t> hashes) {
  const Request& r = wl_.requests[id.value()];
  const router::RouteRequest rr{id, r.isl, hashes, r.osl};
  Handoff& h = handoffs_[id.value()];
  h.decode_worker = static_cast<int>(decode_router_->Route(now_, rr).worker.value());
  ++workers_[static_cast<size_t>(h.decode_worker)].pending_handoffs;
  records_[id.value()].decode_worker = h.decode_worker;
  Mix(static_cast<uint64_t>(h.decode_worker) << 40 | id.value());
}

void Simulation::SendKv(RequestId id, int32_t upto) {
  Handoff& h = handoffs_[id.value()];
  const int32_t from = std::max(h.sent_upto, h.cached_at_decode);
  if (upto <= from) {
    h.sent_upto = std::max(h.sent_upto, upto);
    return;
  }
  h.sent_upto = upto;
  const int64_t bytes = static_cast<int64_t>(upto - from) * kv_bytes_per_token_;
  const RequestRecord& rec = records_[id.value()];
  const Worker& p = workers_[static_cast<size_t>(rec.prefill_worker)];
  const Worker& d = workers_[static_cast<size_t>(h.decode_worker)];
  // One flow per GPU pair: a TP worker's KV shards move in parallel.
  const size_t n = std::max(p.gpus.size(), d.gpus.size());
  std::vector<FlowSpec> flows(n);
  for (size_t k = 0; k < n; ++k) {
    flows[k] = FlowSpec{p.gpus[k % p.gpus.size()], d.gpus[k % d.gpus.size()],
                        bytes / static_cast<int64_t>(n) + (k < static_cast<size_t>(bytes) % n)};
  }
  const TransferId t = network_->Start(now_, flows);
  transfer_owner_.emplace(t.value(), id);
  ++h.outstanding;
  ++transfers_;
  transfer_bytes_ += static_cast<double>(bytes);
  Mix(0x7fULL << 56 ^ static_cast<uint64_t>(bytes) ^ id.value() << 8);
  ArmNetwork();
}

void Simulation::MaybeKvArrived(RequestId id) {
  Handoff& h = handoffs_[id.value()];
  const Request& r = wl_.requests[id.value()];
  // Arrived: the prompt is computed, the decode worker holds blocks for it, and every token it
  // did not already hold has been sent and delivered.
  if (h.arrived || !h.prefill_done || !h.reserved || h.outstanding > 0 ||
      std::max(h.sent_upto, h.cached_at_decode) < r.isl) {
    return;
  }
  h.arrived = true;
  RequestRecord& rec = records_[id.value()];
  rec.transfer = now_ - std::max(h.reserved_at, h.prefill_done_at);
  transfer_ms_.Add(rec.transfer.millis());
  ReleasePrefillKv(rec.prefill_worker, id);
  workers_[static_cast<size_t>(h.decode_worker)].sched->KvArrived(now_, id);
  Wake(h.decode_worker);
}

void Simulation::ReleasePrefillKv(int w, RequestId id) {
  workers_[static_cast<size_t>(w)].sched->ReleaseKv(now_, id);
  Wake(w);  // freed blocks may admit waiting requests
  MaybeRetire(w);
}

void Simulation::ArmNetwork() {
  const Time t = network_->NextEventTime();
  if (t == Time::Max() || t >= network_armed_) return;
  network_armed_ = t;
  queue_.Push(std::max(t, now_), Event{EventKind::kNetwork, 0, ++network_token_});
}

void Simulation::OnNetwork() {
  network_armed_ = Time::Max();
  completed_transfers_.clear();
  network_->AdvanceTo(now_, completed_transfers_);
  for (TransferId t : completed_transfers_) {
    const auto it = transfer_owner_.find(t.value());
    DYNAMO_CHECK(it != transfer_owner_.end());
    const RequestId id = it->second;
    transfer_owner_.erase(it);
    --handoffs_[id.value()].outstanding;
    MaybeKvArrived(id);
  }
  ArmNetwork();
}

void Simulation::Leave(RequestId id) {
  const RequestRecord& rec = records_[id.value()];
  DYNAMO_CHECK(!rec.done() && !rec.rejected);
  Advance(now_);
  --in_system_;
  ++finished_;
  // Release calls for requests a router does not hold are ignored.
  if (agg_router_) agg_router_->Release(now_, id);
  if (prefill_router_) prefill_router_->Release(now_, id);
  if (decode_router_) decode_router_->Release(now_, id);
  if (!handoffs_.empty()) {
    const Handoff& h = handoffs_[id.value()];
    if (h.decode_worker >= 0 && !h.decode_added) {
      --workers_[static_cast<size_t>(h.decode_worker)].pending_handoffs;
      MaybeRetire(h.decode_worker);
    }
  }
  if (rec.prefill_worker >= 0) MaybeRetire(rec.prefill_worker);
  if (rec.decode_worker >= 0) MaybeRetire(rec.decode_worker);
  DrainRouterQueue(plan_.disaggregated() ? WorkerRole::kPrefill : WorkerRole::kAggregated);
}

void Simulation::Complete(RequestId id) {
  Leave(id);
  RequestRecord& rec = records_[id.value()];
  rec.finish = now_;
  last_finish_ = std::max(last_finish_, now_);
  ++completed_;
  ++row_.completions;
  const double e2e_ms = (rec.finish - rec.arrival).millis();
  e2e_.Add(e2e_ms);
  double tpot_ms = 0;
  if (rec.output > 1) {
    tpot_ms = (rec.finish - rec.first_token).millis() / static_cast<double>(rec.output - 1);
    tpot_.Add(tpot_ms);
  }
  if (opt_.slo.ttft_ms || opt_.slo.itl_ms) {
    const bool ttft_good =
        !opt_.slo.ttft_ms || (rec.first_token - rec.arrival).millis() <= *opt_.slo.ttft_ms;
    const bool itl_good = !opt_.slo.itl_ms || tpot_ms <= *opt_.slo.itl_ms;
    if (ttft_good && itl_good) good_requests_ += 1;
  }
  Mix(id.value() ^ static_cast<uint64_t>(now_.nanos()) << 17);
  Finished();
}

void Simulation::Finished() {
  if (opt_.progress && wl_.requests.size() >= 100 &&
      finished_ % static_cast<int64_t>(wl_.requests.size() / 100) == 0) {
    opt_.progress(static_cast<double>(finished_) / static_cast<double>(wl_.requests.size()));
  }
  // Closed loop: a finished request makes room for the next.
  if (wl_.closed_loop_concurrency > 0 && next_arrival_ < wl_.requests.size()) {
    queue_.Push(now_, Event{EventKind::kArrival, static_cast<uint32_t>(next_arrival_++), 0});
  }
}

void Simulation::Reject(RequestId id) {
  Leave(id);
  records_[id.value()].rejected = true;
  ++rejected_;
  Mix(0xbadULL << 40 | id.value());
  Finished();
}

void Simulation::OnSample() {
  Advance(now_);
  const double interval_ns = static_cast<double>(opt_.timeseries_interval.nanos());
  const double workers = static_cast<double>(workers_.size());
  row_.in_system_avg = (in_system_area_ - row_in_system_area_) / interval_ns;
  row_.running_avg = (running_area_ - row_running_area_) / interval_ns;
  row_.busy_frac = planner_ ? (stepping_area_ - row_stepping_area_) /
                                  std::max(1.0, worker_area_ - row_worker_area_)
                            : (stepping_area_ - row_stepping_area_) / (interval_ns * workers);
  double kv = 0;
  int64_t live = 0;
  for (const Worker& w : workers_) {
    if (w.state == WorkerState::kRetired) continue;
    kv += static_cast<double>(w.sched->blocks().num_used_blocks()) /
          static_cast<double>(w.sched->blocks().num_blocks());
    ++live;
  }
  row_.kv_used_frac = live > 0 ? kv / static_cast<double>(live) : 0;
  row_.gpus = gpus_held_;
  timeseries_.push_back(row_);
  row_ = TimeseriesRow{};
  row_.t_s = now_.seconds();
  row_in_system_area_ = in_system_area_;
  row_running_area_ = running_area_;
  row_stepping_area_ = stepping_area_;
  row_worker_area_ = worker_area_;
  // Nothing else pending while requests remain: they can never finish (reported as stalled in
  // the summary rather than looping forever). The planner's tick is not progress.
  const size_t housekeeping = planner_ ? 1 : 0;
  if (finished_ < static_cast<int64_t>(wl_.requests.size()) && queue_.size() > housekeeping) {
    queue_.Push(now_ + opt_.timeseries_interval, Event{EventKind::kSample, 0, 0});
  }
}

void Simulation::MaybeRetire(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  if (wk.state != WorkerState::kDraining || wk.stepping || wk.pending_handoffs > 0 ||
      !wk.sched->idle()) {
    return;
  }
  Advance(now_);
  wk.state = WorkerState::kRetired;
  gpus_held_ -= static_cast<int64_t>(wk.gpus.size());
  --workers_held_;
  for (GpuId g : wk.gpus) gpu_used_[g.value()] = false;
  wk.sched.reset();  // its KV cache memory (the worker is gone)
  Mix(0x5ULL << 56 ^ static_cast<uint64_t>(w));
}

int Simulation::CountWorkers(int pi, bool include_starting) const {
  int n = 0;
  for (const Worker& w : workers_) {
    if (w.pool != pi) continue;
    n += w.state == WorkerState::kActive || (include_starting && w.state == WorkerState::kStarting);
  }
  return n;
}

std::optional<std::vector<GpuId>> Simulation::AllocateGpus(int count) {
  // First fit: the lowest node with `count` free GPUs in one NVLink domain, else in the node.
  const ClusterSpec& c = topology_->spec();
  for (bool one_domain : {true, false}) {
    for (int node = 0; node < c.nodes; ++node) {
      const int base = node * c.gpus_per_node;
      const int group =
          one_domain ? std::min(c.nvlink_domain_size, c.gpus_per_node) : c.gpus_per_node;
      for (int start = base; start < base + c.gpus_per_node; start += group) {
        std::vector<GpuId> picked;
        for (int g = start; g < std::min(start + group, base + c.gpus_per_node); ++g) {
          if (!gpu_used_[static_cast<size_t>(g)]) picked.push_back(GpuId(static_cast<uint32_t>(g)));
          if (static_cast<int>(picked.size()) == count) return picked;
        }
      }
    }
  }
  return std::nullopt;
}

void Simulation::ScalePool(int pi, int target) {
  const Pool& pool = pools_[static_cast<size_t>(pi)];
  const WorkerRole role = pool.spec->role;
  int current = CountWorkers(pi, /*include_starting=*/true);
  const Duration startup = Duration::Seconds(plan_.planner.startup_s);
  while (current < target) {
    auto gpus = AllocateGpus(pool.spec->parallelism.gpus());
    if (!gpus) break;  // fragmented or full: the budget check normally prevents this
    const int w = AddWorker(pi, std::move(*gpus), WorkerState::kStarting);
    queue_.Push(now_ + startup, Event{EventKind::kReady, static_cast<uint32_t>(w), 0});
    ++current;
    ++scale_ups_;
    Mix(0x3ULL << 56 ^ static_cast<uint64_t>(w));
  }
  // Down: cancel starting workers first (newest first), then drain the least loaded active ones
  // (fewest requests held; ties: the newest), never the last active worker.
  while (current > target) {
    int victim = -1;
    for (int w = static_cast<int>(workers_.size()) - 1; w >= 0; --w) {
      const Worker& wk = workers_[static_cast<size_t>(w)];
      if (wk.pool == pi && wk.state == WorkerState::kStarting) {
        victim = w;
        break;
      }
    }
    if (victim < 0) {
      if (CountWorkers(pi, false) <= 1) break;
      int64_t best_load = 0;
      for (int w = static_cast<int>(workers_.size()) - 1; w >= 0; --w) {
        const Worker& wk = workers_[static_cast<size_t>(w)];
        if (wk.pool != pi || wk.state != WorkerState::kActive) continue;
        const worker::EngineLoad l = wk.sched->load();
        const int64_t load = int64_t{l.running} + l.waiting + wk.pending_handoffs;
        if (victim < 0 || load < best_load) {
          victim = w;
          best_load = load;
        }
      }
    }
    Worker& wk = workers_[static_cast<size_t>(victim)];
    if (wk.state == WorkerState::kActive) {
      RouterFor(role)->RemoveWorker(now_, WorkerId(static_cast<uint32_t>(victim)));
    }
    wk.state = WorkerState::kDraining;
    observer_->WorkerLeft(WorkerId(static_cast<uint32_t>(victim)));  // reports active ones only
    MaybeRetire(victim);
    --current;
    ++scale_downs_;
    Mix(0x4ULL << 56 ^ static_cast<uint64_t>(victim));
  }
}

void Simulation::OnReady(int w) {
  Worker& wk = workers_[static_cast<size_t>(w)];
  if (wk.state != WorkerState::kStarting) return;  // cancelled while starting
  wk.state = WorkerState::kActive;
  const WorkerPoolSpec& spec = *pools_[static_cast<size_t>(wk.pool)].spec;
  RouterFor(wk.role)->AddWorker(
      now_, WorkerId(static_cast<uint32_t>(w)),
      router::WorkerInfo{static_cast<int32_t>(spec.max_num_batched_tokens)});
  DrainRouterQueue(wk.role);
}

void Simulation::OnPlannerTick() {
  const PlannerSpec& ps = plan_.planner;
  const bool disagg = plan_.disaggregated();
  const int64_t arrivals = observer_->arrivals();
  const planner::Observation o =
      observer_->Close(disagg ? CountWorkers(planner_pools_[0], true) : 0,
                       CountWorkers(planner_pools_[disagg ? 1 : 0], true));
  // The interval's SLA verdict: both targets at the percentile. An interval with requests in the
  // system but no first token at all counts as a miss (everything is stuck waiting).
  PlannerRow row;
  row.t_s = now_.seconds();
  row.arrivals = arrivals;
  row.ttft_ms = o.ttft_ms.value_or(-1);
  row.itl_ms = o.itl_ms.value_or(-1);
  if (in_system_ > 0 || o.ttft_ms) {
    ++planner_intervals_;
    const bool ttft_ok = o.ttft_ms ? *o.ttft_ms <= ps.ttft_ms : false;
    const bool itl_ok = !o.itl_ms || *o.itl_ms <= ps.itl_ms;
    row.within_sla = ttft_ok && itl_ok;
    planner_intervals_ok_ += row.within_sla;
  }
  const planner::ScalingDecision d = planner_->Tick(now_, o);
  Mix(0x2ULL << 56 ^ static_cast<uint64_t>(d.prefill_replicas) << 20 ^
      static_cast<uint64_t>(d.decode_replicas));
  if (disagg) {
    ScalePool(planner_pools_[0], d.prefill_replicas);
    ScalePool(planner_pools_[1], d.decode_replicas);
  } else {
    ScalePool(planner_pools_[0], d.decode_replicas);
  }
  row.predicted_rps = d.predicted_rps;
  row.predicted_isl = d.predicted_isl;
  row.predicted_osl = d.predicted_osl;
  row.prefill_replicas = d.prefill_replicas;
  row.decode_replicas = d.decode_replicas;
  row.gpus = static_cast<int>(gpus_held_);
  row.expected_ttft_ms = d.expected_ttft_ms;
  row.expected_itl_ms = d.expected_itl_ms;
  planner_rows_.push_back(row);
  // Stops with the run, or when only the time-series sample is pending (a stall).
  if (finished_ < static_cast<int64_t>(wl_.requests.size()) && queue_.size() > 1) {
    queue_.Push(now_ + planner_->config().interval, Event{EventKind::kPlanner, 0, 0});
  }
}

SimResult Simulation::Run() {
  const auto wall_start = std::chrono::steady_clock::now();
  const size_t n = wl_.requests.size();
  if (wl_.closed_loop_concurrency > 0) {
    const size_t c = std::min(n, static_cast<size_t>(wl_.closed_loop_concurrency));
    for (; next_arrival_ < c; ++next_arrival_) {
      queue_.Push(Time::Zero(),
                  Event{EventKind::kArrival, static_cast<uint32_t>(next_arrival_), 0});
    }
  } else if (n > 0) {
    queue_.Push(wl_.requests[0].arrival, Event{EventKind::kArrival, 0, 0});
    next_arrival_ = 1;
  }
  if (n > 0) queue_.Push(Time::Zero() + opt_.timeseries_interval, Event{EventKind::kSample, 0, 0});
  if (planner_ && n > 0) {
    queue_.Push(Time::Zero() + planner_->config().interval, Event{EventKind::kPlanner, 0, 0});
  }
  while (!queue_.empty() && !stop_) {
    if (opt_.cancel != nullptr && (events_ & 4095) == 0 && opt_.cancel->load()) {
      stop_ = cancelled_ = true;
      break;
    }
    const auto e = queue_.Pop();
    now_ = e.time;
    switch (e.payload.kind) {
      case EventKind::kArrival:
        OnArrival(e.payload.a);
        break;
      case EventKind::kWake:
        StartStep(static_cast<int>(e.payload.a));
        break;
      case EventKind::kStepDone:
        OnStepDone(static_cast<int>(e.payload.a));
        break;
      case EventKind::kNetwork:
        if (e.payload.b != network_token_) continue;  // superseded
        OnNetwork();
        break;
      case EventKind::kSample:
        OnSample();
        break;
      case EventKind::kPlanner:
        OnPlannerTick();
        break;
      case EventKind::kReady:
        OnReady(static_cast<int>(e.payload.a));
        break;
    }
    ++events_;
  }
  Advance(now_);  // GPU-seconds through the last event
  const double wall_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  SimResult result;
  result.summary = Summarize(wall_s);
  if (opt_.keep_requests) result.requests = std::move(records_);
  result.timeseries = std::move(timeseries_);
  result.planner = std::move(planner_rows_);
  return result;
}

RunSummary Simulation::Summarize(double wall_s) {
  RunSummary s;
  s.seed = opt_.seed;
  s.requests = static_cast<int64_t>(wl_.requests.size());
  s.completed = completed_;
  s.rejected = rejected_;
  const Time start = first_arrival_ == Time::Max() ? Time::Zero() : first_arrival_;
  s.duration_s = last_finish_ > start ? (last_finish_ - start).seconds() : 0;
  s.gpus = plan_.total_gpus();
  s.ttft_ms = sim::Summarize(ttft_);
  s.itl_ms = sim::Summarize(itl_);
  s.tpot_ms = sim::Summarize(tpot_);
  s.e2e_ms = sim::Summarize(e2e_);
  s.queue_ms = sim::Summarize(queue_ms_);
  s.transfer_ms = sim::Summarize(transfer_ms_);
  if (s.duration_s > 0) {
    s.throughput_rps = static_cast<double>(completed_) / s.duration_s;
    s.output_tokens_per_s = static_cast<double>(output_tokens_) / s.duration_s;
    s.output_tokens_per_s_per_gpu = s.output_tokens_per_s / std::max(1, s.gpus);
    s.input_tokens_per_s = static_cast<double>(prompt_tokens_) / s.duration_s;
    s.utilization =
        planner_ ? stepping_area_ / std::max(1.0, worker_area_)
                 : stepping_area_ / (s.duration_s * 1e9 * static_cast<double>(workers_.size()));
    s.little_l = in_system_area_ / (s.duration_s * 1e9);
    s.little_lambda_w = s.throughput_rps * e2e_.mean() * 1e-3;
    s.goodput_rps = good_requests_ / s.duration_s;
  }
  if (s.tpot_ms.mean > 0) s.output_tokens_per_s_per_user = 1000.0 / s.tpot_ms.mean;
  s.kv_hit_rate = prompt_tokens_ > 0
                      ? static_cast<double>(cached_tokens_) / static_cast<double>(prompt_tokens_)
                      : 0;
  s.preemptions = preemptions_;
  s.steps = steps_;
  s.events = events_;
  s.transfers = transfers_;
  s.transfer_gb = transfer_bytes_ * 1e-9;
  perf::LatencySource worst = perf::LatencySource::kMeasured;
  for (const Pool& p : pools_) worst = std::max(worst, p.timer->worst_source());
  s.perf_source = perf_->mode();
  s.stopped_early = stop_;
  s.cancelled = cancelled_;
  s.stalled = stop_ ? 0 : s.requests - completed_ - rejected_;
  for (const Worker& w : workers_) {
    if (w.sched) s.kv_blocks_in_use_at_end += w.sched->blocks().num_used_blocks();
  }
  s.gpu_seconds = gpu_area_ * 1e-9;
  if (planner_) {
    s.planner_intervals = planner_intervals_;
    s.planner_intervals_within_sla =
        planner_intervals_ > 0
            ? static_cast<double>(planner_intervals_ok_) / static_cast<double>(planner_intervals_)
            : 1.0;
    s.scale_ups = scale_ups_;
    s.scale_downs = scale_downs_;
    if (last_advance_ > Time::Zero()) s.gpus_avg = s.gpu_seconds / last_advance_.seconds();
    if (s.gpus_avg > 0) s.output_tokens_per_s_per_gpu = s.output_tokens_per_s / s.gpus_avg;
  }
  s.perf_lookup = std::string(perf::LatencySourceName(worst));
  char fp[17];
  std::snprintf(fp, sizeof(fp), "%016llx", static_cast<unsigned long long>(fingerprint_));
  s.fingerprint = fp;
  s.wall_s = wall_s;
  if (opt_.slo.ttft_ms || opt_.slo.itl_ms) {
    s.slo = opt_.slo;
    const double q = opt_.slo.percentile;
    if (opt_.slo.ttft_ms) s.ttft_ok = completed_ > 0 && ttft_.Percentile(q) <= *opt_.slo.ttft_ms;
    if (opt_.slo.itl_ms) s.itl_ok = completed_ > 0 && itl_.Percentile(q) <= *opt_.slo.itl_ms;
    if (stop_) {  // the verdict that stopped the run is certain; the partial histogram is not
      if (ttft_limit_ms_ > 0 && ttft_over_ > ttft_allowed_) s.ttft_ok = false;
      if (itl_limit_ms_ > 0 && itl_over_ > itl_allowed_) s.itl_ok = false;
    }
  }
  return s;
}

}  // namespace

StatusOr<SimResult> Simulate(const Plan& plan, const Workload& workload,
                             std::shared_ptr<const perf::PerfModel> perf,
                             const SimOptions& options) {
  DYNAMO_CHECK(perf != nullptr);
  Simulation sim(plan, workload, std::move(perf), options);
  RETURN_IF_ERROR(sim.Init());
  return sim.Run();
}

}  // namespace dynamo::sim
