#pragma once
// YamlNode and EmitYaml: a small YAML tree and its block-style rendering, for the manifests that
// dynamo-config writes (Kubernetes reads them with a YAML 1.1-ish parser, tools with YAML 1.2).
//
// Why not print strings as they come: a plain scalar that looks like a number, a bool or null
// changes type on the way back ("8000" would become an integer, "on" a bool, "" null), and some
// characters end or start a structure (": ", "#", a leading "{"). QuoteYamlScalar keeps a string
// plain only when every YAML 1.1 and 1.2 reader reads it back as the same string; otherwise it
// double-quotes it with escapes. Multi-line strings become literal blocks ("|"), so an embedded
// plan.json stays readable.
//
// Keys keep insertion order; a node may carry a comment, written as "# ..." lines above its
// entry. The JSON library stays in the .cc file (YamlFromJson).
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dynamo::configurator {

// A YAML value: null, a scalar, a sequence or a mapping (keys unique, in insertion order).
// A value type: copies are deep. Not thread-safe for concurrent mutation.
class YamlNode {
 public:
  enum class Kind : uint8_t { kNull, kBool, kInt, kDouble, kString, kSeq, kMap };
  struct Entry;

  YamlNode() = default;  // null
  static YamlNode Bool(bool v);
  static YamlNode Int(int64_t v);
  static YamlNode Double(double v);
  static YamlNode Str(std::string v);
  static YamlNode Seq();
  static YamlNode Map();
  // A sequence of strings.
  static YamlNode StrSeq(const std::vector<std::string>& items);

  Kind kind() const { return kind_; }
  bool IsMap() const { return kind_ == Kind::kMap; }
  bool IsSeq() const { return kind_ == Kind::kSeq; }
  bool IsScalar() const { return kind_ != Kind::kMap && kind_ != Kind::kSeq; }

  // Mappings. Set appends `key` (precondition: IsMap() and the key is new) and returns the
  // stored value, valid until the next Set on this map.
  YamlNode& Set(std::string key, YamlNode value);
  const YamlNode* Find(std::string_view key) const;  // nullptr when absent or not a map
  YamlNode* Find(std::string_view key);
  const std::vector<Entry>& entries() const { return entries_; }

  // Sequences. Append: precondition IsSeq(); returns the stored value, valid until the next
  // Append on this sequence.
  YamlNode& Append(YamlNode value);
  const std::vector<YamlNode>& items() const { return items_; }

  size_t size() const;  // entries or items; 0 for scalars

  // Scalars (precondition: the matching kind).
  bool bool_value() const;
  int64_t int_value() const;
  double double_value() const;
  const std::string& string_value() const;

  // A comment for this node's entry (several lines separated by '\n'). Returns *this.
  YamlNode& WithComment(std::string text);
  const std::string& comment() const { return comment_; }

 private:
  Kind kind_ = Kind::kNull;
  bool bool_ = false;
  int64_t int_ = 0;
  double double_ = 0;
  std::string string_;
  std::vector<Entry> entries_;   // kMap
  std::vector<YamlNode> items_;  // kSeq
  std::string comment_;
};

struct YamlNode::Entry {
  std::string key;
  YamlNode value;
};

// One document, block style, 2-space indentation, ending in a newline. A comment on the root
// is written first. Sequences nest under their key indented by 2 ("key:\n  - a").
std::string EmitYaml(const YamlNode& doc);
// Several documents, each introduced by "---".
std::string EmitYamlDocuments(const std::vector<YamlNode>& docs);

// A string scalar as YAML text: plain when it reads back as the same string in YAML 1.1 and
// 1.2, else double-quoted with escapes. Single-line only (a multi-line string also comes back
// double-quoted; EmitYaml uses literal blocks for those where it can).
std::string QuoteYamlScalar(std::string_view s);
// True when QuoteYamlScalar would quote `s`.
bool YamlNeedsQuotes(std::string_view s);
// A double as YAML text that every reader takes for a float: "0.9", "1.0", "1.0e-05", ".inf".
std::string YamlDouble(double v);

// Converts a JSON document (text) to a YamlNode, keeping key order. Errors: invalid JSON.
StatusOr<YamlNode> YamlFromJson(std::string_view json_text);

}  // namespace dynamo::configurator
