#include "core/time.h"

#include <gtest/gtest.h>

namespace dynamo {
namespace {

TEST(TimeTest, ArithmeticIsExactInNanoseconds) {
  const Time t = Time::Zero() + Duration::Millis(1500);
  EXPECT_EQ(t.nanos(), 1'500'000'000);
  EXPECT_EQ((t - Time::FromNanos(500'000'000)).nanos(), 1'000'000'000);
  EXPECT_EQ(Duration::Seconds(2) + Duration::Micros(3), Duration::Nanos(2'000'003'000));
  EXPECT_EQ(Duration::Seconds(3) / 2, Duration::Millis(1500));
  EXPECT_EQ(Duration::Millis(7) * 3, Duration::Millis(21));
  EXPECT_LT(Time::FromNanos(1), Time::FromNanos(2));
}

TEST(TimeTest, SecondsConversionRoundsToNearestNanosecond) {
  EXPECT_EQ(Duration::FromSecondsF(0.2).nanos(), 200'000'000);
  EXPECT_EQ(Duration::FromSecondsF(1e-9 * 2.6).nanos(), 3);
  EXPECT_DOUBLE_EQ(Duration::Millis(250).seconds(), 0.25);
  EXPECT_DOUBLE_EQ(Duration::Micros(1500).millis(), 1.5);
}

}  // namespace
}  // namespace dynamo
