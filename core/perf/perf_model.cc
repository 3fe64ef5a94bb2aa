#include "core/perf/perf_model.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <set>

#include "core/check.h"
#include "core/perf/analytic_model.h"

namespace dynamo::perf {
namespace {

// Categorical fields (exact-match partition key, plus numbers for a distance between
// partitions) and numeric axes of a shape. Axis order matters where a query between grid
// points meets a missing corner: nested interpolation brackets it along the innermost axis with
// data, so the smoothest axis goes last (k for GEMMs; sequence lengths for attention; bytes for
// communication). A missing grid point itself is estimated along every axis (OpGrid).
struct Coords {
  std::string key;
  std::vector<double> categorical;
  std::vector<double> axes;
  std::vector<bool> log1p;
};

double DT(DType d) { return static_cast<double>(static_cast<int>(d)); }

Coords CoordsOf(const OpShape& shape, const std::string& impl) {
  struct Visitor {
    const std::string& impl;
    Coords operator()(const GemmShape& g) const {
      return {std::string(DTypeName(g.dtype)),
              {DT(g.dtype)},
              {double(g.m), double(g.n), double(g.k)},
              {false, false, false}};
    }
    Coords operator()(const AttnContextShape& a) const {
      return {std::string(DTypeName(a.dtype)) + "|" + std::string(DTypeName(a.kv_dtype)) + "|" +
                  std::to_string(a.head_dim),
              {DT(a.dtype), DT(a.kv_dtype), double(a.head_dim)},
              {double(a.heads), double(a.kv_heads), double(a.batch), double(a.q_len),
               double(a.prefix_len())},
              {false, false, false, false, true}};
    }
    Coords operator()(const AttnDecodeShape& a) const {
      return {std::string(DTypeName(a.dtype)) + "|" + std::string(DTypeName(a.kv_dtype)) + "|" +
                  std::to_string(a.head_dim),
              {DT(a.dtype), DT(a.kv_dtype), double(a.head_dim)},
              {double(a.heads), double(a.kv_heads), double(a.batch), double(a.kv_len)},
              {false, false, false, false}};
    }
    Coords operator()(const MlaContextShape& a) const {
      return {std::string(DTypeName(a.dtype)) + "|" + std::string(DTypeName(a.kv_dtype)) + "|" +
                  std::to_string(a.kv_lora_rank) + "|" + std::to_string(a.qk_nope_dim) + "|" +
                  std::to_string(a.qk_rope_dim) + "|" + std::to_string(a.v_head_dim),
              {DT(a.dtype), DT(a.kv_dtype), double(a.kv_lora_rank), double(a.qk_nope_dim),
               double(a.qk_rope_dim), double(a.v_head_dim)},
              {double(a.heads), double(a.batch), double(a.q_len), double(a.prefix_len())},
              {false, false, false, true}};
    }
    Coords operator()(const MlaDecodeShape& a) const {
      return {std::string(DTypeName(a.dtype)) + "|" + std::string(DTypeName(a.kv_dtype)) + "|" +
                  std::to_string(a.kv_lora_rank) + "|" + std::to_string(a.qk_rope_dim),
              {DT(a.dtype), DT(a.kv_dtype), double(a.kv_lora_rank), double(a.qk_rope_dim)},
              {double(a.heads), double(a.batch), double(a.kv_len)},
              {false, false, false}};
    }
    Coords operator()(const CollectiveShape& c) const {
      const std::string i = impl.empty() ? "nccl" : impl;
      return {std::string(CollectiveName(c.op)) + "|" + std::string(DTypeName(c.dtype)) + "|" + i,
              {double(static_cast<int>(c.op)) * 1000, DT(c.dtype)},
              {double(c.gpus), double(c.bytes)},
              {false, false}};
    }
    Coords operator()(const TransferShape& t) const {
      return {std::string(TransferKindName(t.kind)) + "|" + t.transport,
              {double(static_cast<int>(t.kind)) * 1000},
              {double(t.bytes)},
              {false}};
    }
  };
  return std::visit(Visitor{impl}, shape);
}

// Distance between partitions of one family: mismatched categorical fields, weighted by their
// order (dtype first), and by how far apart numeric fields are.
double Distance(const std::vector<double>& a, const std::vector<double>& b) {
  double d = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    if (a[i] == b[i]) continue;
    const double weight = std::pow(10.0, static_cast<double>(a.size() - i));
    const double ratio = (a[i] > 0 && b[i] > 0) ? std::abs(std::log(a[i] / b[i])) : 1.0;
    d += weight * (1 + ratio);
  }
  return d;
}

constexpr int kCollective = 5;  // OpShape index of CollectiveShape

}  // namespace

std::string_view LatencySourceName(LatencySource s) {
  switch (s) {
    case LatencySource::kMeasured:
      return "measured";
    case LatencySource::kInterpolated:
      return "interpolated";
    case LatencySource::kExtrapolated:
      return "extrapolated";
    case LatencySource::kAnalytic:
      return "analytic";
  }
  return "?";
}

double LooPoint::relative_error() const { return std::abs(predicted_us / measured_us - 1.0); }

PerfModel PerfModel::Analytic(const GpuSpec& gpu) {
  PerfModel m;
  m.analytic_ = true;
  m.roofline_ = DeviceRoofline::FromGpu(gpu);
  m.device_.name = gpu.name;
  m.device_.kind = "analytic";
  m.device_.catalog_gpu = gpu.name;
  m.mode_ = "analytic: " + gpu.name + " (roofline x public efficiencies)";
  m.partitions_ = std::make_shared<std::vector<Partition>>();
  return m;
}

StatusOr<PerfModel> PerfModel::FromDb(const PerfDb& db, const std::string& device) {
  ASSIGN_OR_RETURN(int64_t id, db.FindDevice(device));
  ASSIGN_OR_RETURN(std::vector<DeviceInfo> devices, db.Devices());
  const auto info_it =
      std::find_if(devices.begin(), devices.end(), [&](const DeviceInfo& d) { return d.id == id; });
  DYNAMO_CHECK(info_it != devices.end());  // FindDevice returned one of them
  const DeviceInfo& info = *info_it;
  ASSIGN_OR_RETURN(std::vector<PerfRow> rows, db.Rows(id));
  ASSIGN_OR_RETURN(std::vector<HostOverheadRow> host, db.HostOverheads(id));
  if (rows.empty()) {
    return FailedPrecondition(db.path() + ": device '" + info.name +
                              "' has no measured rows; run `dynamo-profile run` or import a table");
  }
  return FromRows(info, std::move(rows), std::move(host), db.path() + " (" + info.name + ")");
}

StatusOr<PerfModel> PerfModel::FromRows(const DeviceInfo& device, std::vector<PerfRow> rows,
                                        std::vector<HostOverheadRow> host, std::string origin) {
  PerfModel m;
  m.analytic_ = false;
  m.device_ = device;
  m.rows_ = std::move(rows);
  for (const HostOverheadRow& h : host) m.host_us_[h.kind] = h.timing.median_us;
  m.mode_ = "database: " + origin;
  // Roofline: the catalog GPU when known, else the device's recorded peaks, else what the
  // rows themselves show (best observed FLOP/s and bytes/s).
  if (!device.catalog_gpu.empty()) {
    auto gpu = LoadGpu(device.catalog_gpu);
    if (!gpu.ok()) return gpu.status().WithContext("device '" + device.name + "'");
    m.roofline_ = DeviceRoofline::FromGpu(gpu.value());
  } else {
    m.roofline_.flops_bf16 = device.peak_flops_bf16;
    m.roofline_.flops_fp32 = device.peak_flops_fp32;
    m.roofline_.hbm_bytes_per_s = device.memory_bandwidth_bytes_per_s;
    double best_flops = 0, best_fp32 = 0, best_bytes = 0;
    for (const PerfRow& r : m.rows_) {
      const OpWork w = WorkOf(r.shape);
      const double s = r.timing.median_us * 1e-6;
      if (auto* g = std::get_if<GemmShape>(&r.shape)) {
        (g->dtype == DType::kFp32 ? best_fp32 : best_flops) =
            std::max(g->dtype == DType::kFp32 ? best_fp32 : best_flops, w.flops / s);
      }
      if (r.shape.index() != static_cast<size_t>(kCollective) && w.link == OpWork::Link::kNone) {
        best_bytes = std::max(best_bytes, w.hbm_bytes / s);
      }
      if (w.link == OpWork::Link::kHbmCopy) best_bytes = std::max(best_bytes, w.hbm_bytes / s);
    }
    if (m.roofline_.flops_bf16 <= 0) m.roofline_.flops_bf16 = best_flops;
    if (m.roofline_.flops_fp32 <= 0) m.roofline_.flops_fp32 = best_fp32;
    if (m.roofline_.flops_bf16 <= 0) m.roofline_.flops_bf16 = m.roofline_.flops_fp32;
    if (m.roofline_.hbm_bytes_per_s <= 0) m.roofline_.hbm_bytes_per_s = best_bytes;
    if (!m.roofline_.valid()) {
      return FailedPrecondition("device '" + device.name +
                                "': no catalog GPU, no recorded peaks and no GEMM rows to derive "
                                "a roofline from; measure GEMMs first");
    }
  }
  RETURN_IF_ERROR(m.Build());
  return m;
}

Status PerfModel::Build() {
  partitions_ = std::make_shared<std::vector<Partition>>();
  // Pass 1: the axis values of each partition.
  std::map<std::pair<int, std::string>, size_t>& index = partition_index_;
  index.clear();
  std::vector<std::vector<std::set<double>>> axis_values;
  std::vector<std::vector<bool>> log1p;
  for (const PerfRow& r : rows_) {
    const Coords c = CoordsOf(r.shape, r.impl);
    const int family = static_cast<int>(r.shape.index());
    auto [it, inserted] = index.try_emplace({family, c.key}, partitions_->size());
    if (inserted) {
      Partition p;
      p.family = family;
      p.key = c.key;
      p.categorical = c.categorical;
      p.impl = r.impl;
      partitions_->push_back(std::move(p));
      axis_values.emplace_back(c.axes.size());
      log1p.push_back(c.log1p);
    }
    for (size_t d = 0; d < c.axes.size(); ++d) axis_values[it->second][d].insert(c.axes[d]);
  }
  for (size_t i = 0; i < partitions_->size(); ++i) {
    std::vector<OpGrid::Axis> axes;
    for (size_t d = 0; d < axis_values[i].size(); ++d) {
      axes.push_back(
          {std::vector<double>(axis_values[i][d].begin(), axis_values[i][d].end()), log1p[i][d]});
    }
    (*partitions_)[i].grid = std::make_unique<OpGrid>(std::move(axes));
  }
  // Pass 2: log-utilization per measured cell.
  for (const PerfRow& r : rows_) {
    const Coords c = CoordsOf(r.shape, r.impl);
    Partition& p = (*partitions_)[index.at({static_cast<int>(r.shape.index()), c.key})];
    const double util = RooflineUs(r.shape, roofline_) / r.timing.median_us;
    p.grid->Set(*p.grid->CellOf(c.axes), std::log(util));
  }
  return Status::Ok();
}

const PerfModel::Partition* PerfModel::Find(int family, const std::string& key) const {
  auto it = partition_index_.find({family, key});
  return it == partition_index_.end() ? nullptr : &(*partitions_)[it->second];
}

const PerfModel::Partition* PerfModel::Nearest(int family, const std::vector<double>& categorical,
                                               std::string_view impl) const {
  const Partition* best = nullptr;
  double best_d = std::numeric_limits<double>::infinity();
  for (const Partition& p : *partitions_) {
    if (p.family != family) continue;
    if (family == kCollective && !impl.empty() && p.impl != impl) continue;
    const double d = Distance(categorical, p.categorical);
    if (d < best_d) best_d = d, best = &p;
  }
  return best;
}

OpLatency PerfModel::FromUtil(const OpShape& shape, double log_util, bool exact,
                              bool extrapolated) const {
  OpLatency l;
  l.us = RooflineUs(shape, roofline_) / std::exp(log_util);
  l.source = exact ? LatencySource::kMeasured
                   : (extrapolated ? LatencySource::kExtrapolated : LatencySource::kInterpolated);
  return l;
}

std::optional<OpLatency> PerfModel::LookupCollective(const CollectiveShape& c) const {
  // Engines pick the fastest implementation that serves a message (vLLM: its custom
  // all-reduce for small messages inside a node, NCCL otherwise). Take the fastest
  // implementation whose measured range covers the query; else extrapolate NCCL.
  std::optional<OpLatency> best, fallback;
  for (const Partition& p : *partitions_) {
    if (p.family != kCollective) continue;
    const Coords q = CoordsOf(c, p.impl);
    if (p.key != q.key) continue;
    auto r = p.grid->At(q.axes);
    if (!r) continue;
    const OpLatency l = FromUtil(c, r->value, r->exact, r->extrapolated);
    if (!r->extrapolated && (!best || l.us < best->us)) best = l;
    if (p.impl == "nccl" || !fallback) fallback = l;
  }
  return best ? best : fallback;
}

// A shape whose partition has no rows borrows the efficiency of the nearest partition of its
// family, or of the related family (MLA from standard attention).
std::optional<OpLatency> PerfModel::Borrow(const OpShape& shape) const {
  const Coords c = CoordsOf(shape, "");
  const int family = static_cast<int>(shape.index());
  if (const Partition* p = Nearest(family, c.categorical, family == kCollective ? "nccl" : "")) {
    if (auto r = p->grid->At(c.axes)) return FromUtil(shape, r->value, false, true);
  }
  OpShape proxy;
  if (auto* a = std::get_if<MlaContextShape>(&shape)) {
    proxy = AttnContextShape{a->dtype,  a->kv_dtype, a->batch, a->q_len,
                             a->kv_len, a->heads,    a->heads, 128};
  } else if (auto* d = std::get_if<MlaDecodeShape>(&shape)) {
    proxy = AttnDecodeShape{d->dtype, d->kv_dtype, d->batch, d->kv_len, d->heads, 1, 128};
  } else {
    return std::nullopt;
  }
  const Coords pc = CoordsOf(proxy, "");
  if (const Partition* p = Nearest(static_cast<int>(proxy.index()), pc.categorical, "")) {
    if (auto r = p->grid->At(pc.axes)) return FromUtil(shape, r->value, false, true);
  }
  return std::nullopt;
}

// Context attention with a cached prefix longer than any measured one (tables such as
// AIConfigurator's hold prefix 0 only): take the efficiency of the prefix-free chunk with the
// same causal work, s(s+1)/2 = q x prefix + q(q+1)/2, rather than the q-token chunk's.
std::optional<OpLatency> PerfModel::PrefixBeyondData(const Partition& p,
                                                     const OpShape& shape) const {
  const OpGrid& g = *p.grid;
  const size_t prefix_axis = g.dims() - 1;
  const double max_prefix = g.axis(prefix_axis).values.back();
  auto equivalent = [](int64_t q, int64_t prefix) {
    const double pairs = static_cast<double>(q) * static_cast<double>(prefix) +
                         static_cast<double>(q) * static_cast<double>(q + 1) / 2;
    return static_cast<int64_t>(std::llround((std::sqrt(8 * pairs + 1) - 1) / 2));
  };
  OpShape proxy;
  if (auto* a = std::get_if<AttnContextShape>(&shape)) {
    if (static_cast<double>(a->prefix_len()) <= max_prefix) return std::nullopt;
    AttnContextShape e = *a;
    e.q_len = e.kv_len = equivalent(a->q_len, a->prefix_len());
    proxy = e;
  } else if (auto* m = std::get_if<MlaContextShape>(&shape)) {
    if (static_cast<double>(m->prefix_len()) <= max_prefix) return std::nullopt;
    MlaContextShape e = *m;
    e.q_len = e.kv_len = equivalent(m->q_len, m->prefix_len());
    proxy = e;
  } else {
    return std::nullopt;
  }
  auto r = p.grid->At(CoordsOf(proxy, p.impl).axes);
  if (!r) return std::nullopt;
  return FromUtil(shape, r->value, false, true);
}

StatusOr<OpLatency> PerfModel::Lookup(const OpShape& shape) const {
  // Describe() only on error: this is the hot path of every step evaluation.
  if (Status v = Validate(shape); !v.ok()) return v.WithContext(Describe(shape));
  if (!analytic_) {
    if (auto* c = std::get_if<CollectiveShape>(&shape)) {
      if (auto l = LookupCollective(*c)) return *l;
    } else if (const Coords coords = CoordsOf(shape, "");
               const Partition* p = Find(static_cast<int>(shape.index()), coords.key)) {
      if (auto l = PrefixBeyondData(*p, shape)) return *l;
      if (auto r = p->grid->At(coords.axes)) {
        return FromUtil(shape, r->value, r->exact, r->extrapolated);
      }
    }
    if (auto l = Borrow(shape)) return *l;
  }
  return OpLatency{AnalyticLatencyUs(shape, roofline_), LatencySource::kAnalytic};
}

double PerfModel::HostOverheadUs(HostOverheadKind kind) const {
  auto it = host_us_.find(kind);
  return it != host_us_.end() ? it->second : AnalyticHostOverheadUs(kind);
}

bool PerfModel::HostOverheadMeasured(HostOverheadKind kind) const {
  return host_us_.count(kind) > 0;
}

std::vector<LooPoint> PerfModel::LeaveOneOut(std::string_view family) const {
  std::vector<LooPoint> out;
  for (const PerfRow& r : rows_) {
    if (OpFamilyName(r.shape) != family) continue;
    const Coords c = CoordsOf(r.shape, r.impl);
    const Partition* p = Find(static_cast<int>(r.shape.index()), c.key);
    DYNAMO_CHECK(p != nullptr);  // Build() made a partition for every row
    const size_t cell = *p->grid->CellOf(c.axes);
    const double saved = p->grid->Get(cell);
    p->grid->Set(cell, std::numeric_limits<double>::quiet_NaN());
    auto res = p->grid->At(c.axes);
    p->grid->Set(cell, saved);
    if (!res) continue;  // the only point of its partition
    const OpLatency l = FromUtil(r.shape, res->value, false, res->extrapolated);
    out.push_back({r.shape, r.timing.median_us, l.us, res->extrapolated});
  }
  return out;
}

StatusOr<std::shared_ptr<const PerfModel>> OpenPerfModel(const std::string& db_path,
                                                         const GpuSpec& gpu,
                                                         const std::string& whose) {
  if (db_path.empty()) return std::make_shared<const PerfModel>(PerfModel::Analytic(gpu));
  ASSIGN_OR_RETURN(auto db, PerfDb::Open(db_path, PerfDb::Mode::kReadOnly));
  ASSIGN_OR_RETURN(PerfModel m, PerfModel::FromDb(*db));
  const std::string& dev_gpu = m.device().catalog_gpu;
  if (!dev_gpu.empty() && dev_gpu != gpu.name) {
    return InvalidArgument("--perf-db " + db_path + ": measured on " + dev_gpu + ", but " + whose +
                           " is " + gpu.name + "; use a database of " + gpu.name +
                           " or drop --perf-db");
  }
  return std::make_shared<const PerfModel>(std::move(m));
}

}  // namespace dynamo::perf
