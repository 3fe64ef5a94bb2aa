#pragma once
// A read-only view of a parsed JSON document that knows where it is: every node carries its
// source (file name) and JSON path ("$.workers[2].tp"), so every error can say exactly where the
// bad value sits. The JSON library stays behind this seam (core headers never include it).

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"

namespace dynamo {

// Inclusive/exclusive bounds for numeric fields; the error message states them.
struct Bounds {
  std::optional<double> min;
  std::optional<double> max;
  bool min_exclusive = false;

  static Bounds Any() { return {}; }
  static Bounds Positive() { return {0.0, std::nullopt, true}; }
  static Bounds NonNegative() { return {0.0, std::nullopt, false}; }
  static Bounds AtLeast(double v) { return {v, std::nullopt, false}; }
  static Bounds Between(double lo, double hi) { return {lo, hi, false}; }
  std::string Describe() const;  // "> 0", ">= 1", "in [0, 1]"
  bool Contains(double v) const;
};

class JsonDocument;

class JsonNode {
 public:
  enum class Kind { kNull, kBool, kNumber, kString, kArray, kObject };

  Kind kind() const;
  bool IsObject() const { return kind() == Kind::kObject; }
  bool IsArray() const { return kind() == Kind::kArray; }
  bool IsNumber() const { return kind() == Kind::kNumber; }
  bool IsString() const { return kind() == Kind::kString; }
  bool IsNull() const { return kind() == Kind::kNull; }
  static std::string_view KindName(Kind k);

  const std::string& path() const { return path_; }
  const std::string& source() const;
  // "source: path" prefix for messages.
  std::string Where() const;
  // InvalidArgument("source: path: what").
  Status Error(std::string_view what) const;
  // Compact rendering of this value for messages (truncated to ~60 chars).
  std::string Render() const;

  // Objects.
  bool Has(std::string_view key) const;
  std::optional<JsonNode> Find(std::string_view key) const;  // nullopt if absent or null
  StatusOr<JsonNode> Get(std::string_view key) const;        // error if absent or not an object
  std::vector<std::string> Keys() const;                     // sorted; empty unless object
  // Rejects keys outside `allowed` (catches typos such as "rate_rsp").
  Status CheckKnownKeys(std::initializer_list<std::string_view> allowed) const;

  // Arrays.
  size_t size() const;                               // elements of an array, 0 otherwise
  JsonNode At(size_t i) const;                       // precondition: IsArray() && i < size()
  StatusOr<std::vector<JsonNode>> Elements() const;  // error unless an array

  // Scalars, with the expected type named in the error.
  StatusOr<double> AsDouble(Bounds b = {}) const;
  StatusOr<int64_t> AsInt(Bounds b = {}) const;  // rejects non-integral numbers
  StatusOr<std::string> AsString() const;
  StatusOr<bool> AsBool() const;

  // Object fields: required (error if absent) and optional (default if absent or null).
  StatusOr<double> GetDouble(std::string_view key, Bounds b = {}) const;
  StatusOr<double> GetDoubleOr(std::string_view key, double def, Bounds b = {}) const;
  StatusOr<int64_t> GetInt(std::string_view key, Bounds b = {}) const;
  StatusOr<int64_t> GetIntOr(std::string_view key, int64_t def, Bounds b = {}) const;
  StatusOr<std::string> GetString(std::string_view key) const;
  StatusOr<std::string> GetStringOr(std::string_view key, std::string def) const;
  StatusOr<bool> GetBoolOr(std::string_view key, bool def) const;
  // A string field that must be one of `allowed`.
  StatusOr<std::string> GetEnum(std::string_view key,
                                std::initializer_list<std::string_view> allowed) const;
  StatusOr<std::string> GetEnumOr(std::string_view key, std::string def,
                                  std::initializer_list<std::string_view> allowed) const;

 private:
  friend class JsonDocument;
  struct Doc;
  // shared_ptr: nodes are cheap views that may outlive the JsonDocument they came from; the
  // parsed tree lives as long as any node refers to it.
  JsonNode(std::shared_ptr<const Doc> doc, const void* value, std::string path);
  JsonNode Child(const void* value, std::string path) const;

  std::shared_ptr<const Doc> doc_;
  const void* value_;  // the library's value type, opaque here
  std::string path_;
};

class JsonDocument {
 public:
  // Parses `text`; `source` names it in errors ("plan.json"). Syntax errors report
  // source:line:column. Nesting deeper than kMaxDepth is rejected.
  static StatusOr<JsonNode> Parse(std::string_view text, const std::string& source);
  static StatusOr<JsonNode> Load(const std::string& path);
  static constexpr int kMaxDepth = 256;
};

}  // namespace dynamo
