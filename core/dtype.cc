#include "core/dtype.h"

namespace dynamo {

double DTypeBytes(DType d) {
  switch (d) {
    case DType::kFp32:
      return 4.0;
    case DType::kBf16:
    case DType::kFp16:
      return 2.0;
    case DType::kFp8:
      return 1.0;
    case DType::kFp4:
      return 0.5 + 1.0 / 32.0;
  }
  return 2.0;
}

std::string_view DTypeName(DType d) {
  switch (d) {
    case DType::kFp32:
      return "fp32";
    case DType::kBf16:
      return "bf16";
    case DType::kFp16:
      return "fp16";
    case DType::kFp8:
      return "fp8";
    case DType::kFp4:
      return "fp4";
  }
  return "?";
}

StatusOr<DType> ParseDType(std::string_view s) {
  if (s == "fp32" || s == "float32") return DType::kFp32;
  if (s == "bf16" || s == "bfloat16") return DType::kBf16;
  if (s == "fp16" || s == "float16") return DType::kFp16;
  if (s == "fp8" || s == "fp8_e4m3" || s == "float8_e4m3fn") return DType::kFp8;
  if (s == "fp4" || s == "mxfp4" || s == "nvfp4") return DType::kFp4;
  return InvalidArgument("unknown dtype '" + std::string(s) + "'; use one of " +
                         std::string(DTypeChoices()));
}

std::string_view DTypeChoices() { return "fp32, bf16, fp16, fp8, fp4"; }

}  // namespace dynamo
