#pragma once
// Process exit codes shared by every dynamo-* command.

#include <cstdio>

#include "core/status.h"

namespace dynamo::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitBadInput = 1;       // a file or value the user gave is wrong
inline constexpr int kExitUsage = 2;          // bad flags or arguments
inline constexpr int kExitInternal = 3;       // a bug: please report
inline constexpr int kExitInterrupted = 130;  // Ctrl-C (128 + SIGINT), nothing partial written

// Prints "error: <message>" to stderr and returns the exit code for the status.
inline int ReportStatus(const Status& s) {
  if (s.ok()) return kExitOk;
  std::fprintf(stderr, "error: %s\n", s.message().c_str());
  if (s.code() == StatusCode::kCancelled) return kExitInterrupted;
  return s.code() == StatusCode::kInternal ? kExitInternal : kExitBadInput;
}

}  // namespace dynamo::cli
