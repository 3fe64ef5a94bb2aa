#include "configurator/bounds.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "core/check.h"
#include "core/perf/step_latency.h"

namespace dynamo::configurator {
namespace {

std::string Ms(double ms) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f ms", ms);
  return buf;
}

double StepMs(perf::StepLatencyModel& m, const perf::BatchComposition& b) {
  return m.Evaluate(b).total.millis();
}

double DecodeMs(perf::StepLatencyModel& m, int64_t seqs, double ctx) {
  perf::BatchComposition b;
  b.decode_seqs = seqs;
  b.decode_kv_tokens = seqs * std::max<int64_t>(1, std::llround(ctx));
  return StepMs(m, b);
}

// Prompt `isl` alone, chunked by `chunk` tokens.
double PrefillAloneMs(perf::StepLatencyModel& m, int64_t isl, int64_t chunk) {
  double ms = 0;
  for (int64_t done = 0; done < isl;) {
    const int64_t q = std::min(chunk, isl - done);
    done += q;
    perf::BatchComposition b;
    b.prefill.push_back({q, done, done == isl});
    ms += StepMs(m, b);
  }
  return ms;
}

// Prefill tokens/s at full steps of the cheapest composition: chunks no longer than a prompt's
// uncached part, each with no earlier context.
double PrefillTokensPerS(perf::StepLatencyModel& m, int64_t chunk_budget, double isl_eff) {
  const int64_t q = std::clamp<int64_t>(std::llround(isl_eff), 1, chunk_budget);
  perf::BatchComposition b;
  for (int64_t used = 0; used + q <= chunk_budget; used += q) b.prefill.push_back({q, q, true});
  const double tokens = static_cast<double>(b.prefill.size()) * static_cast<double>(q);
  return tokens / (StepMs(m, b) * 1e-3);
}

}  // namespace

CandidateBound BoundCandidate(const Plan& plan, const TrafficShape& t, double ttft_ms,
                              double itl_ms, double percentile,
                              std::shared_ptr<const perf::PerfModel> perf) {
  CandidateBound out;
  const double inf = std::numeric_limits<double>::infinity();
  double prefill_rps = inf, decode_rps = inf;
  const double isl_eff = std::max(1.0, t.isl_mean * (1.0 - t.max_prefix_hit));
  const double decode_tokens = std::max(1.0, t.osl_mean - 1.0);
  const double q = percentile / 100.0;
  for (const WorkerPoolSpec& w : plan.workers) {
    perf::WorkerConfig wc;
    wc.parallelism = w.parallelism;
    wc.weight_dtype = plan.weight_dtype;
    wc.kv_dtype = plan.kv_dtype;
    auto model = perf::StepLatencyModel::Create(plan.model, wc, perf);
    DYNAMO_CHECK(model.ok());
    perf::StepLatencyModel& m = *model;
    const double replicas = w.replicas;
    if (w.role != WorkerRole::kDecode) {
      const double alone = PrefillAloneMs(
          m, std::max<int64_t>(1, std::llround(t.isl_at_percentile)), w.max_num_batched_tokens);
      // Only without prefix reuse: a cached prefix makes a prompt's first token faster.
      if (alone > ttft_ms && t.max_prefix_hit <= 0 && out.certain_miss.empty()) {
        out.certain_miss = "a " + std::to_string(std::llround(t.isl_at_percentile)) +
                           "-token prompt alone takes " + Ms(alone) + " to prefill on tp " +
                           std::to_string(w.parallelism.tp) + ", above the TTFT target " +
                           Ms(ttft_ms);
      }
      prefill_rps =
          std::min(prefill_rps,
                   replicas * PrefillTokensPerS(m, w.max_num_batched_tokens, isl_eff) / isl_eff);
    }
    if (w.role != WorkerRole::kPrefill && t.osl_mean > 1) {
      const double ctx = std::max(1.0, t.isl_mean);
      const int64_t kv_seqs = std::max<int64_t>(
          1, static_cast<int64_t>(static_cast<double>(w.memory.kv_tokens()) / ctx));
      const int64_t b_max = std::min<int64_t>(w.max_num_seqs, kv_seqs);
      // The fastest possible gap: one sequence alone with the shortest context.
      const double one = DecodeMs(m, 1, std::max(1.0, t.isl_min));
      if (one > itl_ms && out.certain_miss.empty()) {
        out.certain_miss = "one sequence's decode step takes " + Ms(one) + " on tp " +
                           std::to_string(w.parallelism.tp) + ", above the ITL target " +
                           Ms(itl_ms);
      }
      // Largest batch whose step meets the ITL target (steps grow with the batch).
      int64_t lo = 0, hi = b_max;
      while (lo < hi) {
        const int64_t mid = (lo + hi + 1) / 2;
        if (DecodeMs(m, mid, ctx) <= itl_ms) {
          lo = mid;
        } else {
          hi = mid - 1;
        }
      }
      double tok_s = b_max / (DecodeMs(m, b_max, ctx) * 1e-3);
      if (lo > 0) tok_s = std::min(tok_s, lo / (DecodeMs(m, lo, ctx) * 1e-3) / q);
      decode_rps = std::min(decode_rps, replicas * tok_s / decode_tokens);
    }
  }
  out.rps = std::min(prefill_rps, decode_rps);
  if (!std::isfinite(out.rps)) out.rps = prefill_rps;
  return out;
}

}  // namespace dynamo::configurator
