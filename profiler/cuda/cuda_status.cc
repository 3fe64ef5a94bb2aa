#include "profiler/cuda/cuda_status.h"

#include <string>

namespace dynamo::profiler::gpu {

Status CudaCall(cudaError_t err, std::string_view api) {
  if (err == cudaSuccess) return Status::Ok();
  // Clear the sticky last-error slot so that later calls report their own failures.
  (void)cudaGetLastError();
  return Internal(std::string(api) + ": " + cudaGetErrorString(err) + " (" + cudaGetErrorName(err) +
                  ")");
}

Status CublasCall(cublasStatus_t status, std::string_view api) {
  if (status == CUBLAS_STATUS_SUCCESS) return Status::Ok();
  const char* name = nullptr;
  switch (status) {
    case CUBLAS_STATUS_NOT_INITIALIZED:
      name = "CUBLAS_STATUS_NOT_INITIALIZED";
      break;
    case CUBLAS_STATUS_ALLOC_FAILED:
      name = "CUBLAS_STATUS_ALLOC_FAILED";
      break;
    case CUBLAS_STATUS_INVALID_VALUE:
      name = "CUBLAS_STATUS_INVALID_VALUE";
      break;
    case CUBLAS_STATUS_ARCH_MISMATCH:
      name = "CUBLAS_STATUS_ARCH_MISMATCH";
      break;
    case CUBLAS_STATUS_MAPPING_ERROR:
      name = "CUBLAS_STATUS_MAPPING_ERROR";
      break;
    case CUBLAS_STATUS_EXECUTION_FAILED:
      name = "CUBLAS_STATUS_EXECUTION_FAILED";
      break;
    case CUBLAS_STATUS_INTERNAL_ERROR:
      name = "CUBLAS_STATUS_INTERNAL_ERROR";
      break;
    case CUBLAS_STATUS_NOT_SUPPORTED:
      name = "CUBLAS_STATUS_NOT_SUPPORTED";
      break;
    case CUBLAS_STATUS_LICENSE_ERROR:
      name = "CUBLAS_STATUS_LICENSE_ERROR";
      break;
    default:
      break;
  }
  return Internal(std::string(api) + ": " +
                  (name != nullptr ? std::string(name)
                                   : "cuBLAS status " + std::to_string(static_cast<int>(status))));
}

Status CuptiCall(CUptiResult result, std::string_view api) {
  if (result == CUPTI_SUCCESS) return Status::Ok();
  const char* text = nullptr;
  if (cuptiGetResultString(result, &text) != CUPTI_SUCCESS || text == nullptr) {
    text = "unknown CUPTI error";
  }
  return Internal(std::string(api) + ": " + text + " (CUPTI result " +
                  std::to_string(static_cast<int>(result)) + ")");
}

}  // namespace dynamo::profiler::gpu
