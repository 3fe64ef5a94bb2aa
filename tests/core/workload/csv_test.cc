#include "core/workload/csv.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

namespace dynamo {
namespace {

TEST(Csv, QuoteLeavesPlainFieldsAlone) {
  EXPECT_EQ(CsvQuote("abc 12"), "abc 12");
  EXPECT_EQ(CsvQuote(""), "");
}

TEST(Csv, QuotedFieldsSplitBackToTheOriginals) {
  const std::vector<std::string> fields = {"a,b", "say \"hi\"", "plain"};
  EXPECT_EQ(CsvQuote("two\nlines"), "\"two\nlines\"");
  EXPECT_EQ(CsvQuote("a,b"), "\"a,b\"");
  EXPECT_EQ(CsvQuote("say \"hi\""), "\"say \"\"hi\"\"\"");
  // SplitCsvLine reads one line: check the fields without line breaks through it.
  const std::string one_line =
      CsvQuote(fields[0]) + "," + CsvQuote(fields[1]) + "," + CsvQuote(fields[2]);
  std::vector<std::string> back;
  ASSERT_TRUE(SplitCsvLine(one_line, back));
  EXPECT_EQ(back, fields);
}

}  // namespace
}  // namespace dynamo
