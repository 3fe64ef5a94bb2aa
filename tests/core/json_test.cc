#include "core/json.h"

#include <gtest/gtest.h>

#include <string>

namespace dynamo {
namespace {

JsonNode Parse(const std::string& text) {
  auto n = JsonDocument::Parse(text, "plan.json");
  EXPECT_TRUE(n.ok()) << n.status().message();
  return *n;
}

TEST(JsonTest, ErrorsNameTheSourceAndJsonPath) {
  JsonNode root = Parse(R"({"workers": [{"tp": 4}, {"tp": -1}]})");
  auto workers = root.Get("workers")->Elements();
  ASSERT_TRUE(workers.ok());
  EXPECT_EQ(*(*workers)[0].GetInt("tp", Bounds::AtLeast(1)), 4);
  auto bad = (*workers)[1].GetInt("tp", Bounds::AtLeast(1));
  EXPECT_EQ(bad.status().message(), "plan.json: $.workers[1].tp: -1 is out of range; must be >= 1");
  EXPECT_EQ((*workers)[1].GetInt("pp").status().message(),
            "plan.json: $.workers[1]: missing required field 'pp'");
}

TEST(JsonTest, TypeErrorsSayWhatWasExpectedAndWhatCame) {
  JsonNode root = Parse(R"({"tp": "four", "rate": 2.5, "on": 1, "list": {}})");
  EXPECT_EQ(root.GetInt("tp").status().message(),
            "plan.json: $.tp: expected an integer, got \"four\"");
  EXPECT_EQ(root.GetInt("rate").status().message(),
            "plan.json: $.rate: expected an integer, got 2.5");
  EXPECT_DOUBLE_EQ(*root.GetDouble("rate", Bounds::Positive()), 2.5);
  EXPECT_EQ(root.GetBoolOr("on", false).status().message(),
            "plan.json: $.on: expected true or false, got 1");
  EXPECT_EQ(root.Get("list")->Elements().status().message(),
            "plan.json: $.list: expected an array, got {}");
  EXPECT_EQ(root.Get("tp")->AsDouble().status().message(),
            "plan.json: $.tp: expected a number, got \"four\"");
}

TEST(JsonTest, OptionalFieldsTakeDefaultsWhenAbsentOrNull) {
  JsonNode root = Parse(R"({"a": null, "b": 3})");
  EXPECT_EQ(*root.GetIntOr("a", 7), 7);
  EXPECT_EQ(*root.GetIntOr("missing", 8), 8);
  EXPECT_EQ(*root.GetIntOr("b", 8), 3);
  EXPECT_EQ(*root.GetStringOr("s", "x"), "x");
  EXPECT_FALSE(root.Find("a").has_value());
  EXPECT_TRUE(root.Has("a"));
}

TEST(JsonTest, EnumsAndUnknownKeysListWhatIsAllowed) {
  JsonNode root = Parse(R"({"policy": "fastest", "rate_rsp": 3})");
  EXPECT_EQ(root.GetEnum("policy", {"kv", "round_robin"}).status().message(),
            "plan.json: $.policy: \"fastest\" is not one of: kv, round_robin");
  EXPECT_EQ(root.CheckKnownKeys({"policy", "rate_rps"}).message(),
            "plan.json: $: unknown field 'rate_rsp'; allowed fields: policy, rate_rps");
  EXPECT_EQ(*root.GetEnumOr("mode", "agg", {"agg", "disagg"}), "agg");
}

TEST(JsonTest, BoundsDescribeThemselves) {
  EXPECT_EQ(Bounds::Positive().Describe(), "> 0");
  EXPECT_EQ(Bounds::AtLeast(1).Describe(), ">= 1");
  EXPECT_EQ(Bounds::Between(0, 1).Describe(), "in [0, 1]");
  EXPECT_FALSE(Bounds::Positive().Contains(0));
  EXPECT_TRUE(Bounds::NonNegative().Contains(0));
}

TEST(JsonTest, SyntaxErrorsReportLineAndColumn) {
  auto bad = JsonDocument::Parse("{\n  \"a\": 1,\n  \"b\": }\n", "w.json");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(bad.status().message().rfind("w.json:3:8: invalid JSON: ", 0), 0u)
      << bad.status().message();
  EXPECT_FALSE(JsonDocument::Parse("", "e.json").ok());
  EXPECT_FALSE(JsonDocument::Parse("{} trailing", "t.json").ok());
}

TEST(JsonTest, DeepNestingIsRejectedWithoutRecursion) {
  std::string deep(100000, '[');
  auto bad = JsonDocument::Parse(deep, "deep.json");
  EXPECT_EQ(bad.status().message(),
            "deep.json: JSON nested deeper than 256 levels; flatten the document");
  std::string ok_depth = std::string(200, '[') + std::string(200, ']');
  EXPECT_TRUE(JsonDocument::Parse(ok_depth, "ok.json").ok());
}

TEST(JsonTest, NodesOutliveTheirDocumentHandle) {
  JsonNode inner = [] {
    auto root = JsonDocument::Parse(R"({"a": {"b": [1, 2, 3]}})", "x.json");
    return *root->Get("a");
  }();
  EXPECT_EQ(inner.path(), "$.a");
  EXPECT_EQ(inner.Get("b")->size(), 3u);
  EXPECT_EQ(*inner.Get("b")->At(2).AsInt(), 3);
}

TEST(JsonTest, LoadReportsMissingFiles) {
  auto missing = JsonDocument::Load("/nonexistent/plan.json");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_EQ(missing.status().message(),
            "/nonexistent/plan.json: cannot open: No such file or directory");
}

}  // namespace
}  // namespace dynamo
