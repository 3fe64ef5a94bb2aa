#include "core/version.h"

#include <gtest/gtest.h>

#include <fstream>
#include <regex>
#include <sstream>

namespace dynamo {
namespace {

TEST(VersionTest, MatchesTheCMakeProjectVersion) {
  std::ifstream in(std::string(DYNAMO_SOURCE_DIR) + "/CMakeLists.txt");
  std::stringstream text;
  text << in.rdbuf();
  std::smatch m;
  const std::string s = text.str();
  ASSERT_TRUE(std::regex_search(s, m, std::regex(R"(project\(\w+ VERSION ([0-9.]+))")));
  EXPECT_EQ(m[1].str(), std::string(kDynamoVersion));
}

}  // namespace
}  // namespace dynamo
