#include "runtime/router/plan_router.h"

#include "core/rng.h"

namespace dynamo::router {

uint64_t RouterSeed(uint64_t seed, WorkerRole role) {
  const char* stream = role == WorkerRole::kPrefill  ? "router.prefill"
                       : role == WorkerRole::kDecode ? "router.decode"
                                                     : "router";
  return Mix64(seed ^ HashName(stream));
}

StatusOr<Router::Config> RouterConfigFor(const Plan& plan, WorkerRole role, uint64_t seed) {
  auto policy = ParsePolicy(plan.router.policy);
  if (!policy.ok()) return policy.status().WithContext(plan.source + ": $.router.policy");
  Router::Config cfg;
  cfg.policy = *policy;
  cfg.seed = RouterSeed(seed, role);
  cfg.overlap_weight = plan.router.overlap_weight;
  cfg.temperature = plan.router.temperature;
  cfg.queue_threshold = plan.router.queue_threshold;
  cfg.assume_kv_reuse = plan.router.assume_kv_reuse;
  cfg.decay_by_progress = plan.router.decay_by_progress;
  for (const WorkerPoolSpec& p : plan.workers) {
    if (p.role == role) cfg.block_size = p.block_size;
  }
  if (role == WorkerRole::kPrefill) {
    // Prefill workers hold a request only until its KV leaves: prefill load and overlap decide.
    cfg.track_active_blocks = false;
  } else if (role == WorkerRole::kDecode) {
    cfg.queue_threshold = 0;  // the prefill router already queued
    if (!plan.disagg.conditional) {
      // The KV arrives from the prefill worker: balance decode load only (Dynamo's decode
      // stage). Under conditional disaggregation the decode worker may prefill, so the full
      // cost applies.
      cfg.overlap_weight = 0;
      cfg.assume_kv_reuse = false;
      cfg.track_prefill_tokens = false;
    }
  }
  return cfg;
}

StatusOr<Router> MakeRouterFor(const Plan& plan, WorkerRole role, uint64_t seed) {
  ASSIGN_OR_RETURN(Router::Config cfg, RouterConfigFor(plan, role, seed));
  auto r = Router::Create(cfg);
  if (!r.ok()) return r.status().WithContext(plan.source + ": $.router");
  return r;
}

}  // namespace dynamo::router
