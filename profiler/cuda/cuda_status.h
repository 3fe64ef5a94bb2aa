#pragma once
// Converts CUDA runtime, cuBLASLt, NCCL and CUPTI result codes into Status values that name the
// API call and the library's error string. Use as
//   RETURN_IF_ERROR(CudaCall(cudaMalloc(&p, n), "cudaMalloc"));

#include <cuda_runtime_api.h>

#include <cublasLt.h>
#include <cupti.h>

#include <string_view>

#include "core/status.h"

namespace dynamo::profiler::gpu {

Status CudaCall(cudaError_t err, std::string_view api);
Status CublasCall(cublasStatus_t status, std::string_view api);
Status CuptiCall(CUptiResult result, std::string_view api);

}  // namespace dynamo::profiler::gpu
