#include "cli/describe.h"

#include <cinttypes>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "core/hardware/gpu_spec.h"
#include "core/model/model_catalog.h"
#include "core/topology/cluster_topology.h"
#include "core/workload/workload_stats.h"

namespace dynamo::cli {
namespace {

using Json = nlohmann::ordered_json;

void PrintJson(const Json& j) { std::printf("%s\n", j.dump(2).c_str()); }

std::string Billions(int64_t n) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2fB", static_cast<double>(n) / 1e9);
  return buf;
}

std::string GiB(double bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.2f GiB", bytes / (1024.0 * 1024.0 * 1024.0));
  return buf;
}

std::string Rate(double bytes_per_s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.0f GB/s", bytes_per_s / 1e9);
  return buf;
}

void Row(const char* label, const std::string& value) {
  std::printf("  %-30s %s\n", label, value.c_str());
}

Json Optional(const std::optional<double>& v) { return v ? Json(*v) : Json(nullptr); }

}  // namespace

Status DescribeModel(const DescribeModelArgs& a) {
  ASSIGN_OR_RETURN(ModelSpec m, LoadModel(a.model));
  ASSIGN_OR_RETURN(DType wd, ParseDType(a.dtype));
  ASSIGN_OR_RETURN(DType kvd, ParseDType(a.kv_dtype));
  const Parallelism p{a.tp, a.pp, a.ep};
  RETURN_IF_ERROR(m.CheckParallelism(p).WithContext("--tp/--pp/--ep"));
  const ParamCounts c = m.Params();
  const int64_t weights = m.WeightBytesPerGpu(p, wd);
  const int64_t kv_bf16 = m.KvBytesPerToken(DType::kBf16);

  Json j;
  j["name"] = m.name();
  j["architecture"] = std::string(ArchitectureName(m.architecture()));
  j["total_params"] = c.total;
  j["active_params"] = c.active;
  j["active_params_excl_embedding"] = c.active_excl_embedding;
  j["layers"] = m.num_layers();
  j["hidden_size"] = m.hidden_size();
  j["num_heads"] = m.num_heads();
  j["num_kv_heads"] = m.num_kv_heads();
  j["head_dim"] = m.head_dim();
  j["intermediate_size"] = m.intermediate_size();
  j["vocab_size"] = m.vocab_size();
  j["max_position_embeddings"] = m.max_position_embeddings();
  j["native_dtype"] = std::string(DTypeName(m.native_dtype()));
  if (m.moe()) {
    const MoeSpec& e = *m.moe();
    j["moe"] = {{"experts", e.num_experts},
                {"experts_per_token", e.experts_per_token},
                {"expert_intermediate", e.expert_intermediate},
                {"shared_experts", e.num_shared_experts},
                {"moe_layers", m.num_moe_layers()}};
  } else {
    j["moe"] = nullptr;
  }
  if (m.mla()) {
    const MlaSpec& l = *m.mla();
    j["mla"] = {{"q_lora_rank", l.q_lora_rank},
                {"kv_lora_rank", l.kv_lora_rank},
                {"qk_nope_head_dim", l.qk_nope_head_dim},
                {"qk_rope_head_dim", l.qk_rope_head_dim},
                {"v_head_dim", l.v_head_dim}};
  } else {
    j["mla"] = nullptr;
  }
  j["sliding_window"] = m.sliding_window();
  j["kv_bytes_per_token"] = kv_bf16;
  j["params_breakdown"] = {{"embedding", c.embedding},
                           {"lm_head", c.lm_head},
                           {"attention", c.attention},
                           {"dense_mlp", c.dense_mlp},
                           {"routed_experts", c.routed_experts},
                           {"shared_experts", c.shared_experts},
                           {"routers", c.routers},
                           {"norms", c.norms}};
  j["matmul_flops_per_token"] = m.MatmulFlopsPerToken();
  j["worker"] = {{"tp", a.tp},
                 {"pp", a.pp},
                 {"ep", a.ep},
                 {"gpus", p.gpus()},
                 {"weight_dtype", std::string(DTypeName(wd))},
                 {"kv_dtype", std::string(DTypeName(kvd))},
                 {"weight_bytes_per_gpu", weights},
                 {"kv_bytes_per_token", m.KvBytesPerToken(kvd)},
                 {"kv_bytes_per_token_per_gpu", m.KvBytesPerTokenPerGpu(kvd, p)},
                 {"sliding_window_kv_bytes_per_sequence", m.SlidingWindowKvBytes(kvd)}};
  if (a.json) {
    PrintJson(j);
    return Status::Ok();
  }
  std::printf("model %s (%s)\n", m.name().c_str(),
              std::string(ArchitectureName(m.architecture())).c_str());
  Row("parameters (total / active)", Billions(c.total) + " / " + Billions(c.active) + " (" +
                                         Billions(c.active_excl_embedding) +
                                         " without the embedding)");
  Row("layers x hidden", std::to_string(m.num_layers()) + " x " + std::to_string(m.hidden_size()));
  Row("attention heads (q / kv x dim)",
      std::to_string(m.num_heads()) + " / " + std::to_string(m.num_kv_heads()) + " x " +
          std::to_string(m.head_dim()) + (m.mla() ? " (MLA)" : ""));
  if (m.moe()) {
    const MoeSpec& e = *m.moe();
    Row("experts (routed, top-k, shared)", std::to_string(e.num_experts) + ", " +
                                               std::to_string(e.experts_per_token) + ", " +
                                               std::to_string(e.num_shared_experts) + " in " +
                                               std::to_string(m.num_moe_layers()) + " layers");
  }
  if (m.sliding_window() > 0) Row("sliding window", std::to_string(m.sliding_window()) + " tokens");
  Row("KV cache per token (bf16)",
      std::to_string(kv_bf16) + " B" + (m.sliding_window() > 0 ? " (full-attention layers)" : ""));
  if (m.sliding_window() > 0) {
    Row("sliding-window KV (bf16)",
        std::to_string(m.SlidingWindowKvBytes(DType::kBf16)) + " B per sequence at most");
  }
  char flops[32];
  std::snprintf(flops, sizeof flops, "%.2f GFLOP", m.MatmulFlopsPerToken() / 1e9);
  Row("matmul FLOPs per token", flops);
  std::printf("worker tp=%d pp=%d ep=%d (%d GPU%s), weights %s, KV %s\n", a.tp, a.pp, a.ep,
              p.gpus(), p.gpus() == 1 ? "" : "s", std::string(DTypeName(wd)).c_str(),
              std::string(DTypeName(kvd)).c_str());
  Row("weights per GPU", GiB(static_cast<double>(weights)));
  Row("KV cache per token per GPU", std::to_string(m.KvBytesPerTokenPerGpu(kvd, p)) + " B");
  return Status::Ok();
}

Status DescribeGpu(const std::string& name, bool json) {
  ASSIGN_OR_RETURN(GpuSpec g, LoadGpu(name));
  Json j;
  j["name"] = g.name;
  j["display_name"] = g.display_name;
  j["architecture"] = g.architecture;
  j["compute_capability"] = g.compute_capability;
  j["memory_bytes"] = g.memory_bytes;
  j["hbm_bandwidth_bytes_per_s"] = g.hbm_bandwidth_bytes_per_s;
  j["sm_count"] = g.sm_count;
  j["dense_tflops"] = {{"bf16", g.bf16_tflops},
                       {"fp8", g.fp8_tflops > 0 ? Json(g.fp8_tflops) : Json(nullptr)},
                       {"fp4", g.fp4_tflops > 0 ? Json(g.fp4_tflops) : Json(nullptr)}};
  j["nvlink_bandwidth_bytes_per_s"] = g.nvlink_bandwidth_bytes_per_s;
  j["nvlink_domain_size"] = g.nvlink_domain_size;
  j["pcie_bandwidth_bytes_per_s"] = g.pcie_bandwidth_bytes_per_s;
  j["nic_bandwidth_bytes_per_s"] = g.nic_bandwidth_bytes_per_s;
  j["gpus_per_node"] = g.gpus_per_node;
  Json sources = Json::object();
  for (const auto& [k, v] : g.sources) sources[k] = v;
  j["sources"] = sources;
  if (json) {
    PrintJson(j);
    return Status::Ok();
  }
  std::printf("gpu %s (%s, %s, compute capability %s)\n", g.name.c_str(), g.display_name.c_str(),
              g.architecture.c_str(), g.compute_capability.c_str());
  Row("memory", GiB(static_cast<double>(g.memory_bytes)));
  Row("HBM bandwidth", Rate(g.hbm_bandwidth_bytes_per_s));
  Row("SMs", std::to_string(g.sm_count));
  char tf[96];
  int n = std::snprintf(tf, sizeof tf, "bf16 %.1f", g.bf16_tflops);
  if (g.fp8_tflops > 0) n += std::snprintf(tf + n, sizeof tf - n, ", fp8 %.1f", g.fp8_tflops);
  if (g.fp4_tflops > 0) std::snprintf(tf + n, sizeof tf - n, ", fp4 %.1f", g.fp4_tflops);
  Row("dense TFLOPS", tf);
  Row("NVLink (per direction, domain)", g.nvlink_bandwidth_bytes_per_s > 0
                                            ? Rate(g.nvlink_bandwidth_bytes_per_s) + ", " +
                                                  std::to_string(g.nvlink_domain_size) + " GPUs"
                                            : "none");
  Row("PCIe (per direction)",
      Rate(g.pcie_bandwidth_bytes_per_s) + " (Gen" + std::to_string(g.pcie_generation) + ")");
  Row("NIC per GPU (per direction)", Rate(g.nic_bandwidth_bytes_per_s));
  Row("GPUs per node", std::to_string(g.gpus_per_node));
  std::printf("  (%zu figures with public sources: --json lists them)\n", g.sources.size());
  return Status::Ok();
}

Status DescribeWorkload(const DescribeWorkloadArgs& a) {
  ASSIGN_OR_RETURN(Workload w, LoadWorkload(a.workload, a.overrides));
  const WorkloadStats s = ComputeWorkloadStats(w);
  auto lengths = [](const LengthStats& l) {
    return Json{{"mean", l.mean}, {"p50", l.p50}, {"p90", l.p90},    {"p99", l.p99},
                {"min", l.min},   {"max", l.max}, {"total", l.total}};
  };
  Json j;
  j["source"] = w.source;
  j["seed"] = w.seed;
  j["requests"] = s.requests;
  j["sessions"] = s.sessions;
  j["duration_s"] = Optional(s.duration_s);
  j["mean_rate_rps"] = Optional(s.mean_rate_rps);
  j["closed_loop_concurrency"] =
      s.closed_loop_concurrency > 0 ? Json(s.closed_loop_concurrency) : Json(nullptr);
  j["mean_isl"] = s.isl.mean;
  j["p50_isl"] = s.isl.p50;
  j["p99_isl"] = s.isl.p99;
  j["mean_osl"] = s.osl.mean;
  j["p50_osl"] = s.osl.p50;
  j["p99_osl"] = s.osl.p99;
  j["prefix_reuse_ratio"] = Optional(s.prefix_reuse_ratio);
  j["block_tokens"] = s.block_tokens;
  j["isl"] = lengths(s.isl);
  j["osl"] = lengths(s.osl);
  if (a.json) {
    PrintJson(j);
    return Status::Ok();
  }
  std::printf("workload %s (seed %" PRIu64 ")\n", w.source.c_str(), w.seed);
  Row("requests (sessions)", std::to_string(s.requests) + " (" + std::to_string(s.sessions) + ")");
  char buf[128];
  if (s.closed_loop_concurrency > 0) {
    Row("arrivals", "closed loop, concurrency " + std::to_string(s.closed_loop_concurrency));
  } else {
    std::snprintf(buf, sizeof buf, "%.1f s at %.3f req/s", s.duration_s.value_or(0),
                  s.mean_rate_rps.value_or(0));
    Row("duration, mean rate", buf);
  }
  auto len_row = [&](const char* label, const LengthStats& l) {
    std::snprintf(buf, sizeof buf,
                  "mean %.1f  p50 %" PRId64 "  p90 %" PRId64 "  p99 %" PRId64 "  max %" PRId64,
                  l.mean, l.p50, l.p90, l.p99, l.max);
    Row(label, buf);
  };
  len_row("input tokens (ISL)", s.isl);
  len_row("output tokens (OSL)", s.osl);
  if (s.prefix_reuse_ratio) {
    std::snprintf(buf, sizeof buf, "%.3f (blocks of %d tokens)", *s.prefix_reuse_ratio,
                  s.block_tokens);
    Row("prefix reuse ratio", buf);
  } else {
    Row("prefix reuse ratio", "n/a (no prefix information)");
  }
  return Status::Ok();
}

Status DescribeCluster(const DescribeClusterArgs& a) {
  ASSIGN_OR_RETURN(GpuSpec g, LoadGpu(a.gpu));
  ASSIGN_OR_RETURN(ClusterSpec spec, ClusterSpec::ForGpu(g, a.nodes, a.gpus_per_node));
  ASSIGN_OR_RETURN(ClusterTopology t, ClusterTopology::Build(spec));
  // Representative pairs: the next GPU, the first GPU of the next node and of the next NVLink
  // domain (when those differ).
  struct Pair {
    std::string label;
    int a, b;
  };
  std::vector<Pair> pairs;
  auto label = [&](int b) {
    const bool same_node = t.NodeOf(GpuId(0)) == t.NodeOf(GpuId(b));
    const bool same_domain = t.DomainOf(GpuId(0)) == t.DomainOf(GpuId(b));
    return std::string(same_node ? "same node" : "other node") +
           (same_domain ? ", same NVLink domain"
                        : (spec.nvlink_domain_size > 1 ? ", other NVLink domain" : ", no NVLink"));
  };
  for (int b : {1, spec.gpus_per_node, spec.nvlink_domain_size}) {
    if (b >= t.num_gpus() || b == 0) continue;
    bool seen = false;
    for (const Pair& p : pairs) seen = seen || p.b == b;
    if (!seen) pairs.push_back({label(b), 0, b});
  }
  Json paths = Json::array();
  for (const Pair& p : pairs) {
    GpuPath path = t.Path(GpuId(p.a), GpuId(p.b));
    Json hops = Json::array();
    for (LinkId id : path.links) {
      const Link& l = t.link(id);
      hops.push_back(t.VertexName(l.from_vertex) + "->" + t.VertexName(l.to_vertex) + " (" +
                     std::string(LinkKindName(l.kind)) + ")");
    }
    paths.push_back({{"pair", p.label},
                     {"from_gpu", p.a},
                     {"to_gpu", p.b},
                     {"bottleneck_bandwidth_bytes_per_s", path.bottleneck_bandwidth},
                     {"latency_us", path.latency.nanos() / 1000.0},
                     {"hops", hops}});
  }
  Json j{{"gpu", g.name},
         {"nodes", spec.nodes},
         {"gpus_per_node", spec.gpus_per_node},
         {"gpus", t.num_gpus()},
         {"nvlink_domain_size", spec.nvlink_domain_size},
         {"links", t.num_links()},
         {"paths", paths}};
  if (a.json) {
    PrintJson(j);
    return Status::Ok();
  }
  std::printf("cluster %d x %d %s (%d GPUs, NVLink domains of %d, %d directed links)\n", spec.nodes,
              spec.gpus_per_node, g.name.c_str(), t.num_gpus(), spec.nvlink_domain_size,
              t.num_links());
  for (const auto& p : paths) {
    std::printf("  gpu%d -> gpu%-4d %-38s %s, %.1f us, %zu hops\n", p["from_gpu"].get<int>(),
                p["to_gpu"].get<int>(), p["pair"].get<std::string>().c_str(),
                Rate(p["bottleneck_bandwidth_bytes_per_s"].get<double>()).c_str(),
                p["latency_us"].get<double>(), p["hops"].size());
  }
  return Status::Ok();
}

}  // namespace dynamo::cli
