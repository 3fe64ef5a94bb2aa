#pragma once
// The shapes a profile measures: exactly the operator shapes StepLatencyModel asks for when it
// prices the given models at the given tensor parallelisms (QKV/O/FFN/LM-head and MoE GEMMs
// over a token grid, context attention with and without cached prefix, decode attention over
// batch x KV length, TP collectives, copies), plus generic grids that give the interpolation
// room around them. Deterministic order, no duplicates.

#include <string>
#include <vector>

#include "core/model/model_spec.h"
#include "core/perf/op_shape.h"

namespace dynamo::profiler {

struct GridOptions {
  std::vector<int> tps = {1};
  std::vector<DType> gemm_dtypes = {DType::kBf16};
  DType attention_dtype = DType::kBf16;
  bool quick = false;       // a small grid: minutes on a GPU, a minute on a CPU for small models
  bool collectives = true;  // TP all-reduce / all-gather shapes (tp > 1)
  bool transfers = true;
  // Skip shapes above this many FLOPs (0: no limit). Keeps CPU profiles finite.
  double max_flops = 0;
};

std::vector<perf::OpShape> BuildShapeGrid(const std::vector<ModelSpec>& models,
                                          const GridOptions& options);

}  // namespace dynamo::profiler
