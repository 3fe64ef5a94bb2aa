#include "configurator/search_space.h"

#include <algorithm>
#include <string>

#include <nlohmann/json.hpp>

#include "core/catalog.h"
#include "core/check.h"
#include "core/hardware/gpu_spec.h"
#include "core/json.h"
#include "core/perf/memory_model.h"

namespace dynamo::configurator {
namespace {

// A plan.json with the sweep's model, system and dtype and one aggregated worker.
std::string PlanHeader(const SweepInputs& in, int gpus_per_node, int nodes, int tp, int pp) {
  using Json = nlohmann::ordered_json;
  Json j;
  // A path ("/", ".json") is a config.json; anything else a bundled name (the plan loader lists
  // them when it is unknown).
  j["model"] = IsExplicitPath(in.model) ? Json{{"hf_config", in.model}} : Json(in.model);
  j["system"] = Json{{"gpu", in.gpu}, {"gpus_per_node", gpus_per_node}, {"nodes", nodes}};
  j["dtype"] = in.dtype;
  j["workers"] = Json::array({Json{{"role", "agg"}, {"tp", tp}, {"pp", pp}}});
  return j.dump();
}

StatusOr<Plan> ParseHeader(const SweepInputs& in, int gpus_per_node, int nodes, int tp, int pp) {
  ASSIGN_OR_RETURN(JsonNode root,
                   JsonDocument::Parse(PlanHeader(in, gpus_per_node, nodes, tp, pp), "sweep"));
  return ParsePlan(root);
}

std::vector<int> PowersOfTwoUpTo(int n) {
  std::vector<int> v;
  for (int x = 1; x <= n; x *= 2) v.push_back(x);
  return v;
}

// Expert parallel degrees tried for a tp: MoE models shard experts across the tp group (ep =
// tp) or replicate them (ep = 1); dense models only ep = 1.
std::vector<int> EpChoices(const Plan& base, int tp) {
  if (!base.model.is_moe() || tp == 1) return {1};
  return {1, tp};
}

}  // namespace

SearchSpace DefaultSearchSpace(const Plan& base) {
  SearchSpace s;
  s.tp = PowersOfTwoUpTo(base.cluster.gpus_per_node);
  return s;
}

StatusOr<Plan> MakeBasePlan(const SweepInputs& in) {
  if (in.gpus < 1) {
    return InvalidArgument("--gpus: " + std::to_string(in.gpus) + " must be >= 1");
  }
  // Model, GPU and dtype errors first, in the plan loader's words; a worker that does not fit
  // ("$.workers[0]: ...") is expected here and retried larger below.
  auto probe = ParseHeader(in, in.gpus_per_node, 1, 1, 1);
  if (!probe.ok() && probe.status().message().find("$.workers") == std::string::npos) {
    return probe.status();
  }
  // The node size (0: the GPU's usual), then enough nodes for the budget.
  int gpn = in.gpus_per_node;
  if (gpn == 0) {
    ASSIGN_OR_RETURN(GpuSpec gpu, LoadGpu(in.gpu));
    ASSIGN_OR_RETURN(ClusterSpec cluster, ClusterSpec::ForGpu(gpu, 1));
    gpn = cluster.gpus_per_node;
  }
  const int nodes = (in.gpus + gpn - 1) / gpn;
  Status last = Status::Ok();
  for (int pp = 1; pp <= 16; pp *= 2) {
    for (int tp = 1; tp <= gpn; tp *= 2) {
      auto plan = ParseHeader(in, gpn, std::max(nodes, (tp * pp + gpn - 1) / gpn), tp, pp);
      if (!plan.ok()) {
        last = plan.status();
        continue;
      }
      if (tp * pp > in.gpus) {
        return FailedPrecondition("--gpus: a budget of " + std::to_string(in.gpus) +
                                  " GPU(s) is too small for " + plan->model.name() + " in " +
                                  in.dtype + " on " + plan->gpu.name +
                                  ": the smallest worker that fits is tp " + std::to_string(tp) +
                                  " x pp " + std::to_string(pp) + " (" + std::to_string(tp * pp) +
                                  " GPUs); use --gpus >= " + std::to_string(tp * pp) +
                                  (in.dtype == "fp8" ? "" : " or --dtype fp8"));
      }
      Plan base = std::move(plan).value();
      base.system.nodes = nodes;
      base.cluster.nodes = nodes;
      return base;
    }
  }
  return last.WithContext("no worker of up to 16-way pipeline x " + std::to_string(gpn) +
                          "-way tensor parallelism fits the model");
}

namespace {

WorkerPoolSpec PoolSpec(const PoolChoice& p) {
  WorkerPoolSpec w;
  w.role = p.role;
  w.replicas = p.replicas;
  w.parallelism.tp = p.tp;
  w.parallelism.pp = p.pp;
  w.parallelism.ep = p.ep;
  w.max_num_seqs = p.max_num_seqs;
  w.max_num_batched_tokens = p.max_num_batched_tokens;
  return w;
}

}  // namespace

std::string WorkerInfeasibility(const Plan& base, const PoolChoice& pool) {
  const WorkerPoolSpec w = PoolSpec(pool);
  if (Status s = base.model.CheckParallelism(w.parallelism); !s.ok()) {
    return "divisibility: " + s.message();
  }
  if (pool.tp > base.cluster.gpus_per_node) {
    return "node: tp " + std::to_string(pool.tp) + " exceeds the " +
           std::to_string(base.cluster.gpus_per_node) + " GPUs of a node";
  }
  auto plan = perf::PlanMemory(base.model, base.gpu, PoolMemoryConfig(base, w));
  if (!plan.ok()) return "memory: " + plan.status().message();
  return "";
}

namespace {

struct Enumerator {
  const Plan& base;
  const SweepInputs& in;
  EnumeratedSpace out;

  void Infeasible(SweepMode mode, const PoolChoice& p, std::string reason) {
    CandidateResult r;
    r.candidate.id = static_cast<int64_t>(out.rows.size());
    r.candidate.mode = mode;
    r.candidate.pools = {p};
    r.candidate.router = "";
    r.status = CandidateStatus::kInfeasible;
    r.reason = std::move(reason);
    out.rows.push_back(std::move(r));
  }
  void Feasible(SweepMode mode, std::vector<PoolChoice> pools) {
    for (const std::string& router : in.routers) {
      CandidateResult r;
      r.candidate.id = static_cast<int64_t>(out.rows.size());
      r.candidate.mode = mode;
      r.candidate.pools = pools;
      r.candidate.router = router;
      out.rows.push_back(std::move(r));
      ++out.feasible;
    }
  }
};

}  // namespace

EnumeratedSpace Enumerate(const Plan& base, const SearchSpace& space, const SweepInputs& in) {
  Enumerator e{base, in, {}};
  const int budget = in.gpus;
  const bool agg =
      std::find(in.modes.begin(), in.modes.end(), SweepMode::kAggregated) != in.modes.end();
  const bool disagg =
      std::find(in.modes.begin(), in.modes.end(), SweepMode::kDisaggregated) != in.modes.end();
  if (agg) {
    for (int tp : space.tp) {
      for (int pp : space.agg_pp) {
        if (tp * pp > budget) continue;
        for (int ep : EpChoices(base, tp)) {
          for (int seqs : space.agg_max_num_seqs) {
            for (int tokens : space.agg_max_num_batched_tokens) {
              PoolChoice p{WorkerRole::kAggregated, 1, tp, pp, ep, seqs, tokens};
              if (std::string why = WorkerInfeasibility(base, p); !why.empty()) {
                e.Infeasible(SweepMode::kAggregated, p, std::move(why));
                continue;
              }
              for (int n = 1; n * tp * pp <= budget; ++n) {
                p.replicas = n;
                e.Feasible(SweepMode::kAggregated, {p});
              }
            }
          }
        }
      }
    }
  }
  if (disagg && budget >= 2) {
    std::vector<PoolChoice> prefill, decode;
    for (int tp : space.tp) {
      if (tp >= budget) continue;  // leaves no GPU for the other pool
      for (int ep : EpChoices(base, tp)) {
        for (int tokens : space.prefill_max_num_batched_tokens) {
          PoolChoice p{WorkerRole::kPrefill, 1, tp, 1, ep, space.prefill_max_num_seqs, tokens};
          if (std::string why = WorkerInfeasibility(base, p); !why.empty()) {
            e.Infeasible(SweepMode::kDisaggregated, p, std::move(why));
          } else {
            prefill.push_back(p);
          }
        }
        for (int seqs : space.decode_max_num_seqs) {
          PoolChoice d{
              WorkerRole::kDecode, 1, tp, 1, ep, seqs, space.decode_max_num_batched_tokens};
          if (std::string why = WorkerInfeasibility(base, d); !why.empty()) {
            e.Infeasible(SweepMode::kDisaggregated, d, std::move(why));
          } else {
            decode.push_back(d);
          }
        }
      }
    }
    for (PoolChoice p : prefill) {
      for (PoolChoice d : decode) {
        for (int np = 1; np * p.tp + d.tp <= budget; ++np) {
          for (int nd = 1; np * p.tp + nd * d.tp <= budget; ++nd) {
            p.replicas = np;
            d.replicas = nd;
            e.Feasible(SweepMode::kDisaggregated, {p, d});
          }
        }
      }
    }
  }
  return std::move(e.out);
}

Plan BuildPlan(const Plan& base, const Candidate& c) {
  Plan plan = base;
  plan.workers.clear();
  for (const PoolChoice& p : c.pools) {
    WorkerPoolSpec w = PoolSpec(p);
    auto memory = perf::PlanMemory(plan.model, plan.gpu, PoolMemoryConfig(plan, w));
    DYNAMO_CHECK(memory.ok());
    w.memory = *memory;
    plan.workers.push_back(w);
  }
  plan.router.policy = c.router;
  plan.description = "dynamo-sim sweep: " + c.Label();
  return plan;
}

}  // namespace dynamo::configurator
