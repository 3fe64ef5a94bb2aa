#pragma once
// The sweep's traffic at any load: a synthetic spec regenerated at `load` x its base rate (or
// with `load` requests in flight for a closed loop), or a trace with its arrival times divided
// by `load`. The same (load, requests) always gives the same workload, and WorkloadJson writes
// a workload file that `dynamo-sim run --workload` turns into that very workload (synthetic
// specs: bit for bit; traces: the same arrivals up to nanosecond rounding).
#include <cstdint>
#include <memory>
#include <string>

#include "core/status.h"
#include "core/workload/request.h"

namespace dynamo::configurator {

struct SweepInputs;

class LoadSource {
 public:
  // From SweepInputs: `workload` (a bundled name, spec, or trace) or isl/osl/rate_rps.
  static StatusOr<LoadSource> Create(const SweepInputs& in);
  ~LoadSource();
  LoadSource(LoadSource&&) noexcept;
  LoadSource& operator=(LoadSource&&) noexcept;

  bool closed_loop() const;
  // Load 1: the base arrival rate (open loop) or the base concurrency (closed loop). A load is a
  // multiple of it (closed loop: rounded to a whole number of requests in flight).
  double base() const;
  // A demand was given (a workload or --rate): plans must sustain load >= 1.
  bool has_demand() const;
  // The workload at `load` (x the base rate, or x the base concurrency) with at most
  // `requests` requests (traces: their first `requests`).
  StatusOr<Workload> Make(double load, int64_t requests) const;
  // A workload file for `dynamo-sim run` equal to Make(load, requests).
  std::string WorkloadJson(double load, int64_t requests) const;
  const std::string& description() const;

 private:
  struct Impl;
  explicit LoadSource(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynamo::configurator
