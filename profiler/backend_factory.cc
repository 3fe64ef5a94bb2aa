// MakeCudaBackend for builds without CUDA; the CUDA build defines it in profiler/cuda/.
#include "profiler/kernel_backend.h"

namespace dynamo::profiler {

#ifndef DYNAMO_CUDA_ENABLED
StatusOr<std::unique_ptr<KernelBackend>> MakeCudaBackend(const BackendOptions&) {
  return FailedPrecondition(
      "this build has no CUDA backend: the CUDA toolkit was not found at configure time; "
      "install it (or set CUDAToolkit_ROOT) and configure with -DDYNAMO_WITH_CUDA=ON, or use "
      "--backend cpu");
}
#endif

}  // namespace dynamo::profiler
