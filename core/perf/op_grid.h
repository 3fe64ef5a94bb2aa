#pragma once
// OpGrid: measured values of one operator partition (e.g. bf16 GEMMs) on a D-dimensional grid
// whose axes are the measured coordinates (m, n, k ...). Cells not measured hold NaN.
// Interpolation is nested, one axis at a time, linear in log-coordinates; along an axis it
// skips coordinates whose sub-grid has no data, so ragged tables (a capped total token count,
// kv_heads <= heads) need no special cases. Outside the data along an axis it holds the
// nearest value (the caller stores log-utilization, so holding it means "same efficiency as
// the nearest measured shape, scaled by the roofline").
//
// Not thread-safe for Set/Erase; At() is const and may run concurrently.

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

namespace dynamo::perf {

class OpGrid {
 public:
  struct Axis {
    std::vector<double> values;  // sorted, unique; raw coordinates
    bool log1p = false;          // coordinate transform log(1 + x) (axes containing 0); else log x
  };
  explicit OpGrid(std::vector<Axis> axes);

  size_t dims() const { return axes_.size(); }
  size_t cells() const { return data_.size(); }
  const Axis& axis(size_t d) const { return axes_[d]; }

  // Cell index of exact raw coordinates, or nullopt when a coordinate is not on its axis.
  std::optional<size_t> CellOf(std::span<const double> coords) const;
  void Set(size_t cell, double value) { data_[cell] = value; }
  double Get(size_t cell) const { return data_[cell]; }
  std::vector<double> CoordsOf(size_t cell) const;

  struct Result {
    double value = 0;
    bool exact = false;         // every coordinate measured: the stored value itself
    bool extrapolated = false;  // some axis had data on one side only
  };
  // Interpolated value at raw coordinates `q` (dims() of them); nullopt when the grid is empty.
  std::optional<Result> At(std::span<const double> q) const;

 private:
  std::optional<Result> AlongAxes(size_t cell) const;
  std::optional<Result> Interp(size_t d, size_t offset, const double* tq) const;
  double Transform(size_t d, double x) const;

  std::vector<Axis> axes_;
  std::vector<std::vector<double>> t_;  // transformed axis values
  std::vector<size_t> strides_;
  std::vector<double> data_;  // row-major, last axis fastest
};

}  // namespace dynamo::perf
