#pragma once
// Turns CUPTI activity records into per-repetition GPU times, without CUDA headers (the CUPTI
// adapter in cupti_timer.cc copies records into these structs).
//
// How repetitions are told apart: the backend pushes external correlation id r + 1
// (CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) around the API calls of repetition r. CUPTI then
// emits a CorrelationTag {API correlation id, r + 1} for each API call of the repetition, and
// every kernel / memcpy record carries the correlation id of the API call that launched it.

#include <cstdint>
#include <vector>

#include "core/status.h"

namespace dynamo::profiler::gpu {

// One kernel or memcpy execution on a device, CUPTI timestamps in ns (one clock for all
// devices).
struct ActivityInterval {
  uint64_t start_ns = 0;
  uint64_t end_ns = 0;
  uint32_t correlation_id = 0;
};

// CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: API call `correlation_id` ran while external id
// `external_id` was pushed.
struct CorrelationTag {
  uint32_t correlation_id = 0;
  uint64_t external_id = 0;
};

struct ActivityBatch {
  std::vector<ActivityInterval> intervals;
  std::vector<CorrelationTag> tags;
  uint64_t dropped_records = 0;  // cuptiActivityGetNumDroppedRecords, summed over buffers
};

// External correlation id of repetition `rep` (0 means "none" to CUPTI).
inline uint64_t RepetitionExternalId(int rep) { return static_cast<uint64_t>(rep) + 1; }

// GPU busy time of each repetition in ns: the length of the union of the intervals launched
// inside it, so kernels that overlap (concurrent streams, several GPUs of a collective) count
// once and idle gaps between kernels not at all. Records of untagged API calls (warm-up, cache
// flushes) are ignored. Errors (records were lost; the caller may fall back to CUDA events):
// dropped records, an interval ending before it starts, a repetition without records, or
// repetitions with different record counts (the same launches ran in each).
StatusOr<std::vector<int64_t>> RepetitionDurations(const ActivityBatch& batch, int repetitions);

// Length of the union of [start, end) intervals, ns. Precondition: start <= end for each.
int64_t UnionLengthNs(std::vector<ActivityInterval> intervals);

}  // namespace dynamo::profiler::gpu
