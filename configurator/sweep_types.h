#pragma once
// The vocabulary of a topology sweep (`dynamo-sim sweep`): what was asked (SweepInputs), one
// candidate topology (Candidate), what the sweep found for it (CandidateResult) and the whole
// outcome (SweepOutcome). The sweep engine (sweep.h) produces an outcome; the results store
// (results_store.h) writes and reads it (results.sqlite, results.csv, pareto.csv); the report
// (report_html.h) renders it. docs/sweep.md describes the method, docs/formats.md the files.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/plan/plan.h"

namespace dynamo::configurator {

enum class SweepMode : uint8_t { kAggregated, kDisaggregated };
std::string_view SweepModeName(SweepMode m);  // "agg", "disagg"

// What the sweep optimizes.
//  kThroughputPerGpu: no demand given (--isl/--osl without --rate): the plan with the most output
//    tokens/s per GPU at the highest load it sustains within the SLA.
//  kMinGpus: a demand is given (a workload, or --rate): the plans sustaining it (load >= 1)
//    compete on GPUs, then on tokens/s per GPU.
enum class Objective : uint8_t { kThroughputPerGpu, kMinGpus };
std::string_view ObjectiveName(Objective o);  // "throughput_per_gpu", "min_gpus"

// One pool of a candidate (agg: one pool; disagg: prefill then decode).
struct PoolChoice {
  WorkerRole role = WorkerRole::kAggregated;
  int replicas = 1;
  int tp = 1, pp = 1, ep = 1;
  int max_num_seqs = 256;
  int max_num_batched_tokens = 8192;
  int gpus() const { return replicas * tp * pp; }
};

struct Candidate {
  int64_t id = 0;  // dense, in enumeration order; equal across thread counts and shards
  SweepMode mode = SweepMode::kAggregated;
  std::vector<PoolChoice> pools;
  std::string router = "round_robin";  // router policy name (RouterSpec::policy)
  int gpus() const;
  // One line: "agg 4x tp4 seqs256 tok8192 rr", "disagg 2x tp2 seqs32 tok16384 + 1x tp4 ... kv".
  std::string Label() const;
};

// What became of a candidate.
enum class CandidateStatus : uint8_t {
  kPass,         // meets the SLA at some load; `load` is the highest found
  kSlaMissed,    // misses the SLA even at the lowest load searched
  kInfeasible,   // cannot run: memory, divisibility, GPU budget (reason says which)
  kPruned,       // its analytic upper bound cannot beat the best already found
  kBelowDemand,  // kMinGpus: cannot sustain the demanded load (bound or simulation)
};
std::string_view CandidateStatusName(CandidateStatus s);
// "pass", "sla_missed", "infeasible", "pruned", "below_demand"

// Figures of one simulation (the one at the candidate's highest passing load).
struct LoadPoint {
  double load = 0;      // x the base rate (open loop) or x the base concurrency (closed loop)
  double rate_rps = 0;  // offered arrival rate (open loop); achieved throughput (closed loop)
  double ttft_ms = 0;   // at the SLA percentile
  double itl_ms = 0;    // at the SLA percentile
  double ttft_p50_ms = 0, itl_p50_ms = 0;
  double throughput_rps = 0;
  double output_tokens_per_s = 0;
  double tokens_per_s_per_gpu = 0;   // output tokens/s per GPU
  double tokens_per_s_per_user = 0;  // 1000 / mean TPOT
  double goodput_rps = 0;
  double kv_hit_rate = 0;
  std::string fingerprint;
};

struct CandidateResult {
  Candidate candidate;
  CandidateStatus status = CandidateStatus::kPass;
  // kInfeasible: the category, then the message ("memory: ...", "divisibility: ...",
  // "budget: ..."); kPruned / kBelowDemand / kSlaMissed: why.
  std::string reason;
  double bound_rps = 0;           // analytic upper bound on sustainable request rate (0: none)
  std::optional<LoadPoint> best;  // kPass: the highest load within the SLA
  int simulations = 0;            // simulations run for this candidate (all fidelities)
  bool pareto = false;            // on the Pareto front (tokens/s/GPU vs tokens/s/user)
  bool chosen = false;            // the selected plan
};

struct SweepInputs {
  std::string model = "llama-3.1-70b";  // bundled name or config.json path
  std::string gpu = "h200_sxm";
  int gpus = 8;           // GPU budget
  int gpus_per_node = 0;  // 0: the GPU's usual node size
  std::string dtype = "bf16";
  // Workload: a reference (bundled name, spec, trace) or a synthetic one from isl/osl/rate.
  std::string workload;  // empty: synthetic
  int isl = 2048, osl = 256;
  std::optional<double> rate_rps;  // demand (synthetic); absent: maximize throughput per GPU
  int requests = 1000;             // per full simulation
  double ttft_ms = 1000, itl_ms = 50;
  double percentile = 90;
  std::vector<SweepMode> modes{SweepMode::kAggregated, SweepMode::kDisaggregated};
  // Router policies, each its own candidate. Empty: RunSweep picks kv when the workload's
  // prompts share prefixes, else round_robin (the outcome's inputs hold the choice).
  std::vector<std::string> routers{"round_robin"};
  uint64_t seed = 1;
  int threads = 0;                       // 0: the machine's cores
  int shard_index = 0, shard_count = 1;  // --shard i/N (i in [0, N))
  std::string perf_db;                   // empty: analytic model
  Objective objective = Objective::kThroughputPerGpu;
};

struct SweepCounts {
  int64_t enumerated = 0;  // candidates in this shard (all statuses)
  int64_t infeasible = 0, pruned = 0, below_demand = 0, sla_missed = 0, passed = 0;
  int64_t simulations = 0;       // all fidelities
  int64_t full_simulations = 0;  // with the full request count
  int64_t requests_simulated = 0;
};

struct SweepOutcome {
  SweepInputs inputs;
  std::vector<CandidateResult> results;  // by candidate id
  SweepCounts counts;
  std::optional<int64_t> chosen;  // index into results of the chosen plan
  std::string best_plan_json;     // PlanToJson of the chosen plan; empty when none passes
  // The chosen plan's confirmation run (full simulation at its highest passing load).
  std::optional<LoadPoint> confirmation;
  double wall_s = 0;
  std::string version;  // dynamo-sim version that produced it
};

}  // namespace dynamo::configurator
