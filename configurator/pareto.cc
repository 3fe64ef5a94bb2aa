#include "configurator/pareto.h"

#include <algorithm>

namespace dynamo::configurator {
namespace {

bool Passing(const CandidateResult& r) {
  return r.status == CandidateStatus::kPass && r.best.has_value();
}

}  // namespace

void MarkParetoFront(std::vector<CandidateResult>& results) {
  std::vector<size_t> order;
  for (size_t i = 0; i < results.size(); ++i) {
    results[i].pareto = false;
    if (Passing(results[i])) order.push_back(i);
  }
  // Per-user throughput descending, then per-GPU descending, then id: a point is on the front
  // when it beats the best per-GPU throughput of every point at least as fast per user.
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const LoadPoint& pa = *results[a].best;
    const LoadPoint& pb = *results[b].best;
    if (pa.tokens_per_s_per_user != pb.tokens_per_s_per_user) {
      return pa.tokens_per_s_per_user > pb.tokens_per_s_per_user;
    }
    if (pa.tokens_per_s_per_gpu != pb.tokens_per_s_per_gpu) {
      return pa.tokens_per_s_per_gpu > pb.tokens_per_s_per_gpu;
    }
    return results[a].candidate.id < results[b].candidate.id;
  });
  double best_y = -1;
  for (size_t i : order) {
    const double y = results[i].best->tokens_per_s_per_gpu;
    if (y > best_y) {
      results[i].pareto = true;
      best_y = y;
    }
  }
}

bool RanksBefore(const CandidateResult& a, const CandidateResult& b, Objective objective) {
  const double ya = a.best->tokens_per_s_per_gpu, yb = b.best->tokens_per_s_per_gpu;
  const int ga = a.candidate.gpus(), gb = b.candidate.gpus();
  if (objective == Objective::kMinGpus) {
    if (ga != gb) return ga < gb;
    if (ya != yb) return ya > yb;
  } else {
    if (ya != yb) return ya > yb;
    if (ga != gb) return ga < gb;
  }
  return a.candidate.id < b.candidate.id;
}

std::optional<int64_t> SelectBest(std::vector<CandidateResult>& results, Objective objective) {
  std::optional<int64_t> best;
  for (size_t i = 0; i < results.size(); ++i) {
    CandidateResult& r = results[i];
    r.chosen = false;
    if (!Passing(r)) continue;
    if (objective == Objective::kMinGpus && r.best->load < 1.0) continue;
    if (!best || RanksBefore(r, results[static_cast<size_t>(*best)], objective)) {
      best = static_cast<int64_t>(i);
    }
  }
  if (best) results[static_cast<size_t>(*best)].chosen = true;
  return best;
}

}  // namespace dynamo::configurator
