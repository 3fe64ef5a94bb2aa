#include "configurator/yaml_writer.h"

#include <array>
#include <charconv>
#include <cmath>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/check.h"

namespace dynamo::configurator {
namespace {

constexpr int kIndentStep = 2;

// ---- UTF-8 -------------------------------------------------------------------------------

// Length of the well-formed UTF-8 sequence starting at s[i] and its code point; 0 when the bytes
// there are not well-formed (stray continuation, overlong form, surrogate, beyond U+10FFFF).
int DecodeUtf8(std::string_view s, size_t i, uint32_t* cp) {
  const auto b0 = static_cast<unsigned char>(s[i]);
  if (b0 < 0x80) {
    *cp = b0;
    return 1;
  }
  int len = 0;
  uint32_t v = 0, min = 0;
  if ((b0 & 0xE0) == 0xC0) {
    len = 2, v = b0 & 0x1F, min = 0x80;
  } else if ((b0 & 0xF0) == 0xE0) {
    len = 3, v = b0 & 0x0F, min = 0x800;
  } else if ((b0 & 0xF8) == 0xF0) {
    len = 4, v = b0 & 0x07, min = 0x10000;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (int k = 1; k < len; ++k) {
    const auto b = static_cast<unsigned char>(s[i + k]);
    if ((b & 0xC0) != 0x80) return 0;
    v = (v << 6) | (b & 0x3F);
  }
  if (v < min || v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) return 0;
  *cp = v;
  return len;
}

// Code points a YAML reader rejects or treats as a line break inside a plain or literal scalar:
// C0 controls (tab and newline are handled by the callers), DEL, C1 controls (U+0085 NEL is a
// YAML 1.1 line break), the line/paragraph separators and the byte-order mark.
bool IsSpecialCodePoint(uint32_t cp) {
  return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F) || cp == 0x2028 || cp == 0x2029 ||
         cp == 0xFEFF || cp == 0xFFFE || cp == 0xFFFF;
}

// True when `s` is well-formed UTF-8 without special code points (tab and '\n' allowed when
// `allow_tab_newline`).
bool IsCleanText(std::string_view s, bool allow_tab_newline) {
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const int n = DecodeUtf8(s, i, &cp);
    if (n == 0) return false;
    if (IsSpecialCodePoint(cp) && !(allow_tab_newline && (cp == '\t' || cp == '\n'))) {
      return false;
    }
    i += n;
  }
  return true;
}

std::string Hex2(uint32_t v) {
  static constexpr char kDigits[] = "0123456789ABCDEF";
  return {kDigits[(v >> 4) & 0xF], kDigits[v & 0xF]};
}

// Double-quoted scalar. Bytes that are not well-formed UTF-8 cannot appear in a YAML stream;
// they are written as \xNN (read back as U+00NN: lossy, but the file stays valid).
std::string DoubleQuoted(std::string_view s) {
  std::string out = "\"";
  for (size_t i = 0; i < s.size();) {
    uint32_t cp = 0;
    const int n = DecodeUtf8(s, i, &cp);
    if (n == 0) {
      out += "\\x" + Hex2(static_cast<unsigned char>(s[i]));
      ++i;
      continue;
    }
    switch (cp) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\0':
        out += "\\0";
        break;
      case '\a':
        out += "\\a";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\v':
        out += "\\v";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\r':
        out += "\\r";
        break;
      case 0x1B:
        out += "\\e";
        break;
      case 0x85:
        out += "\\N";
        break;
      case 0x2028:
        out += "\\L";
        break;
      case 0x2029:
        out += "\\P";
        break;
      default:
        if (cp < 0x100 && IsSpecialCodePoint(cp)) {
          out += "\\x" + Hex2(cp);
        } else if (IsSpecialCodePoint(cp)) {
          out += "\\u" + Hex2(cp >> 8) + Hex2(cp);
        } else {
          out.append(s.substr(i, n));
        }
    }
    i += n;
  }
  return out + "\"";
}

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return out;
}

bool IsDigit(char c) { return c >= '0' && c <= '9'; }

// Would a YAML 1.1 or 1.2 reader resolve this plain scalar to null, a bool or a number (int,
// float, YAML 1.1 sexagesimal or a timestamp)? Conservative: anything that starts like a number
// counts ("4Gi" is quoted although it would stay a string).
bool ResolvesToNonString(std::string_view s) {
  static constexpr std::array<std::string_view, 12> kWords = {
      "null", "~", "true", "false", "yes", "no", "on", "off", "y", "n", "<<", "="};
  const std::string lower = Lower(s);
  for (std::string_view w : kWords) {
    if (lower == w) return true;
  }
  std::string_view rest = s;
  if (!rest.empty() && (rest[0] == '+' || rest[0] == '-')) rest.remove_prefix(1);
  if (rest.empty()) return false;
  if (IsDigit(rest[0])) return true;
  if (rest[0] == '.') {
    if (rest.size() > 1 && IsDigit(rest[1])) return true;
    const std::string r = Lower(rest);
    if (r == ".inf" || r == ".nan") return true;
  }
  return false;
}

bool IsFlowOrSpace(char c) { return c == ' ' || c == '\t'; }

}  // namespace

// ---- Quoting ----------------------------------------------------------------------------

bool YamlNeedsQuotes(std::string_view s) {
  if (s.empty()) return true;
  if (!IsCleanText(s, /*allow_tab_newline=*/false)) return true;
  if (s.find('\t') != std::string_view::npos) return true;
  if (IsFlowOrSpace(s.front()) || IsFlowOrSpace(s.back())) return true;
  if (ResolvesToNonString(s)) return true;
  // Indicators that start a structure, an alias, a tag, a block scalar, a directive, or are
  // reserved. '-', '?' and ':' may start a plain scalar when a non-space follows ("--model").
  static constexpr std::string_view kAlwaysSpecial = ",[]{}#&*!|>'\"%@`";
  if (kAlwaysSpecial.find(s.front()) != std::string_view::npos) return true;
  if (s.front() == '-' || s.front() == '?' || s.front() == ':') {
    if (s.size() == 1 || IsFlowOrSpace(s[1])) return true;
  }
  // Document markers.
  if (s.substr(0, 3) == "---" || s.substr(0, 3) == "...") return true;
  // A mapping value indicator or a comment inside the scalar.
  if (s.find(": ") != std::string_view::npos || s.back() == ':') return true;
  if (s.find('#') != std::string_view::npos) return true;
  return false;
}

std::string QuoteYamlScalar(std::string_view s) {
  return YamlNeedsQuotes(s) ? DoubleQuoted(s) : std::string(s);
}

std::string YamlDouble(double v) {
  if (std::isnan(v)) return ".nan";
  if (std::isinf(v)) return v > 0 ? ".inf" : "-.inf";
  std::array<char, 64> buf{};
  auto [end, ec] = std::to_chars(buf.data(), buf.data() + buf.size(), v);
  DYNAMO_CHECK(ec == std::errc());
  std::string s(buf.data(), end);
  // YAML 1.1 floats need a '.' in the mantissa ("1e-05" would read as a string).
  const size_t e = s.find_first_of("eE");
  const std::string mantissa = s.substr(0, e);
  if (mantissa.find('.') == std::string::npos) {
    s.insert(e == std::string::npos ? s.size() : e, ".0");
  }
  return s;
}

// ---- YamlNode ------------------------------------------------------------------------------

YamlNode YamlNode::Bool(bool v) {
  YamlNode n;
  n.kind_ = Kind::kBool;
  n.bool_ = v;
  return n;
}
YamlNode YamlNode::Int(int64_t v) {
  YamlNode n;
  n.kind_ = Kind::kInt;
  n.int_ = v;
  return n;
}
YamlNode YamlNode::Double(double v) {
  YamlNode n;
  n.kind_ = Kind::kDouble;
  n.double_ = v;
  return n;
}
YamlNode YamlNode::Str(std::string v) {
  YamlNode n;
  n.kind_ = Kind::kString;
  n.string_ = std::move(v);
  return n;
}
YamlNode YamlNode::Seq() {
  YamlNode n;
  n.kind_ = Kind::kSeq;
  return n;
}
YamlNode YamlNode::Map() {
  YamlNode n;
  n.kind_ = Kind::kMap;
  return n;
}
YamlNode YamlNode::StrSeq(const std::vector<std::string>& items) {
  YamlNode n = Seq();
  for (const std::string& s : items) n.Append(Str(s));
  return n;
}

YamlNode& YamlNode::Set(std::string key, YamlNode value) {
  DYNAMO_CHECK(kind_ == Kind::kMap);
  DYNAMO_CHECK(Find(key) == nullptr);
  entries_.push_back(Entry{std::move(key), std::move(value)});
  return entries_.back().value;
}

const YamlNode* YamlNode::Find(std::string_view key) const {
  if (kind_ != Kind::kMap) return nullptr;
  for (const Entry& e : entries_) {
    if (e.key == key) return &e.value;
  }
  return nullptr;
}

YamlNode* YamlNode::Find(std::string_view key) {
  return const_cast<YamlNode*>(static_cast<const YamlNode*>(this)->Find(key));
}

YamlNode& YamlNode::Append(YamlNode value) {
  DYNAMO_CHECK(kind_ == Kind::kSeq);
  items_.push_back(std::move(value));
  return items_.back();
}

size_t YamlNode::size() const {
  if (kind_ == Kind::kMap) return entries_.size();
  if (kind_ == Kind::kSeq) return items_.size();
  return 0;
}

bool YamlNode::bool_value() const {
  DYNAMO_CHECK(kind_ == Kind::kBool);
  return bool_;
}
int64_t YamlNode::int_value() const {
  DYNAMO_CHECK(kind_ == Kind::kInt);
  return int_;
}
double YamlNode::double_value() const {
  DYNAMO_CHECK(kind_ == Kind::kDouble);
  return double_;
}
const std::string& YamlNode::string_value() const {
  DYNAMO_CHECK(kind_ == Kind::kString);
  return string_;
}

YamlNode& YamlNode::WithComment(std::string text) {
  comment_ = std::move(text);
  return *this;
}

// ---- Emitter -------------------------------------------------------------------------------
namespace {

void EmitComment(const std::string& comment, int indent, std::string* out) {
  if (comment.empty()) return;
  size_t start = 0;
  while (start <= comment.size()) {
    const size_t end = std::min(comment.find('\n', start), comment.size());
    const std::string_view line = std::string_view(comment).substr(start, end - start);
    out->append(static_cast<size_t>(indent), ' ');
    *out += line.empty() ? "#" : "# " + std::string(line);
    *out += '\n';
    start = end + 1;
  }
}

// A multi-line string that a literal block keeps byte for byte: clean text, and a first line
// that does not start with a space or a line break (it would need an indentation indicator).
bool FitsLiteralBlock(const std::string& s) {
  if (s.find('\n') == std::string::npos) return false;
  if (s.front() == ' ' || s.front() == '\n' || s.front() == '\t') return false;
  return IsCleanText(s, /*allow_tab_newline=*/true) && s.find('\t') == std::string::npos;
}

// "|" keeps one final line break, "|-" none, "|+" all of them.
void EmitLiteralBlock(const std::string& s, int indent, std::string* out) {
  size_t trailing = 0;
  while (trailing < s.size() && s[s.size() - 1 - trailing] == '\n') ++trailing;
  *out += trailing == 0 ? " |-\n" : trailing == 1 ? " |\n" : " |+\n";
  const std::string_view body = std::string_view(s).substr(0, s.size() - trailing);
  size_t start = 0;
  while (start <= body.size()) {
    const size_t end = std::min(body.find('\n', start), body.size());
    const std::string_view line = body.substr(start, end - start);
    if (!line.empty()) {
      out->append(static_cast<size_t>(indent), ' ');
      out->append(line);
    }
    *out += '\n';
    start = end + 1;
  }
  // "|+" keeps the extra final line breaks as empty lines.
  for (size_t k = 1; k < trailing; ++k) *out += '\n';
}

std::string ScalarText(const YamlNode& n) {
  switch (n.kind()) {
    case YamlNode::Kind::kNull:
      return "null";
    case YamlNode::Kind::kBool:
      return n.bool_value() ? "true" : "false";
    case YamlNode::Kind::kInt:
      return std::to_string(n.int_value());
    case YamlNode::Kind::kDouble:
      return YamlDouble(n.double_value());
    case YamlNode::Kind::kString:
      return QuoteYamlScalar(n.string_value());
    case YamlNode::Kind::kSeq:
    case YamlNode::Kind::kMap:
      break;
  }
  DYNAMO_CHECK(false);
  return "";
}

void EmitMap(const YamlNode& map, int indent, bool first_inline, std::string* out);
void EmitSeq(const YamlNode& seq, int indent, bool first_inline, std::string* out);

// The value after "key:" or "-": scalars and empty collections on the same line, literal blocks
// and non-empty collections on the following lines at `child_indent`.
void EmitValue(const YamlNode& v, int child_indent, std::string* out) {
  if (v.kind() == YamlNode::Kind::kString && FitsLiteralBlock(v.string_value())) {
    EmitLiteralBlock(v.string_value(), child_indent, out);
  } else if (v.IsScalar()) {
    *out += ' ' + ScalarText(v) + '\n';
  } else if (v.size() == 0) {
    *out += v.IsMap() ? " {}\n" : " []\n";
  } else {
    *out += '\n';
    if (v.IsMap()) {
      EmitMap(v, child_indent, /*first_inline=*/false, out);
    } else {
      EmitSeq(v, child_indent, /*first_inline=*/false, out);
    }
  }
}

// Entries at `indent`. With `first_inline` the first entry continues the current line (after
// "- "), and its comment has already been written.
void EmitMap(const YamlNode& map, int indent, bool first_inline, std::string* out) {
  bool first = true;
  for (const YamlNode::Entry& e : map.entries()) {
    if (!(first && first_inline)) {
      EmitComment(e.value.comment(), indent, out);
      out->append(static_cast<size_t>(indent), ' ');
    }
    first = false;
    *out += QuoteYamlScalar(e.key) + ':';
    EmitValue(e.value, indent + kIndentStep, out);
  }
}

void EmitSeq(const YamlNode& seq, int indent, bool first_inline, std::string* out) {
  bool first = true;
  for (const YamlNode& item : seq.items()) {
    const bool inline_here = first && first_inline;
    first = false;
    const bool nested = !item.IsScalar() && item.size() > 0;
    if (!inline_here) {
      EmitComment(item.comment(), indent, out);
      // A map item starts on the dash line: its first entry's comment goes above the dash.
      if (item.IsMap() && nested) EmitComment(item.entries().front().value.comment(), indent, out);
      out->append(static_cast<size_t>(indent), ' ');
    }
    *out += '-';
    if (nested) {
      *out += ' ';
      if (item.IsMap()) {
        EmitMap(item, indent + kIndentStep, /*first_inline=*/true, out);
      } else {
        EmitSeq(item, indent + kIndentStep, /*first_inline=*/true, out);
      }
    } else {
      EmitValue(item, indent + kIndentStep, out);
    }
  }
}

YamlNode FromJson(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null:
      return YamlNode();
    case nlohmann::ordered_json::value_t::boolean:
      return YamlNode::Bool(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer:
      return YamlNode::Int(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: {
      const auto u = j.get<uint64_t>();
      if (u <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
        return YamlNode::Int(static_cast<int64_t>(u));
      }
      return YamlNode::Double(static_cast<double>(u));
    }
    case nlohmann::ordered_json::value_t::number_float:
      return YamlNode::Double(j.get<double>());
    case nlohmann::ordered_json::value_t::string:
      return YamlNode::Str(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      YamlNode seq = YamlNode::Seq();
      for (const auto& x : j) seq.Append(FromJson(x));
      return seq;
    }
    case nlohmann::ordered_json::value_t::object: {
      YamlNode map = YamlNode::Map();
      for (const auto& [k, v] : j.items()) map.Set(k, FromJson(v));
      return map;
    }
    case nlohmann::ordered_json::value_t::binary:
    case nlohmann::ordered_json::value_t::discarded:
      break;
  }
  return YamlNode();
}

}  // namespace

std::string EmitYaml(const YamlNode& doc) {
  std::string out;
  EmitComment(doc.comment(), 0, &out);
  if (doc.IsMap() && doc.size() > 0) {
    EmitMap(doc, 0, /*first_inline=*/false, &out);
  } else if (doc.IsSeq() && doc.size() > 0) {
    EmitSeq(doc, 0, /*first_inline=*/false, &out);
  } else if (doc.IsScalar()) {
    out += ScalarText(doc) + '\n';
  } else {
    out += doc.IsMap() ? "{}\n" : "[]\n";
  }
  return out;
}

std::string EmitYamlDocuments(const std::vector<YamlNode>& docs) {
  std::string out;
  for (const YamlNode& d : docs) out += "---\n" + EmitYaml(d);
  return out;
}

StatusOr<YamlNode> YamlFromJson(std::string_view json_text) {
  nlohmann::ordered_json j = nlohmann::ordered_json::parse(json_text, nullptr,
                                                           /*allow_exceptions=*/false);
  if (j.is_discarded()) return InvalidArgument("YamlFromJson: the text is not valid JSON");
  return FromJson(j);
}

}  // namespace dynamo::configurator
