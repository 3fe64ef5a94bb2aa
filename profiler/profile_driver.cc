#include "profiler/profile_driver.h"

#include <chrono>
#include <set>

#include "core/version.h"
#include "profiler/clock.h"

namespace dynamo::profiler {
namespace {

Status MeasureOne(KernelBackend& backend, const perf::OpShape& shape, int64_t device_id,
                  perf::PerfDb& db, const MeasureOptions& options) {
  ASSIGN_OR_RETURN(perf::Timing timing, backend.Measure(shape, options));
  perf::PerfRow row;
  row.shape = shape;
  row.timing = timing;
  row.provenance = perf::Provenance::kMeasured;
  row.source = "dynamo-profile " + std::string(kDynamoVersion) + " " + backend.device().kind;
  RETURN_IF_ERROR(db.Begin());
  Status s = db.Insert(device_id, row);
  if (s.ok()) s = db.Commit();
  if (!s.ok()) (void)db.Rollback();
  return s;
}

}  // namespace

StatusOr<RunReport> RunProfile(KernelBackend& backend, const std::vector<perf::OpShape>& grid,
                               perf::PerfDb& db, const RunOptions& options) {
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  RunReport report;
  report.planned = static_cast<int64_t>(grid.size());
  perf::DeviceInfo device = backend.device();
  if (device.tool_version.empty())
    device.tool_version = "dynamo-profile " + std::string(kDynamoVersion);
  if (device.created_at.empty()) device.created_at = NowUtcIso8601();
  report.device_name = device.name;
  RETURN_IF_ERROR(db.Begin());
  auto id = db.UpsertDevice(device);
  if (!id.ok()) {
    (void)db.Rollback();
    return id.status();
  }
  RETURN_IF_ERROR(db.Commit());
  const int64_t device_id = id.value();

  // Resume: what this device already has.
  std::set<std::string> have;
  ASSIGN_OR_RETURN(std::vector<perf::PerfRow> existing, db.Rows(device_id));
  for (const perf::PerfRow& r : existing) have.insert(perf::ShapeKey(r.shape, r.impl));
  ASSIGN_OR_RETURN(std::vector<perf::HostOverheadRow> host, db.HostOverheads(device_id));

  if (host.empty()) {
    ASSIGN_OR_RETURN(std::vector<HostOverheadSample> samples,
                     backend.MeasureHostOverhead(options.measure));
    RETURN_IF_ERROR(db.Begin());
    for (const HostOverheadSample& s : samples) {
      perf::HostOverheadRow row{s.kind, s.timing, perf::Provenance::kMeasured,
                                "dynamo-profile " + std::string(kDynamoVersion)};
      Status st = db.InsertHostOverhead(device_id, row);
      if (!st.ok()) {
        (void)db.Rollback();
        return st;
      }
    }
    RETURN_IF_ERROR(db.Commit());
    report.host_overhead_measured = true;
  }

  Progress progress;
  progress.total = report.planned;
  double measuring_s = 0;
  int64_t measured_points = 0;
  for (const perf::OpShape& shape : grid) {
    if (options.should_stop && options.should_stop()) {
      report.interrupted = true;
      break;
    }
    progress.current = Describe(shape);
    std::string why;
    if (have.count(perf::ShapeKey(shape, ""))) {
      ++report.already_measured;
    } else if (!backend.Supports(shape, &why)) {
      ++report.unsupported;
      ++report.unsupported_reasons[why];
    } else {
      if (options.max_points > 0 && report.measured >= options.max_points) break;
      const auto t0 = Clock::now();
      RETURN_IF_ERROR(
          MeasureOne(backend, shape, device_id, db, options.measure).WithContext(Describe(shape)));
      measuring_s += std::chrono::duration<double>(Clock::now() - t0).count();
      ++measured_points;
      ++report.measured;
    }
    ++progress.done;
    progress.elapsed_s = std::chrono::duration<double>(Clock::now() - start).count();
    // ETA from the average time per measured point, times the points left to measure (an
    // upper bound: some of them may be skipped or unsupported).
    const double per_point =
        measured_points ? measuring_s / static_cast<double>(measured_points) : 0;
    progress.eta_s = per_point * static_cast<double>(progress.total - progress.done);
    if (options.on_progress) options.on_progress(progress);
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - start).count();
  return report;
}

}  // namespace dynamo::profiler
