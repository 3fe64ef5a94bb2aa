#pragma once
// Numeric formats of weights, activations and the KV cache.

#include <string>
#include <string_view>

#include "core/status.h"

namespace dynamo {

enum class DType { kFp32, kBf16, kFp16, kFp8, kFp4 };

// Bytes per element including block-scale overhead: fp8 is e4m3 with per-tensor/channel scales
// (negligible, counted as 1 byte); fp4 is MXFP4/NVFP4-style 4-bit values with one 8-bit scale per
// 32 values (0.5 + 1/32 bytes).
double DTypeBytes(DType d);
std::string_view DTypeName(DType d);
// Accepts "fp32", "bf16", "fp16", "fp8", "fp4" (also "float32", "bfloat16", "float16",
// "fp8_e4m3", "mxfp4", "nvfp4").
StatusOr<DType> ParseDType(std::string_view s);
// The list of accepted names for error messages.
std::string_view DTypeChoices();

}  // namespace dynamo
