#pragma once
// Renderings of a run's results: the summary as JSON (the `--json` output and summary.json),
// requests.csv and timeseries.csv (docs/formats.md#simulation-outputs), and the --out writer.
#include <string>

#include "core/status.h"
#include "sim/simulation.h"

namespace dynamo::sim {

// One JSON object; `indent` < 0 for one line. Keys in docs/formats.md.
std::string SummaryJson(const RunSummary& s, int indent);
std::string RequestsCsv(const std::vector<RequestRecord>& requests);
std::string TimeseriesCsv(const std::vector<TimeseriesRow>& rows);
std::string PlannerCsv(const std::vector<PlannerRow>& rows);

// Writes summary.json, requests.csv, timeseries.csv and (with the planner) planner.csv into
// `dir` (created if missing). Each file is written atomically: complete or absent.
Status WriteRunOutputs(const std::string& dir, const SimResult& result);

}  // namespace dynamo::sim
