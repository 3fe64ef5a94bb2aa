#include "core/perf/op_grid.h"

#include <gtest/gtest.h>

#include <cmath>

namespace dynamo::perf {
namespace {

// f(x, y) = 2 log x + log y is linear in log coordinates: interpolation must be exact.
OpGrid LogLinearGrid() {
  OpGrid g({{{1, 2, 4, 8, 16}, false}, {{1, 10, 100}, false}});
  for (size_t c = 0; c < g.cells(); ++c) {
    auto xy = g.CoordsOf(c);
    g.Set(c, 2 * std::log(xy[0]) + std::log(xy[1]));
  }
  return g;
}

TEST(OpGridTest, ExactPointsAreReturnedAsMeasured) {
  OpGrid g = LogLinearGrid();
  auto r = g.At(std::vector<double>{4, 10});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->exact);
  EXPECT_FALSE(r->extrapolated);
  EXPECT_DOUBLE_EQ(r->value, 2 * std::log(4.0) + std::log(10.0));
}

TEST(OpGridTest, InterpolatesLinearlyInLogSpace) {
  OpGrid g = LogLinearGrid();
  auto r = g.At(std::vector<double>{3, 31.6});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->exact);
  EXPECT_FALSE(r->extrapolated);
  EXPECT_NEAR(r->value, 2 * std::log(3.0) + std::log(31.6), 1e-9);
}

TEST(OpGridTest, OutsideTheDataHoldsTheBoundaryValue) {
  OpGrid g = LogLinearGrid();
  auto r = g.At(std::vector<double>{64, 10});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->extrapolated);
  EXPECT_DOUBLE_EQ(r->value, 2 * std::log(16.0) + std::log(10.0));
}

TEST(OpGridTest, MissingCellsAreBracketedByNeighbours) {
  OpGrid g = LogLinearGrid();
  const size_t cell = *g.CellOf(std::vector<double>{4, 10});
  g.Set(cell, std::nan(""));
  auto r = g.At(std::vector<double>{4, 10});
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->exact);
  EXPECT_NEAR(r->value, 2 * std::log(4.0) + std::log(10.0), 1e-9);
  // A query between cells whose corner is missing still gets an answer.
  auto between = g.At(std::vector<double>{3, 20});
  ASSERT_TRUE(between);
  EXPECT_NEAR(between->value, 2 * std::log(3.0) + std::log(20.0), 1e-9);
}

TEST(OpGridTest, RaggedRowsHoldTheNearestMeasuredColumn) {
  // y = 100 measured only for x <= 2 (a capped table): x = 8 borrows along x at y = 100.
  OpGrid g = LogLinearGrid();
  for (double x : {4.0, 8.0, 16.0}) g.Set(*g.CellOf(std::vector<double>{x, 100}), std::nan(""));
  auto r = g.At(std::vector<double>{8, 100});
  ASSERT_TRUE(r);
  EXPECT_TRUE(std::isfinite(r->value));
}

TEST(OpGridTest, EmptyGridHasNoAnswerAndLog1pAxisAcceptsZero) {
  OpGrid empty({{{1, 2}, false}});
  EXPECT_FALSE(empty.At(std::vector<double>{1.5}));
  OpGrid g({{{0, 1000}, true}});
  g.Set(0, 1.0);
  g.Set(1, 3.0);
  auto r = g.At(std::vector<double>{0});
  ASSERT_TRUE(r);
  EXPECT_TRUE(r->exact);
  auto mid = g.At(std::vector<double>{std::expm1(std::log1p(1000.0) / 2)});
  ASSERT_TRUE(mid);
  EXPECT_NEAR(mid->value, 2.0, 1e-9);
}

}  // namespace
}  // namespace dynamo::perf
