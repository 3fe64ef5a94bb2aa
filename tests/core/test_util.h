#pragma once
// Helpers shared by the tests: paths to the source tree and to ../shared/data (tests that read
// shared data skip when it is absent).

#include <gtest/gtest.h>

#include <sys/stat.h>
#include <string>

namespace dynamo::testing {

inline std::string SourceDir() { return DYNAMO_SOURCE_DIR; }

inline bool Exists(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0;
}

// Path of a file under ../shared/data, or "" when absent.
inline std::string SharedData(const std::string& rel) {
  std::string p = std::string(DYNAMO_SHARED_DATA_DIR) + "/" + rel;
  return Exists(p) ? p : "";
}

// A scratch directory unique to the running test.
inline std::string TempDir() {
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string dir = ::testing::TempDir() + "dynamo_" + info->test_suite_name() + "_" + info->name();
  ::mkdir(dir.c_str(), 0755);
  return dir;
}

}  // namespace dynamo::testing

#define SKIP_WITHOUT(path)                                                          \
  do {                                                                              \
    if ((path).empty()) GTEST_SKIP() << "shared data not present (../shared/data)"; \
  } while (0)
