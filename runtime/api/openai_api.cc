#include "runtime/api/openai_api.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <exception>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/check.h"

namespace dynamo::api {
namespace {

using Json = nlohmann::json;

// ---------------------------------------------------------------------------------------------
// Output: JSON text built by hand (chunks are sent once per token; this keeps them to one
// allocation). Strings go through AppendJsonString, tested against nlohmann's parser.

// Length of the well-formed UTF-8 sequence starting at s[i] (Unicode Table 3-7), 0 if none.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const auto in = [](unsigned char c, unsigned char lo, unsigned char hi) {
    return c >= lo && c <= hi;
  };
  const unsigned char c = byte(i);
  const size_t left = s.size() - i;
  if (in(c, 0xC2, 0xDF)) return left >= 2 && in(byte(i + 1), 0x80, 0xBF) ? 2 : 0;
  if (in(c, 0xE0, 0xEF)) {
    if (left < 3) return 0;
    const unsigned char lo = c == 0xE0 ? 0xA0 : 0x80;
    const unsigned char hi = c == 0xED ? 0x9F : 0xBF;
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) ? 3 : 0;
  }
  if (in(c, 0xF0, 0xF4)) {
    if (left < 4) return 0;
    const unsigned char lo = c == 0xF0 ? 0x90 : 0x80;
    const unsigned char hi = c == 0xF4 ? 0x8F : 0xBF;
    return in(byte(i + 1), lo, hi) && in(byte(i + 2), 0x80, 0xBF) && in(byte(i + 3), 0x80, 0xBF)
               ? 4
               : 0;
  }
  return 0;
}

// Appends `s` as a quoted JSON string: escapes '"', '\\' and control characters, passes valid
// UTF-8 through and replaces each byte of an invalid sequence with U+FFFD.
void AppendJsonString(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t i = 0;
  const size_t n = s.size();
  while (i < n) {
    size_t run = i;  // plain printable ASCII is copied in one go
    while (run < n) {
      const auto c = static_cast<unsigned char>(s[run]);
      if (c < 0x20 || c == '"' || c == '\\' || c >= 0x80) break;
      ++run;
    }
    out.append(s.data() + i, run - i);
    i = run;
    if (i == n) break;
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x80) {
      const size_t len = Utf8SequenceLength(s, i);
      if (len == 0) {
        out.append("\xEF\xBF\xBD");  // U+FFFD REPLACEMENT CHARACTER
        ++i;
      } else {
        out.append(s.data() + i, len);
        i += len;
      }
      continue;
    }
    switch (c) {
      case '"':
        out.append("\\\"");
        break;
      case '\\':
        out.append("\\\\");
        break;
      case '\b':
        out.append("\\b");
        break;
      case '\f':
        out.append("\\f");
        break;
      case '\n':
        out.append("\\n");
        break;
      case '\r':
        out.append("\\r");
        break;
      case '\t':
        out.append("\\t");
        break;
      default:
        out.append("\\u00");
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    ++i;
  }
  out.push_back('"');
}

void AppendInt(std::string& out, int64_t v) {
  char buf[24];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, r.ptr);
}

void AppendUsage(std::string& out, const Usage& usage) {
  out.append("{\"prompt_tokens\":");
  AppendInt(out, usage.prompt_tokens);
  out.append(",\"completion_tokens\":");
  AppendInt(out, usage.completion_tokens);
  out.append(",\"total_tokens\":");
  AppendInt(out, usage.prompt_tokens + usage.completion_tokens);
  out.push_back('}');
}

// Room for the fixed text of a body or chunk (keys, usage, numbers) beyond its strings.
constexpr size_t kFixedJsonBytes = 256;

size_t Estimate(const ResponseMeta& meta, std::string_view text) {
  // Escaping rarely grows text by much; a rare regrowth is fine.
  return kFixedJsonBytes + meta.id.size() + meta.model.size() + text.size() + text.size() / 8;
}

// `{"id":...,"object":<object>,"created":...,"model":...,` (no closing brace).
void AppendHeader(std::string& out, const ResponseMeta& meta, std::string_view object) {
  out.append("{\"id\":");
  AppendJsonString(out, meta.id);
  out.append(",\"object\":\"");
  out.append(object);
  out.append("\",\"created\":");
  AppendInt(out, meta.created);
  out.append(",\"model\":");
  AppendJsonString(out, meta.model);
  out.push_back(',');
}

void AppendFinishReason(std::string& out, std::optional<std::string_view> finish_reason) {
  out.append(",\"finish_reason\":");
  if (finish_reason) {
    AppendJsonString(out, *finish_reason);
  } else {
    out.append("null");
  }
}

constexpr std::string_view kSseData = "data: ";
constexpr std::string_view kSseEnd = "\n\n";

// ---------------------------------------------------------------------------------------------
// Input: validation of a parsed body.

constexpr size_t kMaxQuotedValueBytes = 64;  // bad values quoted in messages are cut here
constexpr size_t kMaxParserDetailBytes = 200;

constexpr std::string_view kRoles[] = {"system", "user", "assistant", "tool", "developer"};
constexpr std::string_view kRoleList = "system, user, assistant, tool, developer";

// `s` cut to at most `limit` bytes plus "...", never inside a UTF-8 sequence.
std::string Truncated(std::string s, size_t limit) {
  if (s.size() > limit) {
    while (limit > 0 && (static_cast<unsigned char>(s[limit]) & 0xC0) == 0x80) --limit;
    s.resize(limit);
    s += "...";
  }
  return s;
}

std::string KindName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "array";
    case Json::value_t::object:
      return "object";
    default:
      return "value";
  }
}

// "string \"abc\"", "number 1.5", "boolean true", "null", "array", "object".
std::string Describe(const Json& v) {
  if (v.is_primitive() && !v.is_null()) {
    return KindName(v) + " " +
           Truncated(v.dump(-1, ' ', false, Json::error_handler_t::replace), kMaxQuotedValueBytes);
  }
  return KindName(v);
}

// The JSON text of a scalar for "<field>: <value> is ..." messages.
std::string Quote(const Json& v) {
  return Truncated(v.dump(-1, ' ', false, Json::error_handler_t::replace), kMaxQuotedValueBytes);
}

ApiError BadRequest(std::string param, std::string message) {
  ApiError e;
  e.http_status = 400;
  e.message = std::move(message);
  e.param = std::move(param);
  return e;
}

ApiError WrongType(const std::string& field, std::string_view expected, const Json& v) {
  return BadRequest(field, field + " must be " + std::string(expected) + ", got " + Describe(v));
}

ApiError OutOfRange(const std::string& field, const Json& v, std::string_view allowed) {
  return BadRequest(field,
                    field + ": " + Quote(v) + " is out of range; must be " + std::string(allowed));
}

ApiError Unsupported(const std::string& field, const Json& v, std::string_view fix) {
  return BadRequest(
      field, field + ": " + Quote(v) + " is not supported by this server; " + std::string(fix));
}

// The value of `key` in `object`, or nullptr when absent or null (null means "not given").
const Json* Find(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || it->is_null()) return nullptr;
  return &*it;
}

using MaybeError = std::optional<ApiError>;

// An integral JSON number (integral floats included) in [lo, hi]. Precondition: |lo|, |hi| <
// 2^53, so that the bounds are exact doubles and in-range doubles convert exactly.
MaybeError ReadInt(const Json& v, const std::string& field, int64_t lo, int64_t hi,
                   std::string_view allowed, int64_t& out) {
  constexpr int64_t kExactDouble = int64_t{1} << 53;
  DYNAMO_CHECK(lo > -kExactDouble && hi < kExactDouble && lo <= hi);
  if (v.is_number_unsigned()) {
    const auto u = v.get<uint64_t>();
    if (u > static_cast<uint64_t>(hi)) return OutOfRange(field, v, allowed);
    out = static_cast<int64_t>(u);
  } else if (v.is_number_integer()) {
    out = v.get<int64_t>();
  } else if (v.is_number_float()) {
    const auto d = v.get<double>();
    if (!std::isfinite(d) || d != std::floor(d)) return WrongType(field, "an integer", v);
    // Range check as doubles first: converting an out-of-range double is undefined.
    if (d < static_cast<double>(lo) || d > static_cast<double>(hi)) {
      return OutOfRange(field, v, allowed);
    }
    out = static_cast<int64_t>(d);
  } else {
    return WrongType(field, "an integer", v);
  }
  if (out < lo || out > hi) return OutOfRange(field, v, allowed);
  return std::nullopt;
}

MaybeError ReadNumber(const Json& v, const std::string& field, double& out) {
  if (!v.is_number()) return WrongType(field, "a number", v);
  out = v.get<double>();
  return std::nullopt;
}

MaybeError ReadBool(const Json& v, const std::string& field, bool& out) {
  if (!v.is_boolean()) return WrongType(field, "a boolean", v);
  out = v.get<bool>();
  return std::nullopt;
}

std::string Index(std::string_view field, size_t i) {
  return std::string(field) + "[" + std::to_string(i) + "]";
}

// An array of token ids, each in [0, kVocabSize), appended to `out`.
MaybeError ReadTokenIds(const Json& array, const std::string& field, std::vector<uint32_t>& out) {
  static const std::string kAllowed =
      "a token id in [0, " + std::to_string(MockTokenizer::kVocabSize) + ")";
  out.reserve(array.size());
  for (size_t i = 0; i < array.size(); ++i) {
    const Json& v = array[i];
    // Fast path (prompts can be 100k ids): the element's name is only built for an error.
    if (v.is_number_unsigned() && v.get<uint64_t>() < MockTokenizer::kVocabSize) {
      out.push_back(static_cast<uint32_t>(v.get<uint64_t>()));
      continue;
    }
    int64_t id = 0;
    if (auto e = ReadInt(v, Index(field, i), 0, MockTokenizer::kVocabSize - 1, kAllowed, id)) {
      return e;
    }
    out.push_back(static_cast<uint32_t>(id));
  }
  return std::nullopt;
}

MaybeError ReadPromptText(const Json& v, const std::string& field, const MockTokenizer& tokenizer,
                          std::vector<uint32_t>& out) {
  out = tokenizer.Encode(v.get_ref<const std::string&>());
  if (out.empty()) {
    return BadRequest(field, field + ": " + Quote(v) + " has no tokens; send a non-empty prompt");
  }
  return std::nullopt;
}

// Completions "prompt": a string, token ids, or a batch of exactly one of those.
MaybeError ReadPrompt(const Json& root, const MockTokenizer& tokenizer,
                      std::vector<uint32_t>& out) {
  const std::string field = "prompt";
  const Json* p = Find(root, "prompt");
  if (p == nullptr) {
    return BadRequest(field, "prompt is required: a string or an array of token ids");
  }
  if (p->is_string()) return ReadPromptText(*p, field, tokenizer, out);
  if (!p->is_array()) return WrongType(field, "a string or an array of token ids", *p);
  if (p->empty()) {
    return BadRequest(field, "prompt is an empty array; send a string or at least one token id");
  }
  const Json& first = (*p)[0];
  if (first.is_string() || first.is_array()) {
    if (p->size() > 1) {
      return BadRequest(field, "prompt: batches of " + std::to_string(p->size()) +
                                   " prompts are not supported; send one per request");
    }
    const std::string inner = Index(field, 0);
    if (first.is_string()) return ReadPromptText(first, inner, tokenizer, out);
    if (first.empty()) {
      return BadRequest(inner, inner + " is an empty array; send at least one token id");
    }
    return ReadTokenIds(first, inner, out);
  }
  if (!first.is_number()) {
    return WrongType(Index(field, 0), "a string, an array of token ids or a token id", first);
  }
  return ReadTokenIds(*p, field, out);
}

// One chat message's "content": a string, or text parts concatenated.
MaybeError ReadContent(const Json& content, const std::string& field, std::string& out) {
  if (content.is_string()) {
    out = content.get<std::string>();
    return std::nullopt;
  }
  if (!content.is_array()) return WrongType(field, "a string or an array of text parts", content);
  for (size_t k = 0; k < content.size(); ++k) {
    const Json& part = content[k];
    const std::string part_field = Index(field, k);
    if (!part.is_object()) {
      return WrongType(part_field, "an object {\"type\":\"text\",\"text\":...}", part);
    }
    const Json* type = Find(part, "type");
    if (type == nullptr) {
      return BadRequest(part_field + ".type",
                        part_field + ".type is required; only \"text\" parts are supported");
    }
    if (!type->is_string()) return WrongType(part_field + ".type", "a string", *type);
    if (type->get_ref<const std::string&>() != "text") {
      return BadRequest(part_field + ".type", part_field + ".type: " + Quote(*type) +
                                                  " is not supported; only \"text\" parts are");
    }
    const Json* text = Find(part, "text");
    if (text == nullptr) {
      return BadRequest(part_field + ".text", part_field + ".text is required for a text part");
    }
    if (!text->is_string()) return WrongType(part_field + ".text", "a string", *text);
    out += text->get_ref<const std::string&>();
  }
  return std::nullopt;
}

MaybeError ReadMessage(const Json& m, size_t i, ChatMessage& out) {
  const std::string field = Index("messages", i);
  if (!m.is_object()) return WrongType(field, "an object with \"role\" and \"content\"", m);
  const std::string role_field = field + ".role";
  const Json* role = Find(m, "role");
  if (role == nullptr) {
    return BadRequest(role_field,
                      role_field + " is required; use one of " + std::string(kRoleList));
  }
  if (!role->is_string()) return WrongType(role_field, "a string", *role);
  out.role = role->get<std::string>();
  bool known = false;
  for (std::string_view r : kRoles) known = known || r == out.role;
  if (!known) {
    return BadRequest(role_field, role_field + ": " + Quote(*role) +
                                      " is not a valid role; use one of " + std::string(kRoleList));
  }
  const std::string content_field = field + ".content";
  const Json* content = Find(m, "content");
  if (content == nullptr) {
    // An assistant turn that only made tool calls has no content.
    if (out.role == "assistant") return std::nullopt;
    return BadRequest(content_field, content_field + " is required for role " + out.role +
                                         ": a string or an array of text parts");
  }
  return ReadContent(*content, content_field, out.content);
}

MaybeError ReadMessages(const Json& root, const MockTokenizer& tokenizer,
                        std::vector<uint32_t>& out) {
  const std::string field = "messages";
  const Json* m = Find(root, "messages");
  if (m == nullptr) {
    return BadRequest(field, "messages is required: a non-empty array of {role, content} objects");
  }
  if (!m->is_array()) return WrongType(field, "a non-empty array of message objects", *m);
  if (m->empty()) return BadRequest(field, "messages is empty; send at least one message");
  std::vector<ChatMessage> messages(m->size());
  for (size_t i = 0; i < m->size(); ++i) {
    if (auto e = ReadMessage((*m)[i], i, messages[i])) return e;
  }
  out = tokenizer.EncodeChat(messages);
  return std::nullopt;
}

MaybeError ReadModel(const Json& root, const ParseOptions& options, std::string& out) {
  const Json* model = Find(root, "model");
  if (model == nullptr) {
    return BadRequest("model",
                      "model is required; this server serves `" + options.served_model + "`");
  }
  if (!model->is_string()) return WrongType("model", "a string", *model);
  out = model->get<std::string>();
  if (out != options.served_model) {
    ApiError e;
    e.http_status = 404;
    e.type = "not_found_error";
    e.param = "model";
    e.message = "The model `" + Truncated(out, kMaxQuotedValueBytes) +
                "` does not exist; this server serves `" + options.served_model + "`";
    return e;
  }
  return std::nullopt;
}

// The field that sets max_tokens (chat: max_completion_tokens wins), or "" when none is given.
MaybeError ReadMaxTokens(const Json& root, Endpoint endpoint, std::string& field, int32_t& out) {
  static const std::string kAllowed = "an integer in [1, 2147483647]";
  field.clear();
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (endpoint == Endpoint::kCompletions && std::string_view(key) != "max_tokens") continue;
    const Json* v = Find(root, key);
    if (v == nullptr) continue;
    int64_t m = 0;
    if (auto e = ReadInt(*v, key, 1, INT32_MAX, kAllowed, m)) return e;
    out = static_cast<int32_t>(m);
    field = key;  // the later key (max_completion_tokens) wins
  }
  return std::nullopt;
}

MaybeError ReadStreamOptions(const Json& root, GenerateRequest& r) {
  if (const Json* v = Find(root, "stream")) {
    if (auto e = ReadBool(*v, "stream", r.stream)) return e;
  }
  const Json* options = Find(root, "stream_options");
  if (options == nullptr) return std::nullopt;
  if (!options->is_object()) return WrongType("stream_options", "an object", *options);
  if (const Json* v = Find(*options, "include_usage")) {
    return ReadBool(*v, "stream_options.include_usage", r.include_usage);
  }
  return std::nullopt;
}

MaybeError ReadSampling(const Json& root, GenerateRequest& r) {
  if (const Json* v = Find(root, "temperature")) {
    if (auto e = ReadNumber(*v, "temperature", r.temperature)) return e;
    if (!(r.temperature >= 0 && r.temperature <= 2)) {
      return OutOfRange("temperature", *v, "a number in [0, 2]");
    }
  }
  if (const Json* v = Find(root, "top_p")) {
    if (auto e = ReadNumber(*v, "top_p", r.top_p)) return e;
    if (!(r.top_p > 0 && r.top_p <= 1)) return OutOfRange("top_p", *v, "a number in (0, 1]");
  }
  if (const Json* v = Find(root, "n")) {
    if (!v->is_number()) return WrongType("n", "an integer", *v);
    if (v->get<double>() != 1) return BadRequest("n", "n: only 1 is supported, got " + Quote(*v));
  }
  if (const Json* v = Find(root, "seed")) {
    static const std::string kAllowed = "an integer in [0, 18446744073709551615]";
    if (v->is_number_unsigned()) {
      r.seed = v->get<uint64_t>();
    } else if (v->is_number_integer()) {
      return OutOfRange("seed", *v, kAllowed);  // only negative values parse as signed
    } else if (v->is_number_float()) {
      const auto d = v->get<double>();
      if (!std::isfinite(d) || d != std::floor(d)) return WrongType("seed", "an integer", *v);
      if (d < 0 || d >= 18446744073709551616.0) return OutOfRange("seed", *v, kAllowed);
      r.seed = static_cast<uint64_t>(d);
    } else {
      return WrongType("seed", "an integer", *v);
    }
  }
  return std::nullopt;
}

// Fields accepted and ignored, or rejected when they ask for what the server does not do.
MaybeError ReadOtherFields(const Json& root, Endpoint endpoint, GenerateRequest& r) {
  if (const Json* v = Find(root, "stop")) {
    if (v->is_array()) {
      for (size_t i = 0; i < v->size(); ++i) {
        if (!(*v)[i].is_string()) return WrongType(Index("stop", i), "a string", (*v)[i]);
      }
    } else if (!v->is_string()) {
      return WrongType("stop", "a string or an array of strings", *v);
    }
  }
  if (endpoint == Endpoint::kCompletions) {
    if (const Json* v = Find(root, "echo")) {
      if (auto e = ReadBool(*v, "echo", r.echo)) return e;
      if (r.echo) return Unsupported("echo", *v, "omit it or set it to false");
    }
  }
  if (const Json* v = Find(root, "logprobs")) {
    if (!(v->is_boolean() && !v->get<bool>())) {
      return Unsupported("logprobs", *v, "omit it or set it to null");
    }
  }
  if (const Json* v = Find(root, "user")) {
    if (!v->is_string()) return WrongType("user", "a string", *v);
    r.request_id_hint = v->get<std::string>();
  }
  return std::nullopt;
}

// prompt + max_tokens must fit the context; an absent max_tokens is lowered to fit.
MaybeError CheckContext(Endpoint endpoint, const std::string& max_field,
                        const ParseOptions& options, GenerateRequest& r) {
  const auto prompt = static_cast<int64_t>(r.prompt_tokens.size());
  const int64_t context = options.max_model_len;
  if (max_field.empty() && prompt < context) {
    r.max_tokens = static_cast<int32_t>(std::min<int64_t>(r.max_tokens, context - prompt));
  }
  if (prompt + r.max_tokens <= context) return std::nullopt;
  const std::string name = max_field.empty() ? "max_tokens" : max_field;
  const std::string param =
      !max_field.empty() ? max_field : (endpoint == Endpoint::kCompletions ? "prompt" : "messages");
  const std::string p = std::to_string(prompt);
  const std::string m = std::to_string(r.max_tokens);
  return BadRequest(param, "prompt has " + p + " tokens and " + name + " is " + m + ": " + p +
                               " + " + m + " exceeds the model's context of " +
                               std::to_string(context) + " tokens; shorten the prompt or lower " +
                               name);
}

// nlohmann's message without its "[json.exception.<kind>.<id>] " prefix, cut to a bounded
// length and reduced to printable ASCII (it quotes the bytes last read, which may be anything).
std::string ParserDetail(std::string_view what) {
  if (what.rfind("[json.exception", 0) == 0) {
    if (const size_t bracket = what.find("] "); bracket != std::string_view::npos) {
      what.remove_prefix(bracket + 2);
    }
  }
  std::string printable;
  for (const char c : Truncated(std::string(what), kMaxParserDetailBytes)) {
    const auto u = static_cast<unsigned char>(c);
    if (u >= 0x20 && u < 0x7f) {
      printable.push_back(c);
    } else {
      static constexpr char kHex[] = "0123456789abcdef";
      printable += "\\x";
      printable.push_back(kHex[u >> 4]);
      printable.push_back(kHex[u & 0xF]);
    }
  }
  return printable;
}

// "parse error at byte offset N: <detail>".
std::string ParseErrorText(const Json::parse_error& e) {
  std::string_view detail = e.what();
  // "[json.exception.parse_error.101] parse error at line 1, column 2: <detail>"
  if (const size_t bracket = detail.find("] "); bracket != std::string_view::npos) {
    detail.remove_prefix(bracket + 2);
  }
  if (detail.rfind("parse error", 0) == 0) {
    if (const size_t colon = detail.find(": "); colon != std::string_view::npos) {
      detail.remove_prefix(colon + 2);
    }
  }
  // nlohmann counts bytes from 1 (end of input is size + 1); report a 0-based offset.
  const size_t offset = e.byte > 0 ? e.byte - 1 : 0;
  return "parse error at byte offset " + std::to_string(offset) + ": " + ParserDetail(detail);
}

ParseResult Validate(Endpoint endpoint, const Json& root, const ParseOptions& options) {
  if (!root.is_object()) {
    return BadRequest("", "request body must be a JSON object, got " + Describe(root));
  }
  GenerateRequest r;
  r.endpoint = endpoint;
  r.max_tokens = options.default_max_tokens;
  std::string max_field;
  MaybeError e = ReadModel(root, options, r.model);
  if (!e) {
    e = endpoint == Endpoint::kCompletions
            ? ReadPrompt(root, *options.tokenizer, r.prompt_tokens)
            : ReadMessages(root, *options.tokenizer, r.prompt_tokens);
  }
  if (!e) e = ReadMaxTokens(root, endpoint, max_field, r.max_tokens);
  if (!e) e = ReadStreamOptions(root, r);
  if (!e) e = ReadSampling(root, r);
  if (!e) e = ReadOtherFields(root, endpoint, r);
  if (!e) e = CheckContext(endpoint, max_field, options, r);
  if (e) return std::move(*e);
  return r;
}

}  // namespace

ParseResult ParseGenerateRequest(Endpoint endpoint, std::string_view body,
                                 const ParseOptions& options) {
  DYNAMO_CHECK(options.tokenizer != nullptr);
  DYNAMO_CHECK(options.default_max_tokens >= 1);
  try {
    Json root;
    try {
      root = Json::parse(body.begin(), body.end());
    } catch (const Json::parse_error& e) {
      return BadRequest("", "request body is not valid JSON: " + ParseErrorText(e));
    } catch (const Json::exception& e) {  // e.g. out_of_range.406: number too large
      return BadRequest("", "request body is not valid JSON: " + ParserDetail(e.what()));
    }
    return Validate(endpoint, root, options);
  } catch (const std::exception& e) {  // out of memory; validation itself does not throw
    ApiError error;
    error.http_status = 500;
    error.type = "server_error";
    error.message = std::string("internal error while reading the request: ") + e.what();
    return error;
  }
}

std::string ErrorBody(const ApiError& error) {
  std::string out;
  out.reserve(kFixedJsonBytes + error.message.size() + error.param.size());
  out.append("{\"error\":{\"message\":");
  AppendJsonString(out, error.message);
  out.append(",\"type\":");
  AppendJsonString(out, error.type);
  out.append(",\"param\":");
  if (error.param.empty()) {
    out.append("null");
  } else {
    AppendJsonString(out, error.param);
  }
  out.append(",\"code\":");
  AppendInt(out, error.http_status);
  out.append("}}");
  return out;
}

std::string ErrorBody(int http_status, std::string_view message, std::string_view type) {
  ApiError error;
  error.http_status = http_status;
  error.message = std::string(message);
  error.type = std::string(type);
  return ErrorBody(error);
}

std::string CompletionBody(const ResponseMeta& meta, std::string_view text, const Usage& usage,
                           std::string_view finish_reason) {
  std::string out;
  out.reserve(Estimate(meta, text));
  AppendHeader(out, meta, "text_completion");
  out.append("\"choices\":[{\"index\":0,\"text\":");
  AppendJsonString(out, text);
  out.append(",\"logprobs\":null");
  AppendFinishReason(out, finish_reason);
  out.append("}],\"usage\":");
  AppendUsage(out, usage);
  out.push_back('}');
  return out;
}

std::string ChatBody(const ResponseMeta& meta, std::string_view text, const Usage& usage,
                     std::string_view finish_reason) {
  std::string out;
  out.reserve(Estimate(meta, text));
  AppendHeader(out, meta, "chat.completion");
  out.append("\"choices\":[{\"index\":0,\"message\":{\"role\":\"assistant\",\"content\":");
  AppendJsonString(out, text);
  out.push_back('}');
  AppendFinishReason(out, finish_reason);
  out.append("}],\"usage\":");
  AppendUsage(out, usage);
  out.push_back('}');
  return out;
}

std::string CompletionChunk(const ResponseMeta& meta, std::string_view text,
                            std::optional<std::string_view> finish_reason, const Usage* usage) {
  std::string out;
  out.reserve(Estimate(meta, text));
  out.append(kSseData);
  AppendHeader(out, meta, "text_completion");
  out.append("\"choices\":[{\"index\":0,\"text\":");
  AppendJsonString(out, text);
  out.append(",\"logprobs\":null");
  AppendFinishReason(out, finish_reason);
  out.append("}]");
  if (usage != nullptr) {
    out.append(",\"usage\":");
    AppendUsage(out, *usage);
  }
  out.push_back('}');
  out.append(kSseEnd);
  return out;
}

std::string ChatChunk(const ResponseMeta& meta, std::string_view text, bool first,
                      std::optional<std::string_view> finish_reason, const Usage* usage) {
  std::string out;
  out.reserve(Estimate(meta, text));
  out.append(kSseData);
  AppendHeader(out, meta, "chat.completion.chunk");
  out.append("\"choices\":[{\"index\":0,\"delta\":{");
  if (first) out.append("\"role\":\"assistant\"");
  if (first || !text.empty()) {
    if (first) out.push_back(',');
    out.append("\"content\":");
    AppendJsonString(out, text);
  }
  out.push_back('}');
  AppendFinishReason(out, finish_reason);
  out.append("}]");
  if (usage != nullptr) {
    out.append(",\"usage\":");
    AppendUsage(out, *usage);
  }
  out.push_back('}');
  out.append(kSseEnd);
  return out;
}

std::string UsageChunk(Endpoint endpoint, const ResponseMeta& meta, const Usage& usage) {
  std::string out;
  out.reserve(Estimate(meta, {}));
  out.append(kSseData);
  AppendHeader(out, meta,
               endpoint == Endpoint::kCompletions ? "text_completion" : "chat.completion.chunk");
  out.append("\"choices\":[],\"usage\":");
  AppendUsage(out, usage);
  out.push_back('}');
  out.append(kSseEnd);
  return out;
}

std::string_view DoneEvent() { return "data: [DONE]\n\n"; }

std::string ModelsBody(std::string_view model, int64_t created) {
  std::string out;
  out.reserve(kFixedJsonBytes + model.size());
  out.append("{\"object\":\"list\",\"data\":[{\"id\":");
  AppendJsonString(out, model);
  out.append(",\"object\":\"model\",\"created\":");
  AppendInt(out, created);
  out.append(",\"owned_by\":\"dynamo-run\"}]}");
  return out;
}

}  // namespace dynamo::api
