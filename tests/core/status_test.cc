#include "core/status.h"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

StatusOr<int> Half(int x) {
  if (x % 2 != 0) return InvalidArgument("x: " + std::to_string(x) + " is odd; use an even number");
  return x / 2;
}

StatusOr<int> Quarter(int x) {
  ASSIGN_OR_RETURN(int h, Half(x));
  ASSIGN_OR_RETURN(int q, Half(h));
  return q;
}

Status CheckQuarter(int x) {
  RETURN_IF_ERROR(Quarter(x).status().WithContext("quarter"));
  return Status::Ok();
}

TEST(StatusTest, PropagatesTheFirstErrorWithContext) {
  EXPECT_EQ(*Quarter(12), 3);
  StatusOr<int> bad = Quarter(6);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message(), "x: 3 is odd; use an even number");
  Status s = CheckQuarter(6);
  EXPECT_EQ(s.message(), "quarter: x: 3 is odd; use an even number");
  EXPECT_EQ(s.ToString(), "INVALID_ARGUMENT: quarter: x: 3 is odd; use an even number");
  EXPECT_TRUE(CheckQuarter(8).ok());
}

TEST(StatusTest, OkStatusIgnoresContext) {
  EXPECT_TRUE(Status::Ok().WithContext("anything").ok());
  EXPECT_EQ(Status::Ok().ToString(), "OK");
}

TEST(StatusTest, StatusOrHoldsMoveOnlyValues) {
  StatusOr<std::unique_ptr<int>> p = std::make_unique<int>(5);
  ASSERT_TRUE(p.ok());
  std::unique_ptr<int> v = std::move(p).value();
  EXPECT_EQ(*v, 5);
}

TEST(StatusDeathTest, ValueOfAnErrorAborts) {
  StatusOr<int> bad = NotFound("nothing");
  EXPECT_DEATH((void)bad.value(), "CHECK failed");
}

}  // namespace
}  // namespace dynamo
