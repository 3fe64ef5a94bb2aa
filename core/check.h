#pragma once
// CHECK: programmer errors only. Aborts in every build with the failed condition and location;
// never reachable from user input (user input gets a Status).

#include <cstdio>
#include <cstdlib>

namespace dynamo::internal {
[[noreturn]] inline void CheckFailed(const char* cond, const char* file, int line) {
  std::fprintf(stderr, "CHECK failed: %s at %s:%d\n", cond, file, line);
  std::abort();
}
}  // namespace dynamo::internal

#define DYNAMO_CHECK(cond)                                                   \
  do {                                                                       \
    if (!(cond)) ::dynamo::internal::CheckFailed(#cond, __FILE__, __LINE__); \
  } while (0)
