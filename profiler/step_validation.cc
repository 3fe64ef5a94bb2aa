#include "profiler/step_validation.h"

#include "profiler/cpu/cpu_reference_step.h"

namespace dynamo::profiler {

std::vector<ValidationCase> DefaultValidationCases() {
  auto decode = [](int64_t seqs, int64_t kv) {
    return perf::BatchComposition{{}, seqs, seqs * kv};
  };
  return {
      {"decode 1 x 512", decode(1, 512)},
      {"decode 8 x 1024", decode(8, 1024)},
      {"decode 32 x 2048", decode(32, 2048)},
      {"prefill 128", {{{128, 128, true}}, 0, 0}},
      {"prefill 128 after 1024 cached", {{{128, 1152, true}}, 0, 0}},
      {"mixed: prefill 128 + decode 8 x 1024", {{{128, 128, true}}, 8, 8 * 1024}},
  };
}

StatusOr<std::vector<ValidationResult>> ValidateCpuSteps(
    const ModelSpec& model, std::shared_ptr<const perf::PerfModel> perf,
    const std::vector<ValidationCase>& cases, int threads, const MeasureOptions& options) {
  ASSIGN_OR_RETURN(perf::StepLatencyModel step,
                   perf::StepLatencyModel::Create(model, {{1, 1, 1}, DType::kFp32, DType::kFp32},
                                                  std::move(perf)));
  std::vector<ValidationResult> out;
  for (const ValidationCase& c : cases) {
    ReferenceBatch ref;
    for (const perf::PrefillChunk& ch : c.batch.prefill)
      ref.prefill.push_back({ch.q_len, ch.kv_len});
    for (int64_t i = 0; i < c.batch.decode_seqs; ++i) {
      ref.decode_kv_lens.push_back(c.batch.decode_kv_tokens / c.batch.decode_seqs);
    }
    auto measured = TimeReferenceStep(model, 0, ref, threads, options);
    if (!measured.ok()) return measured.status().WithContext(c.name);
    const perf::StepCost cost = step.EvaluateUncached(c.batch);
    ValidationResult r;
    r.name = c.name;
    r.predicted_ms = cost.total.millis() - cost.breakdown.host_us / 1e3;
    r.measured_ms = measured.value().median_us / 1e3;
    out.push_back(r);
  }
  return out;
}

}  // namespace dynamo::profiler
