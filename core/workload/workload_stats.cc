#include "core/workload/workload_stats.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <unordered_set>

#include "core/check.h"

namespace dynamo {
namespace {

LengthStats Summarize(std::vector<int64_t> v) {
  LengthStats s;
  if (v.empty()) return s;
  std::sort(v.begin(), v.end());
  s.total = std::accumulate(v.begin(), v.end(), int64_t{0});
  s.mean = static_cast<double>(s.total) / static_cast<double>(v.size());
  s.p50 = NearestRank(v, 0.50);
  s.p90 = NearestRank(v, 0.90);
  s.p99 = NearestRank(v, 0.99);
  s.min = v.front();
  s.max = v.back();
  return s;
}

}  // namespace

WorkloadStats ComputeWorkloadStats(const Workload& w) {
  WorkloadStats s;
  s.requests = static_cast<int64_t>(w.requests.size());
  s.block_tokens = w.block_tokens;
  s.closed_loop_concurrency = w.closed_loop_concurrency;
  std::vector<int64_t> isl, osl;
  isl.reserve(w.requests.size());
  osl.reserve(w.requests.size());
  std::unordered_set<uint64_t> sessions;
  for (const Request& r : w.requests) {
    isl.push_back(r.isl);
    osl.push_back(r.osl);
    sessions.insert(r.session.value());
  }
  s.sessions = static_cast<int64_t>(sessions.size());
  s.isl = Summarize(std::move(isl));
  s.osl = Summarize(std::move(osl));
  if (w.closed_loop_concurrency == 0 && !w.requests.empty()) {
    const double span = (w.requests.back().arrival - w.requests.front().arrival).seconds();
    s.duration_s = span;
    if (span > 0 && w.requests.size() > 1) {
      s.mean_rate_rps = static_cast<double>(w.requests.size() - 1) / span;
    }
  }
  if (w.block_tokens > 0) {
    std::unordered_set<uint64_t> cache;
    int64_t blocks = 0, hits = 0;
    for (const Request& r : w.requests) {
      bool prefix_cached = true;
      for (uint64_t h : r.block_hashes) {
        prefix_cached = prefix_cached && cache.count(h) > 0;
        hits += prefix_cached ? 1 : 0;
      }
      blocks += static_cast<int64_t>(r.block_hashes.size());
      cache.insert(r.block_hashes.begin(), r.block_hashes.end());
    }
    if (blocks > 0) s.prefix_reuse_ratio = static_cast<double>(hits) / static_cast<double>(blocks);
  }
  return s;
}

}  // namespace dynamo
