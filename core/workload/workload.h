#pragma once
// One entry point for every workload source:
//   NAME          a bundled spec (data/workloads/NAME.json), e.g. "default"
//   FILE.json     a synthetic spec, or {"trace": {...}} wrapping a trace with options
//   FILE.jsonl    a Mooncake trace
//   FILE.csv      an Azure trace
// Trace wrapper: {"trace": {"file": "conv.jsonl", "format": "mooncake"|"azure", "first": 1000,
//                 "time_scale": 0.5, "rate_rps": 4, "block_tokens": 512}}

#include <cstdint>
#include <optional>
#include <string>

#include "core/status.h"
#include "core/workload/request.h"
#include "core/workload/trace_reader.h"

namespace dynamo {

// Command-line overrides; unset fields keep the file's values.
struct WorkloadOverrides {
  std::optional<uint64_t> seed;      // synthetic specs
  std::optional<int64_t> first;      // traces
  std::optional<double> time_scale;  // traces
  std::optional<double> rate_rps;    // traces
};

StatusOr<Workload> LoadWorkload(const std::string& ref, const WorkloadOverrides& overrides = {});
std::vector<std::string> BundledWorkloadNames();

}  // namespace dynamo
