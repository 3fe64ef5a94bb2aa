#pragma once
// GpuSpec: one GPU type of the hardware catalog (data/hardware/<name>.json). Bandwidths are
// bytes per second per direction; TFLOPS are dense (no 2:4 sparsity). Every figure in the file
// carries its public source, kept here for reports.

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dtype.h"
#include "core/status.h"

namespace dynamo {

class JsonNode;

struct GpuSpec {
  std::string name;          // "h200_sxm"
  std::string display_name;  // "NVIDIA H200 SXM 141GB"
  std::string architecture;  // ampere | ada | hopper | blackwell
  std::string compute_capability;
  int64_t memory_bytes = 0;
  double hbm_bandwidth_bytes_per_s = 0;
  int sm_count = 0;
  double bf16_tflops = 0;
  double fp8_tflops = 0;                    // 0: no FP8 tensor cores
  double fp4_tflops = 0;                    // 0: no FP4 tensor cores
  double nvlink_bandwidth_bytes_per_s = 0;  // 0: no NVLink
  int nvlink_domain_size = 1;               // GPUs in one NVLink/NVSwitch domain
  double pcie_bandwidth_bytes_per_s = 0;
  int pcie_generation = 0;
  double nic_bandwidth_bytes_per_s = 0;
  int gpus_per_node = 8;
  // (figure path, source) for every figure, e.g. ("dense_tflops.bf16", "NVIDIA H200 datasheet").
  std::vector<std::pair<std::string, std::string>> sources;

  static StatusOr<GpuSpec> FromJson(const JsonNode& root);

  // Dense tensor-core FLOP/s for a dtype; an error naming the supported dtypes if the GPU has
  // no tensor cores for it (fp32 answers with the bf16 figure / 2, the TF32 rate's order).
  StatusOr<double> DenseFlops(DType d) const;
};

// By short name ("h200_sxm", bundled) or path to a JSON file in the catalog format.
StatusOr<GpuSpec> LoadGpu(std::string_view name_or_path);
std::vector<std::string> BundledGpuNames();

}  // namespace dynamo
