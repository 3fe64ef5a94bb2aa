#pragma once
// Wall-clock time for the records the profiler writes (the core never reads a clock).

#include <string>

namespace dynamo::profiler {

// "2026-11-21T02:03:03Z"
std::string NowUtcIso8601();

}  // namespace dynamo::profiler
