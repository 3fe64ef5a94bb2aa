#pragma once
// The toolkit's version, recorded in every database and output it writes. Kept equal to
// project(VERSION) in CMakeLists.txt (checked by tests/core/version_test.cc).

#include <string_view>

namespace dynamo {
inline constexpr std::string_view kDynamoVersion = "0.1.0";
}  // namespace dynamo
