#pragma once
// The analytic mode: latency = fixed overhead + max(FLOPs / (peak x compute efficiency),
// bytes / (bandwidth x memory efficiency)) with efficiencies from public measurements, for GPUs
// that have no performance database yet. The figures and their sources are in
// analytic_model.cc; docs/perf-model.md reports how far they are from measured tables.

#include "core/perf/op_shape.h"
#include "core/perf/roofline.h"

namespace dynamo::perf {

struct Efficiency {
  double compute = 1;      // fraction of dense peak FLOP/s
  double memory = 1;       // fraction of HBM (or link) bandwidth
  double overhead_us = 0;  // launch + tail, or link latency
};

Efficiency AnalyticEfficiency(const OpShape& shape);
double AnalyticLatencyUs(const OpShape& shape, const DeviceRoofline& device);

// Host-side costs of an engine step when no database measured them (µs).
double AnalyticHostOverheadUs(HostOverheadKind kind);

// Back-to-back small kernels (norms, activations, residual adds) under CUDA graphs: the gap
// between kernels plus the memory-bound time is what they cost.
inline constexpr double kAnalyticKernelGapUs = 2.0;
// Fraction of HBM bandwidth elementwise kernels reach.
inline constexpr double kAnalyticElementwiseMemoryEfficiency = 0.8;

}  // namespace dynamo::perf
