#include "configurator/yaml_writer.h"

#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <string>

namespace dynamo::configurator {
namespace {

// Plain: reads back as the same string in YAML 1.1 and 1.2.
TEST(YamlQuoteTest, PlainStringsStayPlain) {
  for (const char* s : {"dynamo.vllm",
                        "--model",
                        "--router-mode",
                        "meta-llama/Llama-3.1-70B",
                        "nvcr.io/nvidia/ai-dynamo/vllm-runtime:1.0.1",
                        "a:b",
                        "kv_both",
                        "$(JOB_COMPLETION_INDEX)/4",
                        "/results/shard-*",
                        "hello world",
                        "x-1",
                        "Ünïcode",
                        "-x",
                        "?x",
                        ":x",
                        "a'b",
                        "a\"b",
                        "C:\\path",
                        "e1",
                        "."}) {
    EXPECT_FALSE(YamlNeedsQuotes(s)) << s;
    EXPECT_EQ(QuoteYamlScalar(s), s);
  }
}

TEST(YamlQuoteTest, EmptyIsQuoted) { EXPECT_EQ(QuoteYamlScalar(""), "\"\""); }

TEST(YamlQuoteTest, NullAndBoolWordsAreQuoted) {
  for (const char* s :
       {"null", "Null", "NULL", "~",   "true", "True", "TRUE", "false", "yes", "Yes", "NO",
        "no",   "on",   "On",   "OFF", "off",  "y",    "Y",    "n",     "N",   "<<",  "="}) {
    EXPECT_TRUE(YamlNeedsQuotes(s)) << s;
    EXPECT_EQ(QuoteYamlScalar(s), "\"" + std::string(s) + "\"");
  }
}

TEST(YamlQuoteTest, NumberLikeStringsAreQuoted) {
  // Ints, floats, signs, hex/octal, YAML 1.1 sexagesimal and timestamps, .inf/.nan, and a
  // conservative catch-all for anything starting like a number.
  for (const char* s : {"0",       "8000", "-1",    "+1",  "0.9",   ".5",     "-.5",        "1e3",
                        "1.0e-05", "0x1F", "0o17",  "017", "1_000", "1:20",   "2024-01-01", ".inf",
                        "-.inf",   ".NaN", "+.INF", "4Gi", "10Gi",  "3.14abc"}) {
    EXPECT_TRUE(YamlNeedsQuotes(s)) << s;
    EXPECT_EQ(QuoteYamlScalar(s), "\"" + std::string(s) + "\"") << s;
  }
}

TEST(YamlQuoteTest, IndicatorsAndCommentsAreQuoted) {
  for (const char* s :
       {"a: b",  "key:",    "a #b",   "a#b",    "#x",    "{\"a\":1}", "[1]", "]",     "}",
        ",x",    "&anchor", "*alias", "!tag",   "|x",    ">x",        "'q'", "\"q\"", "%x",
        "@x",    "`x",      "-",      "- x",    "?",     "? x",       ":",   ": x",   "---",
        "--- x", "...",     " lead",  "trail ", "\ttab", "a\tb"}) {
    EXPECT_TRUE(YamlNeedsQuotes(s)) << "[" << s << "]";
  }
  EXPECT_EQ(QuoteYamlScalar("a: b"), "\"a: b\"");
  EXPECT_EQ(QuoteYamlScalar("{\"a\":\"b\"}"), "\"{\\\"a\\\":\\\"b\\\"}\"");
  EXPECT_EQ(QuoteYamlScalar("a #b"), "\"a #b\"");
}

TEST(YamlQuoteTest, EscapesInDoubleQuotes) {
  EXPECT_EQ(QuoteYamlScalar("a\"b\\c: d"), "\"a\\\"b\\\\c: d\"");
  EXPECT_EQ(QuoteYamlScalar("line1\nline2"), "\"line1\\nline2\"");
  EXPECT_EQ(QuoteYamlScalar("tab\there"), "\"tab\\there\"");
  EXPECT_EQ(QuoteYamlScalar(std::string("nul\0x", 5)), "\"nul\\0x\"");
  EXPECT_EQ(QuoteYamlScalar("bell\a"), "\"bell\\a\"");
  EXPECT_EQ(QuoteYamlScalar("esc\x1b"), "\"esc\\e\"");
  EXPECT_EQ(QuoteYamlScalar("del\x7f"), "\"del\\x7F\"");
  EXPECT_EQ(QuoteYamlScalar("ctl\x01"), "\"ctl\\x01\"");
  // U+0085 (NEL), U+2028, U+2029 are line breaks to a YAML 1.1 reader.
  EXPECT_EQ(QuoteYamlScalar("a\xC2\x85"), "\"a\\N\"");
  EXPECT_EQ(QuoteYamlScalar("a\xE2\x80\xA8"), "\"a\\L\"");
  EXPECT_EQ(QuoteYamlScalar("a\xE2\x80\xA9"), "\"a\\P\"");
  EXPECT_EQ(QuoteYamlScalar("bom\xEF\xBB\xBF"), "\"bom\\uFEFF\"");
  // A byte that is not UTF-8 cannot be written raw; it becomes \xNN.
  EXPECT_EQ(QuoteYamlScalar("bad\xFF"), "\"bad\\xFF\"");
  // Well-formed multi-byte text stays as it is inside quotes.
  EXPECT_EQ(QuoteYamlScalar("é: x"), "\"é: x\"");
}

TEST(YamlQuoteTest, Doubles) {
  EXPECT_EQ(YamlDouble(0.9), "0.9");
  EXPECT_EQ(YamlDouble(1.0), "1.0");
  EXPECT_EQ(YamlDouble(500), "500.0");
  EXPECT_EQ(YamlDouble(-2.5), "-2.5");
  EXPECT_EQ(YamlDouble(1e-5), "1.0e-05");
  EXPECT_EQ(YamlDouble(1e22), "1.0e+22");
  EXPECT_EQ(YamlDouble(std::numeric_limits<double>::infinity()), ".inf");
  EXPECT_EQ(YamlDouble(-std::numeric_limits<double>::infinity()), "-.inf");
  EXPECT_EQ(YamlDouble(std::nan("")), ".nan");
}

TEST(YamlEmitTest, BlockStyleWithOrderCommentsAndTypes) {
  YamlNode doc = YamlNode::Map();
  doc.WithComment("Header line 1\nHeader line 2");
  doc.Set("zeta", YamlNode::Str("first"));  // insertion order, not sorted
  doc.Set("alpha", YamlNode::Int(8000));
  doc.Set("port", YamlNode::Str("8000"));
  doc.Set("ratio", YamlNode::Double(0.5));
  doc.Set("on", YamlNode::Bool(true));
  doc.Set("none", YamlNode());
  doc.Set("empty_map", YamlNode::Map());
  doc.Set("empty_seq", YamlNode::Seq());
  YamlNode& nested = doc.Set("nested", YamlNode::Map());
  nested.WithComment("A nested map");
  nested.Set("args", YamlNode::StrSeq({"--flag", "4", ""}));
  YamlNode items = YamlNode::Seq();
  YamlNode item = YamlNode::Map();
  item.Set("name", YamlNode::Str("a")).WithComment("first entry of a map item");
  item.Set("value", YamlNode::Str("yes"));
  items.Append(std::move(item));
  YamlNode inner = YamlNode::Seq();
  inner.Append(YamlNode::Int(1));
  inner.Append(YamlNode::Int(2));
  items.Append(std::move(inner)).WithComment("a sequence in a sequence");
  doc.Set("items", std::move(items));
  EXPECT_EQ(EmitYaml(doc),
            "# Header line 1\n"
            "# Header line 2\n"
            "zeta: first\n"
            "alpha: 8000\n"
            "port: \"8000\"\n"
            "ratio: 0.5\n"
            "\"on\": true\n"
            "none: null\n"
            "empty_map: {}\n"
            "empty_seq: []\n"
            "# A nested map\n"
            "nested:\n"
            "  args:\n"
            "    - --flag\n"
            "    - \"4\"\n"
            "    - \"\"\n"
            "items:\n"
            "  # first entry of a map item\n"
            "  - name: a\n"
            "    value: \"yes\"\n"
            "  # a sequence in a sequence\n"
            "  - - 1\n"
            "    - 2\n");
}

TEST(YamlEmitTest, LiteralBlocksForMultiLineText) {
  YamlNode doc = YamlNode::Map();
  doc.Set("clip", YamlNode::Str("{\n  \"a\": 1\n}\n"));
  doc.Set("strip", YamlNode::Str("x\ny"));
  doc.Set("keep", YamlNode::Str("x\n\n"));
  doc.Set("blank_line", YamlNode::Str("a\n\nb\n"));
  // Not representable as a literal block without an indentation indicator: quoted instead.
  doc.Set("leading_space", YamlNode::Str(" a\nb"));
  doc.Set("control", YamlNode::Str("a\x01\nb"));
  YamlNode seq = YamlNode::Seq();
  seq.Append(YamlNode::Str("l1\nl2\n"));
  doc.Set("in_seq", std::move(seq));
  EXPECT_EQ(EmitYaml(doc),
            "clip: |\n"
            "  {\n"
            "    \"a\": 1\n"
            "  }\n"
            "strip: |-\n"
            "  x\n"
            "  y\n"
            "keep: |+\n"
            "  x\n"
            "\n"
            "blank_line: |\n"
            "  a\n"
            "\n"
            "  b\n"
            "leading_space: \" a\\nb\"\n"
            "control: \"a\\x01\\nb\"\n"
            "in_seq:\n"
            "  - |\n"
            "    l1\n"
            "    l2\n");
}

TEST(YamlEmitTest, QuotedKeys) {
  YamlNode doc = YamlNode::Map();
  doc.Set("nvidia.com/gpu", YamlNode::Int(4));
  doc.Set("8000", YamlNode::Str("port"));
  doc.Set("a: b", YamlNode::Str("x"));
  EXPECT_EQ(EmitYaml(doc), "nvidia.com/gpu: 4\n\"8000\": port\n\"a: b\": x\n");
}

TEST(YamlEmitTest, MultipleDocuments) {
  YamlNode a = YamlNode::Map();
  a.Set("kind", YamlNode::Str("ConfigMap"));
  YamlNode b = YamlNode::Map();
  b.WithComment("second");
  b.Set("kind", YamlNode::Str("Service"));
  EXPECT_EQ(EmitYamlDocuments({a, b}), "---\nkind: ConfigMap\n---\n# second\nkind: Service\n");
}

TEST(YamlEmitTest, ScalarAndEmptyRoots) {
  EXPECT_EQ(EmitYaml(YamlNode::Str("true")), "\"true\"\n");
  EXPECT_EQ(EmitYaml(YamlNode::Map()), "{}\n");
  EXPECT_EQ(EmitYaml(YamlNode::Seq()), "[]\n");
}

TEST(YamlNodeTest, FindAndAccessors) {
  YamlNode m = YamlNode::Map();
  m.Set("a", YamlNode::Int(1));
  ASSERT_NE(m.Find("a"), nullptr);
  EXPECT_EQ(m.Find("a")->int_value(), 1);
  EXPECT_EQ(m.Find("b"), nullptr);
  EXPECT_EQ(m.size(), 1u);
  EXPECT_EQ(YamlNode::Str("x").Find("a"), nullptr);
}

TEST(YamlFromJsonTest, KeepsOrderAndTypes) {
  auto y = YamlFromJson(R"({"z": 1, "a": [true, null, 0.25, "8000", -3], "m": {}})");
  ASSERT_TRUE(y.ok()) << y.status().message();
  EXPECT_EQ(EmitYaml(*y),
            "z: 1\n"
            "a:\n"
            "  - true\n"
            "  - null\n"
            "  - 0.25\n"
            "  - \"8000\"\n"
            "  - -3\n"
            "m: {}\n");
  EXPECT_FALSE(YamlFromJson("{bad").ok());
}

}  // namespace
}  // namespace dynamo::configurator
