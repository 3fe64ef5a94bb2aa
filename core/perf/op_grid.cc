#include "core/perf/op_grid.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "core/check.h"

namespace dynamo::perf {

OpGrid::OpGrid(std::vector<Axis> axes) : axes_(std::move(axes)) {
  size_t size = 1;
  strides_.assign(axes_.size(), 1);
  for (size_t d = axes_.size(); d-- > 0;) {
    DYNAMO_CHECK(!axes_[d].values.empty());
    DYNAMO_CHECK(std::is_sorted(axes_[d].values.begin(), axes_[d].values.end()));
    strides_[d] = size;
    size *= axes_[d].values.size();
  }
  t_.resize(axes_.size());
  for (size_t d = 0; d < axes_.size(); ++d) {
    for (double v : axes_[d].values) t_[d].push_back(Transform(d, v));
  }
  data_.assign(size, std::numeric_limits<double>::quiet_NaN());
}

double OpGrid::Transform(size_t d, double x) const {
  return axes_[d].log1p ? std::log1p(std::max(x, 0.0)) : std::log(std::max(x, 1e-30));
}

std::optional<size_t> OpGrid::CellOf(std::span<const double> coords) const {
  DYNAMO_CHECK(coords.size() == axes_.size());
  size_t cell = 0;
  for (size_t d = 0; d < axes_.size(); ++d) {
    const auto& v = axes_[d].values;
    auto it = std::lower_bound(v.begin(), v.end(), coords[d]);
    if (it == v.end() || *it != coords[d]) return std::nullopt;
    cell += static_cast<size_t>(it - v.begin()) * strides_[d];
  }
  return cell;
}

std::vector<double> OpGrid::CoordsOf(size_t cell) const {
  std::vector<double> c(axes_.size());
  for (size_t d = 0; d < axes_.size(); ++d) {
    c[d] = axes_[d].values[(cell / strides_[d]) % axes_[d].values.size()];
  }
  return c;
}

std::optional<OpGrid::Result> OpGrid::At(std::span<const double> q) const {
  DYNAMO_CHECK(q.size() == axes_.size());
  double tq[16];
  DYNAMO_CHECK(q.size() <= 16);
  for (size_t d = 0; d < q.size(); ++d) tq[d] = Transform(d, q[d]);
  if (auto cell = CellOf(q); cell && std::isnan(data_[*cell])) {
    if (auto r = AlongAxes(*cell)) return r;
  }
  return Interp(0, 0, tq);
}

// A grid node without data: estimate it along every axis on which it has measured neighbours
// on both sides (the other coordinates fixed). Each line's estimate is weighted by how well
// linear interpolation predicts the neighbours themselves along that axis (a local
// cross-validation): axes with cliffs (GEMM wave quantization along m) count little, smooth
// ones much.
std::optional<OpGrid::Result> OpGrid::AlongAxes(size_t cell) const {
  double sum = 0, weights = 0;
  for (size_t d = 0; d < axes_.size(); ++d) {
    const size_t n = t_[d].size();
    const size_t i = (cell / strides_[d]) % n;
    const size_t base = cell - i * strides_[d];
    const std::vector<double>& t = t_[d];
    auto value = [&](ptrdiff_t j) { return data_[base + static_cast<size_t>(j) * strides_[d]]; };
    auto below = [&](ptrdiff_t j) {
      while (j >= 0 && std::isnan(value(j))) --j;
      return j;
    };
    auto above = [&](ptrdiff_t j) {
      while (j < static_cast<ptrdiff_t>(n) && std::isnan(value(j))) ++j;
      return j;
    };
    auto line = [&](ptrdiff_t a, ptrdiff_t b, double at) {
      return value(a) + (at - t[a]) / (t[b] - t[a]) * (value(b) - value(a));
    };
    const ptrdiff_t lo = below(static_cast<ptrdiff_t>(i) - 1);
    const ptrdiff_t hi = above(static_cast<ptrdiff_t>(i) + 1);
    if (lo < 0 || hi >= static_cast<ptrdiff_t>(n)) continue;
    const double estimate = line(lo, hi, t[i]);
    // Residuals of predicting lo from (lo2, hi) and hi from (lo, hi2).
    double residual = 0;
    int checks = 0;
    if (const ptrdiff_t lo2 = below(lo - 1); lo2 >= 0) {
      residual += std::abs(line(lo2, hi, t[lo]) - value(lo));
      ++checks;
    }
    if (const ptrdiff_t hi2 = above(hi + 1); hi2 < static_cast<ptrdiff_t>(n)) {
      residual += std::abs(line(lo, hi2, t[hi]) - value(hi));
      ++checks;
    }
    const double err = checks ? residual / checks : (t[hi] - t[lo]);
    const double w = 1.0 / (err * err + 1e-4);
    sum += w * estimate;
    weights += w;
  }
  if (weights == 0) return std::nullopt;
  return Result{sum / weights, false, false};
}

std::optional<OpGrid::Result> OpGrid::Interp(size_t d, size_t offset, const double* tq) const {
  if (d == axes_.size()) {
    const double v = data_[offset];
    if (std::isnan(v)) return std::nullopt;
    return Result{v, true, false};
  }
  const std::vector<double>& t = t_[d];
  const size_t n = t.size();
  const size_t i = static_cast<size_t>(std::lower_bound(t.begin(), t.end(), tq[d]) - t.begin());
  // Candidates below start at `lo`, above at `hi` (an exact coordinate is tried first).
  ptrdiff_t lo = static_cast<ptrdiff_t>(i) - 1;
  size_t hi = i;
  if (i < n && t[i] == tq[d]) {
    if (auto r = Interp(d + 1, offset + i * strides_[d], tq)) return r;
    hi = i + 1;  // the exact coordinate has no data here: bracket it by its neighbours
  }
  std::optional<Result> below, above;
  size_t below_i = 0, above_i = 0;
  for (ptrdiff_t j = lo; j >= 0 && !below; --j) {
    below = Interp(d + 1, offset + static_cast<size_t>(j) * strides_[d], tq);
    below_i = static_cast<size_t>(j);
  }
  for (size_t j = hi; j < n && !above; ++j) {
    above = Interp(d + 1, offset + j * strides_[d], tq);
    above_i = j;
  }
  if (below && above) {
    const double w = (tq[d] - t[below_i]) / (t[above_i] - t[below_i]);
    return Result{below->value + w * (above->value - below->value), false,
                  below->extrapolated || above->extrapolated};
  }
  if (below) return Result{below->value, false, true};
  if (above) return Result{above->value, false, true};
  return std::nullopt;
}

}  // namespace dynamo::perf
