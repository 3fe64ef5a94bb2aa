#pragma once
// End-to-end check of the step-latency model on the CPU: for a few batch compositions, the
// StepLatencyModel prediction (from a CPU performance database) against a directly timed
// forward step of the same model on the same machine (cpu_reference_step.h).

#include <memory>
#include <string>
#include <vector>

#include "core/model/model_spec.h"
#include "core/perf/perf_model.h"
#include "core/perf/step_latency.h"
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

struct ValidationCase {
  std::string name;  // "decode 8 x 1024"
  perf::BatchComposition batch;
};

// The default cases: decode batches, prefill chunks with and without a cached prefix, a mixed
// step.
std::vector<ValidationCase> DefaultValidationCases();

struct ValidationResult {
  std::string name;
  double predicted_ms = 0;  // kernels only: the reference step has no scheduler
  double measured_ms = 0;   // median
  double relative_error() const { return predicted_ms / measured_ms - 1; }
};

// Dense fp32 models only (the CPU reference step's limits).
StatusOr<std::vector<ValidationResult>> ValidateCpuSteps(
    const ModelSpec& model, std::shared_ptr<const perf::PerfModel> perf,
    const std::vector<ValidationCase>& cases, int threads, const MeasureOptions& options);

}  // namespace dynamo::profiler
