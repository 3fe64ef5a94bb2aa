#pragma once
// The router configuration a plan implies for one pool role: the single mapping both drivers use
// (dynamo-sim's virtual-time run and dynamo-run's frontend), so they route identically for a
// seed. Disaggregated plans have a prefill router (prefill load and overlap decide; no decode
// blocks) and a decode router (Dynamo's decode stage: load only, unless conditional
// disaggregation lets decode workers prefill).
#include <cstdint>

#include "core/plan/plan.h"
#include "core/status.h"
#include "runtime/router/router.h"

namespace dynamo::router {

// The router's seed stream for `role` under run seed `seed` ("router", "router.prefill",
// "router.decode").
uint64_t RouterSeed(uint64_t seed, WorkerRole role);

// Error: an unknown policy or a knob the router refuses, with the plan's JSON path.
StatusOr<Router::Config> RouterConfigFor(const Plan& plan, WorkerRole role, uint64_t seed);

// RouterConfigFor, then Router::Create.
StatusOr<Router> MakeRouterFor(const Plan& plan, WorkerRole role, uint64_t seed);

}  // namespace dynamo::router
