#include "configurator/generated_files.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/file_io.h"

namespace dynamo::configurator {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

class GeneratedFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = fs::temp_directory_path() /
            ("generated_files_test_" + std::to_string(::getpid()) + "_" +
             ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(root_);
    fs::create_directories(root_);
  }
  void TearDown() override { fs::remove_all(root_); }

  // Entries of root_ (to catch leftover temporary directories).
  size_t RootEntries() const {
    size_t n = 0;
    for ([[maybe_unused]] const auto& e : fs::directory_iterator(root_)) ++n;
    return n;
  }

  fs::path root_;
  const std::vector<GeneratedFile> files_ = {{"a.yaml", "kind: A\n", false},
                                             {"run.sh", "#!/bin/sh\n", true}};
};

TEST_F(GeneratedFilesTest, WritesANewDirectoryWithModes) {
  const std::string out = (root_ / "sub" / "out").string();
  ASSERT_TRUE(WriteGeneratedFiles(out, files_, false).ok());
  EXPECT_EQ(*ReadFile(out + "/a.yaml"), "kind: A\n");
  struct stat st {};
  ASSERT_EQ(::stat((out + "/run.sh").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0755u);
  ASSERT_EQ(::stat((out + "/a.yaml").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0644u);
  EXPECT_EQ(RootEntries(), 1u);  // only "sub": no temporary directory left
}

TEST_F(GeneratedFilesTest, RefusesANonEmptyDirectoryWithoutForce) {
  const std::string out = (root_ / "out").string();
  fs::create_directories(out);
  std::ofstream(out + "/keep.txt") << "mine";
  const Status s = WriteGeneratedFiles(out, files_, false);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.message(), "--out " + out +
                             ": the directory exists and holds 1 entry; pass --force to replace "
                             "it as a whole, or choose a new directory");
  EXPECT_EQ(*ReadFile(out + "/keep.txt"), "mine");  // untouched
  EXPECT_FALSE(fs::exists(out + "/a.yaml"));
  EXPECT_EQ(RootEntries(), 1u);
}

TEST_F(GeneratedFilesTest, ForceReplacesTheWholeDirectory) {
  const std::string out = (root_ / "out").string();
  fs::create_directories(out);
  std::ofstream(out + "/old.txt") << "old";
  ASSERT_TRUE(WriteGeneratedFiles(out, files_, true).ok());
  EXPECT_FALSE(fs::exists(out + "/old.txt"));
  EXPECT_TRUE(fs::exists(out + "/a.yaml"));
  EXPECT_EQ(RootEntries(), 1u);
}

TEST_F(GeneratedFilesTest, AnEmptyDirectoryIsReplacedWithoutForce) {
  const std::string out = (root_ / "out").string() + "/";  // trailing slash
  fs::create_directories(out);
  ASSERT_TRUE(WriteGeneratedFiles(out, files_, false).ok());
  EXPECT_TRUE(fs::exists(root_ / "out" / "a.yaml"));
  EXPECT_EQ(RootEntries(), 1u);
}

TEST_F(GeneratedFilesTest, AFileInTheWayIsAnError) {
  const std::string out = (root_ / "out").string();
  std::ofstream(out) << "x";
  const Status s = WriteGeneratedFiles(out, files_, true);
  EXPECT_EQ(s.message(), "--out " + out + ": exists and is not a directory; choose another --out");
}

TEST_F(GeneratedFilesTest, AFailedWriteLeavesNothing) {
  const std::string out = (root_ / "out").string();
  const std::vector<GeneratedFile> bad = {{"a.yaml", "x", false}, {"../escape", "x", false}};
  const Status s = WriteGeneratedFiles(out, bad, false);
  EXPECT_FALSE(s.ok());
  EXPECT_FALSE(fs::exists(out));
  EXPECT_EQ(RootEntries(), 0u);
}

TEST_F(GeneratedFilesTest, CurrentDirectoryCannotBeReplaced) {
  EXPECT_THAT(WriteGeneratedFiles(".", files_, true).message(),
              HasSubstr("cannot be replaced as a whole"));
  EXPECT_THAT(WriteGeneratedFiles("", files_, true).message(), HasSubstr("--out: empty"));
}

}  // namespace
}  // namespace dynamo::configurator
