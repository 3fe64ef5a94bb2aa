#include "core/json.h"

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/file_io.h"

namespace dynamo {
namespace {

using Json = nlohmann::json;

const Json& J(const void* v) { return *static_cast<const Json*>(v); }

std::string FormatNumber(double v) {
  std::ostringstream ss;
  ss.precision(15);
  ss << v;
  return ss.str();
}

// Maximum nesting of arrays/objects outside string literals; stops early once over `limit`.
int NestingDepth(std::string_view text, int limit) {
  int depth = 0, max_depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
      continue;
    }
    if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      max_depth = std::max(max_depth, ++depth);
      if (max_depth > limit) return max_depth;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return max_depth;
}

// Line and column (1-based) of a byte offset.
std::pair<size_t, size_t> LineColumn(std::string_view text, size_t offset) {
  offset = std::min(offset, text.size());
  size_t line = 1, col = 1;
  for (size_t i = 0; i < offset; ++i) {
    if (text[i] == '\n') {
      ++line;
      col = 1;
    } else {
      ++col;
    }
  }
  return {line, col};
}

// nlohmann messages start with "[json.exception.parse_error.101] parse error at line 1,
// column 2: "; keep the part after the location.
std::string CleanParseMessage(const std::string& what) {
  std::string m = what;
  size_t bracket = m.find("] ");
  if (m.rfind("[json.exception", 0) == 0 && bracket != std::string::npos) m = m.substr(bracket + 2);
  size_t colon = m.find(": ");
  if (m.rfind("parse error", 0) == 0 && colon != std::string::npos) m = m.substr(colon + 2);
  return m;
}

}  // namespace

struct JsonNode::Doc {
  std::string source;
  Json root;
};

std::string Bounds::Describe() const {
  if (min && max) return "in [" + FormatNumber(*min) + ", " + FormatNumber(*max) + "]";
  if (min) return (min_exclusive ? "> " : ">= ") + FormatNumber(*min);
  if (max) return "<= " + FormatNumber(*max);
  return "any number";
}

bool Bounds::Contains(double v) const {
  if (std::isnan(v)) return false;
  if (min && (min_exclusive ? !(v > *min) : !(v >= *min))) return false;
  if (max && !(v <= *max)) return false;
  return true;
}

JsonNode::JsonNode(std::shared_ptr<const Doc> doc, const void* value, std::string path)
    : doc_(std::move(doc)), value_(value), path_(std::move(path)) {}

JsonNode JsonNode::Child(const void* value, std::string path) const {
  return JsonNode(doc_, value, std::move(path));
}

JsonNode::Kind JsonNode::kind() const {
  const Json& j = J(value_);
  if (j.is_object()) return Kind::kObject;
  if (j.is_array()) return Kind::kArray;
  if (j.is_string()) return Kind::kString;
  if (j.is_boolean()) return Kind::kBool;
  if (j.is_number()) return Kind::kNumber;
  return Kind::kNull;
}

std::string_view JsonNode::KindName(Kind k) {
  switch (k) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return "a boolean";
    case Kind::kNumber:
      return "a number";
    case Kind::kString:
      return "a string";
    case Kind::kArray:
      return "an array";
    case Kind::kObject:
      return "an object";
  }
  return "?";
}

const std::string& JsonNode::source() const { return doc_->source; }

std::string JsonNode::Where() const { return doc_->source + ": " + path_; }

Status JsonNode::Error(std::string_view what) const {
  return InvalidArgument(Where() + ": " + std::string(what));
}

std::string JsonNode::Render() const {
  std::string s = J(value_).dump();
  if (s.size() > 60) s = s.substr(0, 57) + "...";
  return s;
}

bool JsonNode::Has(std::string_view key) const {
  const Json& j = J(value_);
  return j.is_object() && j.find(key) != j.end();
}

std::optional<JsonNode> JsonNode::Find(std::string_view key) const {
  const Json& j = J(value_);
  if (!j.is_object()) return std::nullopt;
  auto it = j.find(key);
  if (it == j.end() || it->is_null()) return std::nullopt;
  return Child(&*it, path_ + "." + std::string(key));
}

StatusOr<JsonNode> JsonNode::Get(std::string_view key) const {
  if (!IsObject()) {
    return Error("expected an object with field '" + std::string(key) + "', got " + Render());
  }
  auto child = Find(key);
  if (!child) return Error("missing required field '" + std::string(key) + "'");
  return *child;
}

std::vector<std::string> JsonNode::Keys() const {
  std::vector<std::string> keys;
  const Json& j = J(value_);
  if (!j.is_object()) return keys;
  for (auto it = j.begin(); it != j.end(); ++it) keys.push_back(it.key());
  std::sort(keys.begin(), keys.end());
  return keys;
}

Status JsonNode::CheckKnownKeys(std::initializer_list<std::string_view> allowed) const {
  if (!IsObject()) return Error("expected an object, got " + Render());
  for (const std::string& k : Keys()) {
    if (std::find(allowed.begin(), allowed.end(), k) != allowed.end()) continue;
    std::string list;
    for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
    return Error("unknown field '" + k + "'; allowed fields: " + list);
  }
  return Status::Ok();
}

size_t JsonNode::size() const {
  const Json& j = J(value_);
  return j.is_array() ? j.size() : 0;
}

JsonNode JsonNode::At(size_t i) const {
  DYNAMO_CHECK(IsArray() && i < size());
  return Child(&J(value_)[i], path_ + "[" + std::to_string(i) + "]");
}

StatusOr<std::vector<JsonNode>> JsonNode::Elements() const {
  if (!IsArray()) return Error("expected an array, got " + Render());
  std::vector<JsonNode> out;
  out.reserve(size());
  for (size_t i = 0; i < size(); ++i) out.push_back(At(i));
  return out;
}

StatusOr<double> JsonNode::AsDouble(Bounds b) const {
  const Json& j = J(value_);
  if (!j.is_number()) return Error("expected a number, got " + Render());
  double v = j.get<double>();
  if (!std::isfinite(v)) return Error("expected a finite number, got " + Render());
  if (!b.Contains(v)) return Error(Render() + " is out of range; must be " + b.Describe());
  return v;
}

StatusOr<int64_t> JsonNode::AsInt(Bounds b) const {
  const Json& j = J(value_);
  if (!j.is_number()) return Error("expected an integer, got " + Render());
  int64_t v = 0;
  if (j.is_number_integer() && !j.is_number_unsigned()) {
    v = j.get<int64_t>();
  } else if (j.is_number_unsigned()) {
    uint64_t u = j.get<uint64_t>();
    if (u > static_cast<uint64_t>(INT64_MAX)) return Error(Render() + " is too large");
    v = static_cast<int64_t>(u);
  } else {
    double d = j.get<double>();
    if (!std::isfinite(d) || d != std::floor(d) || std::fabs(d) > 9.0e15) {
      return Error("expected an integer, got " + Render());
    }
    v = static_cast<int64_t>(d);
  }
  if (!b.Contains(static_cast<double>(v))) {
    return Error(Render() + " is out of range; must be " + b.Describe());
  }
  return v;
}

StatusOr<std::string> JsonNode::AsString() const {
  const Json& j = J(value_);
  if (!j.is_string()) return Error("expected a string, got " + Render());
  return j.get<std::string>();
}

StatusOr<bool> JsonNode::AsBool() const {
  const Json& j = J(value_);
  if (!j.is_boolean()) return Error("expected true or false, got " + Render());
  return j.get<bool>();
}

StatusOr<double> JsonNode::GetDouble(std::string_view key, Bounds b) const {
  ASSIGN_OR_RETURN(JsonNode n, Get(key));
  return n.AsDouble(b);
}

StatusOr<double> JsonNode::GetDoubleOr(std::string_view key, double def, Bounds b) const {
  auto n = Find(key);
  if (!n) return def;
  return n->AsDouble(b);
}

StatusOr<int64_t> JsonNode::GetInt(std::string_view key, Bounds b) const {
  ASSIGN_OR_RETURN(JsonNode n, Get(key));
  return n.AsInt(b);
}

StatusOr<int64_t> JsonNode::GetIntOr(std::string_view key, int64_t def, Bounds b) const {
  auto n = Find(key);
  if (!n) return def;
  return n->AsInt(b);
}

StatusOr<std::string> JsonNode::GetString(std::string_view key) const {
  ASSIGN_OR_RETURN(JsonNode n, Get(key));
  return n.AsString();
}

StatusOr<std::string> JsonNode::GetStringOr(std::string_view key, std::string def) const {
  auto n = Find(key);
  if (!n) return def;
  return n->AsString();
}

StatusOr<bool> JsonNode::GetBoolOr(std::string_view key, bool def) const {
  auto n = Find(key);
  if (!n) return def;
  return n->AsBool();
}

namespace {
Status CheckEnum(const JsonNode& n, const std::string& v,
                 std::initializer_list<std::string_view> allowed) {
  if (std::find(allowed.begin(), allowed.end(), v) != allowed.end()) return Status::Ok();
  std::string list;
  for (std::string_view a : allowed) list += (list.empty() ? "" : ", ") + std::string(a);
  return n.Error("\"" + v + "\" is not one of: " + list);
}
}  // namespace

StatusOr<std::string> JsonNode::GetEnum(std::string_view key,
                                        std::initializer_list<std::string_view> allowed) const {
  ASSIGN_OR_RETURN(JsonNode n, Get(key));
  ASSIGN_OR_RETURN(std::string v, n.AsString());
  RETURN_IF_ERROR(CheckEnum(n, v, allowed));
  return v;
}

StatusOr<std::string> JsonNode::GetEnumOr(std::string_view key, std::string def,
                                          std::initializer_list<std::string_view> allowed) const {
  auto n = Find(key);
  if (!n) return def;
  ASSIGN_OR_RETURN(std::string v, n->AsString());
  RETURN_IF_ERROR(CheckEnum(*n, v, allowed));
  return v;
}

StatusOr<JsonNode> JsonDocument::Parse(std::string_view text, const std::string& source) {
  if (NestingDepth(text, kMaxDepth) > kMaxDepth) {
    return InvalidArgument(source + ": JSON nested deeper than " + std::to_string(kMaxDepth) +
                           " levels; flatten the document");
  }
  auto doc = std::make_shared<JsonNode::Doc>();
  doc->source = source;
  try {
    doc->root = Json::parse(text.begin(), text.end());
  } catch (const Json::parse_error& e) {
    auto [line, col] = LineColumn(text, e.byte > 0 ? e.byte - 1 : 0);
    return InvalidArgument(source + ":" + std::to_string(line) + ":" + std::to_string(col) +
                           ": invalid JSON: " + CleanParseMessage(e.what()));
  } catch (const Json::exception& e) {
    return InvalidArgument(source + ": invalid JSON: " + CleanParseMessage(e.what()));
  }
  const void* root = &doc->root;
  return JsonNode(std::move(doc), root, "$");
}

StatusOr<JsonNode> JsonDocument::Load(const std::string& path) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  return Parse(text, path);
}

}  // namespace dynamo
