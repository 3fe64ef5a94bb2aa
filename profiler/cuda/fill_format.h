#pragma once
// Host-side mapping from our dtypes to the fill kernels' element formats (kept out of
// fill_kernels.h, which nvcc compiles as C++17 without the core headers).

#include "core/dtype.h"
#include "profiler/cuda/fill_kernels.h"

namespace dynamo::profiler::gpu {

// The element format that holds a dtype's values (fp4 has no fill: bf16).
inline FillElem FillElemFor(DType d) {
  switch (d) {
    case DType::kFp16:
      return FillElem::kFp16;
    case DType::kFp32:
      return FillElem::kFp32;
    case DType::kFp8:
      return FillElem::kFp8E4m3;
    default:
      return FillElem::kBf16;
  }
}

}  // namespace dynamo::profiler::gpu
