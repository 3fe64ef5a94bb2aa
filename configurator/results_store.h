#pragma once
// The results store of `dynamo-sim sweep`: writes a SweepOutcome as results.sqlite (everything,
// readable back exactly), results.csv (one row per candidate) and pareto.csv (the Pareto front),
// reads results.sqlite back, and merges the outcomes of `--shard i/N` runs (`dynamo-sim merge`).
// The layouts are in docs/formats.md, "Sweep outputs (dynamo-sim sweep)".
//
// Stateless functions; safe to call from any thread (on distinct directories).
#include <cstdint>
#include <string>
#include <vector>

#include "configurator/sweep_types.h"
#include "core/status.h"

namespace dynamo::configurator {

// results.sqlite identity: PRAGMA application_id ('DYNS') and PRAGMA user_version.
inline constexpr int64_t kResultsApplicationId = 0x44594E53;
inline constexpr int kResultsSchemaVersion = 1;

// Writes results.sqlite, results.csv and pareto.csv into `dir` (created if missing). Each file
// is complete or absent: it is built under a temporary name in `dir` and renamed into place, so
// an existing file is replaced whole. Does not write best_plan.json or report.html.
// Errors: a candidate whose pools do not match its mode (agg: one kAggregated pool; disagg: a
// kPrefill then a kDecode pool), `chosen` out of range, or any I/O failure (naming the file).
Status WriteSweepResults(const std::string& dir, const SweepOutcome& o);

// Reads back what WriteSweepResults stored in `sqlite_path` (doubles exact). Errors name the
// file: missing, not a SQLite file, not a sweep results file, another schema version.
StatusOr<SweepOutcome> ReadSweepResults(const std::string& sqlite_path);

// Merges the outcomes of the shards of one sweep. The shards must share every input but
// shard_index (threads too may differ: results do not depend on it) and the dynamo-sim version,
// and cover shard indexes 0..shard_count-1 exactly once; candidate ids must be distinct.
// Returns results sorted by id and counts summed, with inputs.shard_index 0 / shard_count 1.
// Not recomputed here: the selection. `chosen`, `confirmation` and best_plan_json are cleared,
// as are every result's `pareto` and `chosen` flags; the caller selects again. wall_s is the
// slowest shard's (shards run in parallel).
StatusOr<SweepOutcome> MergeSweepResults(const std::vector<SweepOutcome>& shards);

}  // namespace dynamo::configurator
