#pragma once
// RunProfile: measures a shape grid on a backend into a performance database. Each measured
// point is committed in its own transaction, so an interrupted profile (Ctrl-C, crash, power)
// leaves every finished point and nothing half-written; a re-run skips the points the database
// already holds for this device and measures the rest.

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/perf/perf_db.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

struct Progress {
  int64_t done = 0;  // points handled (measured, skipped or unsupported)
  int64_t total = 0;
  double elapsed_s = 0;
  double eta_s = 0;  // remaining, from the measuring rate so far
  std::string current;
};

struct RunReport {
  int64_t planned = 0;
  int64_t already_measured = 0;  // skipped on resume
  int64_t measured = 0;
  int64_t unsupported = 0;
  std::map<std::string, int64_t> unsupported_reasons;
  bool host_overhead_measured = false;
  bool interrupted = false;  // stopped by should_stop before the grid was done
  double seconds = 0;
  std::string device_name;
};

struct RunOptions {
  MeasureOptions measure;
  // Stop after this many new measurements (0: no limit); tests use it to simulate an
  // interrupted run.
  int64_t max_points = 0;
  std::function<void(const Progress&)> on_progress;  // called after every point; may be empty
  // Polled between points: true stops the run cleanly (Ctrl-C); may be empty.
  std::function<bool()> should_stop;
};

StatusOr<RunReport> RunProfile(KernelBackend& backend, const std::vector<perf::OpShape>& grid,
                               perf::PerfDb& db, const RunOptions& options);

}  // namespace dynamo::profiler
