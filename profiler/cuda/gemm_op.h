#pragma once
// One cuBLASLt GEMM ready to enqueue: C[m, n] = A[m, k] x W[k, n] with A the activations
// ([m][k], row-major) and W stored as [n][k] (a Linear layer's weight), i.e. the "TN" form
// cuBLASLt requires for fp8. bf16/fp16 in and out, fp32 in and out on TF32 tensor cores, fp8
// e4m3 in with bf16 out; fp32 accumulation; the heuristic's first algorithm with a 32 MiB
// workspace. Inputs are pseudo-random. Owns its buffers and descriptors; one thread.

#include <cublasLt.h>

#include <memory>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/cuda/device_buffer.h"

namespace dynamo::profiler::gpu {

class GemmOp {
 public:
  // `handle` must outlive the op.
  static StatusOr<std::unique_ptr<GemmOp>> Create(const perf::GemmShape& shape,
                                                  cublasLtHandle_t handle, DeviceStream stream,
                                                  uint64_t seed);
  ~GemmOp();
  GemmOp(const GemmOp&) = delete;
  GemmOp& operator=(const GemmOp&) = delete;

  Status Enqueue();
  std::vector<DeviceStream> streams() const { return {stream_}; }

 private:
  GemmOp() = default;

  cublasLtHandle_t handle_ = nullptr;
  DeviceStream stream_;
  DeviceBuffer a_, w_, c_, workspace_;
  cublasLtMatmulDesc_t desc_ = nullptr;
  cublasLtMatrixLayout_t a_layout_ = nullptr;  // cuBLASLt's "A": the weight, k x n, op T
  cublasLtMatrixLayout_t b_layout_ = nullptr;  // cuBLASLt's "B": the activations, k x m
  cublasLtMatrixLayout_t c_layout_ = nullptr;  // n x m column-major = [m][n] row-major
  cublasLtMatmulAlgo_t algo_{};
  float alpha_ = 1.f;
  float beta_ = 0.f;
};

}  // namespace dynamo::profiler::gpu
