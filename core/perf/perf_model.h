#pragma once
// PerfModel: operator latencies for one device, from a performance database or analytically.
//
// Database mode: each operator family (gemm, attn_context, ...) is split into partitions by its
// categorical fields (dtype, KV dtype, head dim; collective op, dtype and implementation) and
// each partition is an OpGrid of log-utilization (roofline time / measured time) over the
// numeric fields. A query inside the data is interpolated in log space; outside it the
// efficiency of the nearest measured shapes is held and scaled by the roofline; a partition
// with no rows borrows the efficiency of the nearest partition (another head dim, dtype) or of
// the related family (MLA from attention); with nothing to borrow, the analytic figure.
// Analytic mode: roofline x public efficiencies (analytic_model.h) for every query.
//
// Every answer says which of these produced it. Immutable after construction; Lookup is const
// and thread-safe.

#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/hardware/gpu_spec.h"
#include "core/perf/op_grid.h"
#include "core/perf/op_shape.h"
#include "core/perf/perf_db.h"
#include "core/perf/roofline.h"

namespace dynamo::perf {

enum class LatencySource { kMeasured, kInterpolated, kExtrapolated, kAnalytic };
std::string_view LatencySourceName(LatencySource s);

struct OpLatency {
  double us = 0;
  LatencySource source = LatencySource::kAnalytic;
};

// One leave-one-out prediction: the measured point removed from its grid, then predicted.
struct LooPoint {
  OpShape shape;
  double measured_us = 0;
  double predicted_us = 0;
  bool frontier = false;  // the prediction held a boundary efficiency (extrapolation)
  double relative_error() const;
};

class PerfModel {
 public:
  // Loads every row of `device` (empty: the only device) from the database.
  static StatusOr<PerfModel> FromDb(const PerfDb& db, const std::string& device = "");
  // Builds the model from rows in memory (tests, importers).
  static StatusOr<PerfModel> FromRows(const DeviceInfo& device, std::vector<PerfRow> rows,
                                      std::vector<HostOverheadRow> host, std::string origin);
  static PerfModel Analytic(const GpuSpec& gpu);

  // Precondition-free: an invalid shape is an InvalidArgument naming the field.
  StatusOr<OpLatency> Lookup(const OpShape& shape) const;
  // Host overhead figure (µs) and whether it was measured.
  double HostOverheadUs(HostOverheadKind kind) const;
  bool HostOverheadMeasured(HostOverheadKind kind) const;

  bool analytic() const { return analytic_; }
  // "database: perf.sqlite (cuda:NVIDIA H200:0)" | "analytic: h200_sxm (roofline x public
  // efficiencies)". Printed by every simulation.
  const std::string& mode() const { return mode_; }
  const DeviceRoofline& roofline() const { return roofline_; }
  const DeviceInfo& device() const { return device_; }

  // Leave-one-out over every measured point of a family ("gemm", "attn_context", ...).
  // Temporarily edits the grids (shared by every copy of this model): not thread-safe with
  // concurrent Lookup on any copy.
  std::vector<LooPoint> LeaveOneOut(std::string_view family) const;
  // The rows the model was built from.
  const std::vector<PerfRow>& rows() const { return rows_; }

 private:
  struct Partition {
    int family = 0;                   // OpShape index
    std::string key;                  // categorical fields joined
    std::vector<double> categorical;  // for nearest-partition distance
    std::string impl;
    std::unique_ptr<OpGrid> grid;
  };
  PerfModel() = default;
  Status Build();
  // The partition of (family, key), or nullptr.
  const Partition* Find(int family, const std::string& key) const;
  const Partition* Nearest(int family, const std::vector<double>& categorical,
                           std::string_view impl) const;
  OpLatency FromUtil(const OpShape& shape, double log_util, bool exact, bool extrapolated) const;
  std::optional<OpLatency> LookupCollective(const CollectiveShape& c) const;
  std::optional<OpLatency> Borrow(const OpShape& shape) const;
  std::optional<OpLatency> PrefixBeyondData(const Partition& p, const OpShape& shape) const;

  bool analytic_ = true;
  std::string mode_;
  DeviceInfo device_;
  DeviceRoofline roofline_;
  std::vector<PerfRow> rows_;
  std::map<HostOverheadKind, double> host_us_;
  // shared_ptr: PerfModel is copied into every StepLatency user; the grids are immutable.
  std::shared_ptr<std::vector<Partition>> partitions_;
  std::map<std::pair<int, std::string>, size_t> partition_index_;  // (family, key) -> index
};

// The model that prices steps: the database at `db_path` (read-only), or the analytic model of
// `gpu` when the path is empty. `whose` names where the GPU came from in the mismatch message
// ("the plan's system.gpu", "--gpu").
StatusOr<std::shared_ptr<const PerfModel>> OpenPerfModel(const std::string& db_path,
                                                         const GpuSpec& gpu,
                                                         const std::string& whose);

}  // namespace dynamo::perf
