#include "core/perf/roofline.h"

#include <algorithm>

namespace dynamo::perf {
namespace {

// Query/key pairs a causal chunk of q tokens after a cached prefix attends: q x prefix + the
// triangle q(q+1)/2.
double CausalPairs(int64_t q_len, int64_t prefix) {
  const double q = static_cast<double>(q_len);
  return q * static_cast<double>(prefix) + q * (q + 1) / 2;
}

double OutBytes(DType in) { return in == DType::kFp32 ? 4 : 2; }

}  // namespace

DeviceRoofline DeviceRoofline::FromGpu(const GpuSpec& gpu) {
  DeviceRoofline r;
  r.flops_bf16 = gpu.bf16_tflops * 1e12;
  r.flops_fp8 = gpu.fp8_tflops * 1e12;
  r.flops_fp4 = gpu.fp4_tflops * 1e12;
  r.hbm_bytes_per_s = gpu.hbm_bandwidth_bytes_per_s;
  r.nvlink_bytes_per_s = gpu.nvlink_bandwidth_bytes_per_s;
  r.nvlink_domain = gpu.nvlink_domain_size;
  r.pcie_bytes_per_s = gpu.pcie_bandwidth_bytes_per_s;
  r.nic_bytes_per_s = gpu.nic_bandwidth_bytes_per_s;
  return r;
}

double DeviceRoofline::Flops(DType d) const {
  switch (d) {
    case DType::kFp4:
      if (flops_fp4 > 0) return flops_fp4;
      [[fallthrough]];
    case DType::kFp8:
      if (flops_fp8 > 0) return flops_fp8;
      [[fallthrough]];
    case DType::kBf16:
    case DType::kFp16:
      return flops_bf16 > 0 ? flops_bf16 : flops_fp32;
    case DType::kFp32:
      return flops_fp32 > 0 ? flops_fp32 : flops_bf16 / 2;
  }
  return flops_bf16;
}

double DeviceRoofline::GroupLinkBytesPerS(int64_t gpus) const {
  if (nvlink_bytes_per_s > 0 && gpus <= nvlink_domain) return nvlink_bytes_per_s;
  if (gpus <= 1 && pcie_bytes_per_s > 0) return pcie_bytes_per_s;
  const double nic = nic_bytes_per_s > 0 ? nic_bytes_per_s : pcie_bytes_per_s;
  return nic > 0 ? nic : hbm_bytes_per_s / 10;
}

OpWork WorkOf(const OpShape& shape) {
  struct Visitor {
    OpWork operator()(const GemmShape& g) const {
      const double m = g.m, n = g.n, k = g.k, in = DTypeBytes(g.dtype);
      return {2 * m * n * k, (m * k + k * n) * in + m * n * OutBytes(g.dtype), 0,
              OpWork::Link::kNone};
    }
    OpWork operator()(const AttnContextShape& a) const {
      const double pairs = CausalPairs(a.q_len, a.prefix_len()) * a.batch;
      const double act = DTypeBytes(a.dtype), kv = DTypeBytes(a.kv_dtype);
      const double qo = 2.0 * a.batch * a.q_len * a.heads * a.head_dim * act;
      const double kv_bytes = 2.0 * a.batch * a.kv_len * a.kv_heads * a.head_dim * kv;
      return {4.0 * a.heads * a.head_dim * pairs, qo + kv_bytes, 0, OpWork::Link::kNone};
    }
    OpWork operator()(const AttnDecodeShape& a) const {
      const double act = DTypeBytes(a.dtype), kv = DTypeBytes(a.kv_dtype);
      const double kv_bytes = 2.0 * a.batch * a.kv_len * a.kv_heads * a.head_dim * kv;
      const double qo = 2.0 * a.batch * a.heads * a.head_dim * act;
      return {4.0 * a.heads * a.head_dim * a.batch * a.kv_len, kv_bytes + qo, 0,
              OpWork::Link::kNone};
    }
    OpWork operator()(const MlaContextShape& a) const {
      // Decompressed form: K of (nope + rope) dims and V of v_head_dim per head.
      const double pairs = CausalPairs(a.q_len, a.prefix_len()) * a.batch;
      const double qk = a.qk_nope_dim + a.qk_rope_dim, act = DTypeBytes(a.dtype);
      const double bytes =
          a.batch * act *
          (a.q_len * a.heads * (qk + a.v_head_dim) + a.kv_len * a.heads * (qk + a.v_head_dim));
      return {2.0 * a.heads * (qk + a.v_head_dim) * pairs, bytes, 0, OpWork::Link::kNone};
    }
    OpWork operator()(const MlaDecodeShape& a) const {
      // Absorbed form: scores over rank + rope dims, values over the rank dims.
      const double width = a.kv_lora_rank + a.qk_rope_dim;
      const double flops = 2.0 * a.heads * (width + a.kv_lora_rank) * a.batch * a.kv_len;
      const double bytes = a.batch * (a.kv_len * width * DTypeBytes(a.kv_dtype) +
                                      2.0 * a.heads * width * DTypeBytes(a.dtype));
      return {flops, bytes, 0, OpWork::Link::kNone};
    }
    OpWork operator()(const CollectiveShape& c) const {
      const double n = static_cast<double>(c.gpus), b = static_cast<double>(c.bytes);
      const double factor = c.op == Collective::kAllReduce ? 2 * (n - 1) / n : (n - 1) / n;
      return {0, 0, factor * b, OpWork::Link::kGroup};
    }
    OpWork operator()(const TransferShape& t) const {
      const double b = static_cast<double>(t.bytes);
      switch (t.kind) {
        case TransferKind::kH2D:
        case TransferKind::kD2H:
          return {0, 0, b, OpWork::Link::kPcie};
        case TransferKind::kD2D:
          return {0, 2 * b, 0, OpWork::Link::kHbmCopy};
        case TransferKind::kPeer:
          return {0, 0, b, OpWork::Link::kNvlink};
        case TransferKind::kUcx:
          return {0, 0, b, t.transport == "cuda_ipc" ? OpWork::Link::kNvlink : OpWork::Link::kNic};
      }
      return {};
    }
  };
  return std::visit(Visitor{}, shape);
}

double RooflineUs(const OpShape& shape, const DeviceRoofline& d) {
  const OpWork w = WorkOf(shape);
  double seconds = 0;
  const double pcie = d.pcie_bytes_per_s > 0 ? d.pcie_bytes_per_s : d.hbm_bytes_per_s / 50;
  switch (w.link) {
    case OpWork::Link::kNone:
    case OpWork::Link::kHbmCopy: {
      seconds = std::max(w.flops / d.Flops(ComputeDType(shape)), w.hbm_bytes / d.hbm_bytes_per_s);
      break;
    }
    case OpWork::Link::kGroup:
      seconds = w.link_bytes / d.GroupLinkBytesPerS(std::get<CollectiveShape>(shape).gpus);
      break;
    case OpWork::Link::kPcie:
      seconds = w.link_bytes / pcie;
      break;
    case OpWork::Link::kNvlink:
      seconds = w.link_bytes / (d.nvlink_bytes_per_s > 0 ? d.nvlink_bytes_per_s : pcie);
      break;
    case OpWork::Link::kNic:
      seconds = w.link_bytes / (d.nic_bytes_per_s > 0 ? d.nic_bytes_per_s : pcie);
      break;
  }
  // Floor at one nanosecond so utilization stays finite for degenerate shapes.
  return std::max(seconds * 1e6, 1e-3);
}

}  // namespace dynamo::perf
