#pragma once
// A directly timed fp32 forward step of a dense transformer on the CPU, built from the same
// kernels as CpuBackend (cpu_kernels.h). The step-latency model predicts a step from per-op
// tables measured by the backend; timing the whole step here on the same machine checks that
// prediction end to end (op sum vs step, host overheads included).

#include <cstdint>
#include <utility>
#include <vector>

#include "core/model/model_spec.h"
#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

// One engine step's batch.
struct ReferenceBatch {
  // (q_len, kv_len) per prefill chunk: q_len new tokens after kv_len - q_len cached ones. Each
  // chunk is the last chunk of its prompt, so it samples one token.
  std::vector<std::pair<int64_t, int64_t>> prefill;
  // Keys each decode sequence attends to, its new token included.
  std::vector<int64_t> decode_kv_lens;
};

// Builds a model of `layers` layers (0: all of model.num_layers()) with random weights and KV
// caches, then times one forward step over `batch` with `threads` kernel threads (0: every
// hardware thread), warmup and repetitions as options says (the same loop as
// KernelBackend::Measure). Dense models with tp = 1 only.
// Errors: FailedPrecondition for MoE and MLA models and for a step that does not fit in half of
// physical memory; InvalidArgument for an empty or inconsistent batch or a bad layer or thread
// count.
StatusOr<perf::Timing> TimeReferenceStep(const ModelSpec& model, int64_t layers,
                                         const ReferenceBatch& batch, int threads,
                                         const MeasureOptions& options);

}  // namespace dynamo::profiler
