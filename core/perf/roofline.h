#pragma once
// Roofline figures of one device and the work (FLOPs, memory bytes, link bytes) of each
// operator shape. The performance model interpolates measured latencies as utilization
// (roofline time / measured time), and prices unmeasured shapes from it.

#include "core/dtype.h"
#include "core/hardware/gpu_spec.h"
#include "core/perf/op_shape.h"

namespace dynamo::perf {

struct DeviceRoofline {
  double flops_bf16 = 0;  // dense FLOP/s per dtype; 0 = no tensor cores for it
  double flops_fp8 = 0;
  double flops_fp4 = 0;
  double flops_fp32 = 0;
  double hbm_bytes_per_s = 0;
  double nvlink_bytes_per_s = 0;  // per direction; 0 = none (PCIe between GPUs)
  int64_t nvlink_domain = 1;
  double pcie_bytes_per_s = 0;
  double nic_bytes_per_s = 0;

  static DeviceRoofline FromGpu(const GpuSpec& gpu);
  // FLOP/s for a dtype, falling back to the next wider format the device has (fp4 -> fp8 ->
  // bf16; fp16 = bf16; fp32 -> its own figure or bf16 / 2). Always > 0 for a valid roofline.
  double Flops(DType d) const;
  // Per-GPU bandwidth of the links a group of `gpus` communicates over: NVLink inside a
  // domain, else the NIC (PCIe without NVLink).
  double GroupLinkBytesPerS(int64_t gpus) const;
  bool valid() const { return flops_bf16 > 0 && hbm_bytes_per_s > 0; }
};

struct OpWork {
  double flops = 0;       // arithmetic
  double hbm_bytes = 0;   // device-memory traffic
  double link_bytes = 0;  // bytes each GPU sends over its link (collectives, transfers)
  enum class Link { kNone, kGroup, kPcie, kNvlink, kNic, kHbmCopy } link = Link::kNone;
};

// Work of a shape. Collectives count the bus bytes of a ring (all-reduce 2(n-1)/n x bytes,
// all-gather / reduce-scatter / all-to-all (n-1)/n x bytes).
OpWork WorkOf(const OpShape& shape);
// The ideal time in microseconds: max(flops / peak, hbm bytes / bandwidth) for kernels, link
// bytes / link bandwidth for communication. Always > 0.
double RooflineUs(const OpShape& shape, const DeviceRoofline& device);

}  // namespace dynamo::perf
