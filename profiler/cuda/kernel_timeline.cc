#include "profiler/cuda/kernel_timeline.h"

#include <algorithm>
#include <string>
#include <unordered_map>

namespace dynamo::profiler::gpu {

int64_t UnionLengthNs(std::vector<ActivityInterval> intervals) {
  std::sort(intervals.begin(), intervals.end(),
            [](const ActivityInterval& a, const ActivityInterval& b) {
              return a.start_ns != b.start_ns ? a.start_ns < b.start_ns : a.end_ns < b.end_ns;
            });
  uint64_t total = 0;
  bool open = false;
  uint64_t cur_start = 0;
  uint64_t cur_end = 0;
  for (const ActivityInterval& iv : intervals) {
    DYNAMO_CHECK(iv.start_ns <= iv.end_ns);
    if (open && iv.start_ns <= cur_end) {
      cur_end = std::max(cur_end, iv.end_ns);
      continue;
    }
    if (open) total += cur_end - cur_start;
    cur_start = iv.start_ns;
    cur_end = iv.end_ns;
    open = true;
  }
  if (open) total += cur_end - cur_start;
  return static_cast<int64_t>(total);
}

StatusOr<std::vector<int64_t>> RepetitionDurations(const ActivityBatch& batch, int repetitions) {
  DYNAMO_CHECK(repetitions > 0);
  if (batch.dropped_records > 0) {
    return Internal("CUPTI dropped " + std::to_string(batch.dropped_records) +
                    " activity records (buffers full); the timings would be incomplete");
  }
  // correlation id -> repetition (tags of other external ids are someone else's).
  std::unordered_map<uint32_t, int> rep_of;
  rep_of.reserve(batch.tags.size());
  for (const CorrelationTag& t : batch.tags) {
    if (t.external_id < 1 || t.external_id > static_cast<uint64_t>(repetitions)) continue;
    rep_of[t.correlation_id] = static_cast<int>(t.external_id - 1);
  }
  std::vector<std::vector<ActivityInterval>> per_rep(static_cast<size_t>(repetitions));
  for (const ActivityInterval& iv : batch.intervals) {
    if (iv.end_ns < iv.start_ns) {
      return Internal("CUPTI record of correlation id " + std::to_string(iv.correlation_id) +
                      " ends before it starts (" + std::to_string(iv.start_ns) + " > " +
                      std::to_string(iv.end_ns) + " ns)");
    }
    const auto it = rep_of.find(iv.correlation_id);
    if (it == rep_of.end()) continue;
    per_rep[static_cast<size_t>(it->second)].push_back(iv);
  }
  std::vector<int64_t> durations;
  durations.reserve(per_rep.size());
  const size_t expected = per_rep[0].size();
  for (size_t r = 0; r < per_rep.size(); ++r) {
    if (per_rep[r].empty()) {
      return Internal("no CUPTI kernel or memcpy record for repetition " + std::to_string(r) +
                      " of " + std::to_string(repetitions) +
                      " (records were dropped, or CUPTI does not trace this device)");
    }
    if (per_rep[r].size() != expected) {
      return Internal("repetition " + std::to_string(r) + " has " +
                      std::to_string(per_rep[r].size()) + " CUPTI records but repetition 0 has " +
                      std::to_string(expected) + " (records were dropped)");
    }
    durations.push_back(UnionLengthNs(std::move(per_rep[r])));
  }
  return durations;
}

}  // namespace dynamo::profiler::gpu
