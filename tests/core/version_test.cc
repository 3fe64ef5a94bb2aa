#include "core/version.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace dynamo {
namespace {

TEST(VersionTest, MatchesTheCMakeProjectVersion) {
  std::ifstream in(std::string(DYNAMO_SOURCE_DIR) + "/CMakeLists.txt");
  std::stringstream text;
  text << in.rdbuf();
  const std::string s = text.str();
  // project(dynamo_planner VERSION 0.1.0 LANGUAGES CXX)
  const size_t at = s.find(" VERSION ", s.find("project("));
  ASSERT_NE(at, std::string::npos);
  const size_t begin = at + 9;
  const std::string version = s.substr(begin, s.find_first_not_of("0123456789.", begin) - begin);
  EXPECT_EQ(version, std::string(kDynamoVersion));
}

}  // namespace
}  // namespace dynamo
