#include "core/hardware/gpu_spec.h"

#include <cmath>

#include "core/catalog.h"
#include "core/json.h"

namespace dynamo {
namespace {

// Reads {"value": x, "source": "..."}; records the source under `label`.
StatusOr<double> Figure(const JsonNode& parent, std::string_view key, Bounds b, std::string label,
                        GpuSpec& spec) {
  ASSIGN_OR_RETURN(JsonNode fig, parent.Get(key));
  RETURN_IF_ERROR(fig.CheckKnownKeys({"value", "source", "note"}));
  ASSIGN_OR_RETURN(double v, fig.GetDouble("value", b));
  ASSIGN_OR_RETURN(std::string source, fig.GetString("source"));
  if (source.empty()) return fig.Error("empty 'source': every figure needs its public source");
  spec.sources.emplace_back(std::move(label), std::move(source));
  return v;
}

StatusOr<std::optional<double>> OptionalFigure(const JsonNode& parent, std::string_view key,
                                               Bounds b, std::string label, GpuSpec& spec) {
  if (!parent.Find(key)) return std::optional<double>();
  ASSIGN_OR_RETURN(double v, Figure(parent, key, b, std::move(label), spec));
  return std::optional<double>(v);
}

}  // namespace

StatusOr<GpuSpec> GpuSpec::FromJson(const JsonNode& root) {
  GpuSpec g;
  RETURN_IF_ERROR(
      root.CheckKnownKeys({"name", "display_name", "architecture", "compute_capability",
                           "memory_bytes", "hbm_bandwidth_bytes_per_s", "sm_count", "dense_tflops",
                           "nvlink", "pcie", "nic", "gpus_per_node", "notes"}));
  ASSIGN_OR_RETURN(g.name, root.GetString("name"));
  ASSIGN_OR_RETURN(g.display_name, root.GetStringOr("display_name", g.name));
  ASSIGN_OR_RETURN(g.architecture,
                   root.GetEnum("architecture", {"ampere", "ada", "hopper", "blackwell"}));
  ASSIGN_OR_RETURN(g.compute_capability, root.GetStringOr("compute_capability", ""));
  ASSIGN_OR_RETURN(double mem,
                   Figure(root, "memory_bytes", Bounds::Between(1e9, 1e13), "memory_bytes", g));
  g.memory_bytes = std::llround(mem);
  ASSIGN_OR_RETURN(g.hbm_bandwidth_bytes_per_s,
                   Figure(root, "hbm_bandwidth_bytes_per_s", Bounds::Between(1e10, 1e14),
                          "hbm_bandwidth_bytes_per_s", g));
  ASSIGN_OR_RETURN(double sms, Figure(root, "sm_count", Bounds::Between(1, 10000), "sm_count", g));
  g.sm_count = static_cast<int>(sms);

  ASSIGN_OR_RETURN(JsonNode tflops, root.Get("dense_tflops"));
  RETURN_IF_ERROR(tflops.CheckKnownKeys({"bf16", "fp16", "fp8", "fp4", "tf32", "fp32"}));
  const Bounds tf = Bounds::Between(1, 1e6);
  ASSIGN_OR_RETURN(g.bf16_tflops, Figure(tflops, "bf16", tf, "dense_tflops.bf16", g));
  ASSIGN_OR_RETURN(auto fp8, OptionalFigure(tflops, "fp8", tf, "dense_tflops.fp8", g));
  ASSIGN_OR_RETURN(auto fp4, OptionalFigure(tflops, "fp4", tf, "dense_tflops.fp4", g));
  g.fp8_tflops = fp8.value_or(0.0);
  g.fp4_tflops = fp4.value_or(0.0);
  for (const char* extra : {"fp16", "tf32", "fp32"}) {
    ASSIGN_OR_RETURN(auto ignored,
                     OptionalFigure(tflops, extra, tf, std::string("dense_tflops.") + extra, g));
    (void)ignored;
  }

  if (auto nvlink = root.Find("nvlink")) {
    RETURN_IF_ERROR(
        nvlink->CheckKnownKeys({"bandwidth_bytes_per_s", "domain_size", "generation", "note"}));
    ASSIGN_OR_RETURN(g.nvlink_bandwidth_bytes_per_s,
                     Figure(*nvlink, "bandwidth_bytes_per_s", Bounds::Between(1e9, 1e14),
                            "nvlink.bandwidth_bytes_per_s", g));
    ASSIGN_OR_RETURN(double dom, Figure(*nvlink, "domain_size", Bounds::Between(1, 100000),
                                        "nvlink.domain_size", g));
    g.nvlink_domain_size = static_cast<int>(dom);
  }
  ASSIGN_OR_RETURN(JsonNode pcie, root.Get("pcie"));
  RETURN_IF_ERROR(pcie.CheckKnownKeys({"bandwidth_bytes_per_s", "generation", "note"}));
  ASSIGN_OR_RETURN(g.pcie_bandwidth_bytes_per_s,
                   Figure(pcie, "bandwidth_bytes_per_s", Bounds::Between(1e9, 1e13),
                          "pcie.bandwidth_bytes_per_s", g));
  ASSIGN_OR_RETURN(
      auto gen, OptionalFigure(pcie, "generation", Bounds::Between(1, 10), "pcie.generation", g));
  g.pcie_generation = static_cast<int>(gen.value_or(0));
  ASSIGN_OR_RETURN(JsonNode nic, root.Get("nic"));
  RETURN_IF_ERROR(nic.CheckKnownKeys({"bandwidth_bytes_per_s", "note"}));
  ASSIGN_OR_RETURN(g.nic_bandwidth_bytes_per_s,
                   Figure(nic, "bandwidth_bytes_per_s", Bounds::Between(0, 1e13),
                          "nic.bandwidth_bytes_per_s", g));
  ASSIGN_OR_RETURN(double gpn,
                   Figure(root, "gpus_per_node", Bounds::Between(1, 1024), "gpus_per_node", g));
  g.gpus_per_node = static_cast<int>(gpn);
  return g;
}

StatusOr<double> GpuSpec::DenseFlops(DType d) const {
  switch (d) {
    case DType::kBf16:
    case DType::kFp16:
      return bf16_tflops * 1e12;
    case DType::kFp32:
      return bf16_tflops * 0.5e12;
    case DType::kFp8:
      if (fp8_tflops > 0) return fp8_tflops * 1e12;
      break;
    case DType::kFp4:
      if (fp4_tflops > 0) return fp4_tflops * 1e12;
      break;
  }
  std::string supported = "bf16";
  if (fp8_tflops > 0) supported += ", fp8";
  if (fp4_tflops > 0) supported += ", fp4";
  return FailedPrecondition(name + " has no " + std::string(DTypeName(d)) +
                            " tensor cores; use one of " + supported);
}

StatusOr<GpuSpec> LoadGpu(std::string_view name_or_path) {
  ASSIGN_OR_RETURN(JsonNode root, LoadCatalogJson(name_or_path, "hardware", ".json", "GPU"));
  return GpuSpec::FromJson(root);
}

std::vector<std::string> BundledGpuNames() { return CatalogNames("hardware", ".json"); }

}  // namespace dynamo
