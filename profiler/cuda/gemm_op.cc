#include "profiler/cuda/gemm_op.h"

#include <cuda_runtime_api.h>
#include <library_types.h>

#include "profiler/cuda/cuda_plan.h"
#include "profiler/cuda/cuda_status.h"
#include "profiler/cuda/fill_format.h"

namespace dynamo::profiler::gpu {
namespace {

cudaDataType_t CudaType(DType d) {
  switch (d) {
    case DType::kBf16:
      return CUDA_R_16BF;
    case DType::kFp16:
      return CUDA_R_16F;
    case DType::kFp32:
      return CUDA_R_32F;
    case DType::kFp8:
      return CUDA_R_8F_E4M3;
    case DType::kFp4:
      break;
  }
  return CUDA_R_16BF;  // unreachable: CheckGemmSupported rejects fp4
}

int64_t Elems(int64_t rows, int64_t cols) { return rows * cols; }

}  // namespace

StatusOr<std::unique_ptr<GemmOp>> GemmOp::Create(const perf::GemmShape& shape,
                                                 cublasLtHandle_t handle, DeviceStream stream,
                                                 uint64_t seed) {
  std::unique_ptr<GemmOp> op(new GemmOp());
  op->handle_ = handle;
  op->stream_ = stream;
  const int device = stream.device;
  const DType out = GemmOutputDType(shape.dtype);
  const auto in_bytes = static_cast<int64_t>(DTypeBytes(shape.dtype));
  const auto out_bytes = static_cast<int64_t>(DTypeBytes(out));
  ASSIGN_OR_RETURN(op->a_, DeviceBuffer::Allocate(device, Elems(shape.m, shape.k) * in_bytes));
  ASSIGN_OR_RETURN(op->w_, DeviceBuffer::Allocate(device, Elems(shape.n, shape.k) * in_bytes));
  ASSIGN_OR_RETURN(op->c_, DeviceBuffer::Allocate(device, Elems(shape.m, shape.n) * out_bytes));
  ASSIGN_OR_RETURN(op->workspace_, DeviceBuffer::Allocate(device, kGemmWorkspaceBytes));

  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  RETURN_IF_ERROR(CudaCall(LaunchFillRandom(op->a_.data(), Elems(shape.m, shape.k),
                                            FillElemFor(shape.dtype), seed, 1.f, stream.stream),
                           "fill gemm A"));
  RETURN_IF_ERROR(CudaCall(LaunchFillRandom(op->w_.data(), Elems(shape.n, shape.k),
                                            FillElemFor(shape.dtype), seed + 1, 1.f, stream.stream),
                           "fill gemm W"));

  const cublasComputeType_t compute =
      shape.dtype == DType::kFp32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  RETURN_IF_ERROR(CublasCall(cublasLtMatmulDescCreate(&op->desc_, compute, CUDA_R_32F),
                             "cublasLtMatmulDescCreate"));
  const cublasOperation_t trans_a = CUBLAS_OP_T;
  const cublasOperation_t trans_b = CUBLAS_OP_N;
  RETURN_IF_ERROR(CublasCall(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_TRANSA,
                                                            &trans_a, sizeof(trans_a)),
                             "cublasLtMatmulDescSetAttribute(TRANSA)"));
  RETURN_IF_ERROR(CublasCall(cublasLtMatmulDescSetAttribute(op->desc_, CUBLASLT_MATMUL_DESC_TRANSB,
                                                            &trans_b, sizeof(trans_b)),
                             "cublasLtMatmulDescSetAttribute(TRANSB)"));
  const cudaDataType_t in_type = CudaType(shape.dtype);
  const cudaDataType_t out_type = CudaType(out);
  const auto m = static_cast<uint64_t>(shape.m);
  const auto n = static_cast<uint64_t>(shape.n);
  const auto k = static_cast<uint64_t>(shape.k);
  RETURN_IF_ERROR(
      CublasCall(cublasLtMatrixLayoutCreate(&op->a_layout_, in_type, k, n, static_cast<int64_t>(k)),
                 "cublasLtMatrixLayoutCreate(A)"));
  RETURN_IF_ERROR(
      CublasCall(cublasLtMatrixLayoutCreate(&op->b_layout_, in_type, k, m, static_cast<int64_t>(k)),
                 "cublasLtMatrixLayoutCreate(B)"));
  RETURN_IF_ERROR(CublasCall(
      cublasLtMatrixLayoutCreate(&op->c_layout_, out_type, n, m, static_cast<int64_t>(n)),
      "cublasLtMatrixLayoutCreate(C)"));

  cublasLtMatmulPreference_t pref = nullptr;
  RETURN_IF_ERROR(
      CublasCall(cublasLtMatmulPreferenceCreate(&pref), "cublasLtMatmulPreferenceCreate"));
  const uint64_t workspace_bytes = kGemmWorkspaceBytes;
  cublasLtMatmulHeuristicResult_t result{};
  int found = 0;
  Status s = CublasCall(
      cublasLtMatmulPreferenceSetAttribute(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES,
                                           &workspace_bytes, sizeof(workspace_bytes)),
      "cublasLtMatmulPreferenceSetAttribute");
  if (s.ok()) {
    s = CublasCall(
        cublasLtMatmulAlgoGetHeuristic(handle, op->desc_, op->a_layout_, op->b_layout_,
                                       op->c_layout_, op->c_layout_, pref, 1, &result, &found),
        "cublasLtMatmulAlgoGetHeuristic");
  }
  (void)cublasLtMatmulPreferenceDestroy(pref);
  RETURN_IF_ERROR(s);
  if (found == 0) {
    return FailedPrecondition("cublasLtMatmulAlgoGetHeuristic found no algorithm for " +
                              perf::Describe(perf::OpShape(shape)));
  }
  op->algo_ = result.algo;
  RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(stream.stream), "cudaStreamSynchronize"));
  return op;
}

GemmOp::~GemmOp() {
  if (c_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(c_layout_);
  if (b_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(b_layout_);
  if (a_layout_ != nullptr) (void)cublasLtMatrixLayoutDestroy(a_layout_);
  if (desc_ != nullptr) (void)cublasLtMatmulDescDestroy(desc_);
}

Status GemmOp::Enqueue() {
  return CublasCall(cublasLtMatmul(handle_, desc_, &alpha_, w_.data(), a_layout_, a_.data(),
                                   b_layout_, &beta_, c_.data(), c_layout_, c_.data(), c_layout_,
                                   &algo_, workspace_.data(), workspace_.bytes(), stream_.stream),
                    "cublasLtMatmul");
}

}  // namespace dynamo::profiler::gpu
