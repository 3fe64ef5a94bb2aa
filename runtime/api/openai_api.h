#pragma once
// The OpenAI-compatible HTTP API of dynamo-run's frontend, as pure functions: request bodies of
// POST /v1/completions and /v1/chat/completions are parsed and validated into a GenerateRequest
// (or an ApiError carrying the HTTP status and an OpenAI-shaped message); responses, SSE chunks,
// errors and GET /v1/models are rendered as JSON text.
//
// No sockets, clocks or threads: ids and timestamps come from the caller. JSON stays in the .cc.
// All functions are thread-safe (no shared state). Output strings are valid JSON with any bytes
// escaped as JSON requires; invalid UTF-8 in the inputs is replaced with U+FFFD.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "runtime/api/mock_tokenizer.h"

namespace dynamo::api {

enum class Endpoint : uint8_t { kCompletions, kChatCompletions };

// How requests are validated. `tokenizer` must outlive the ParseGenerateRequest call.
struct ParseOptions {
  std::string served_model;         // the one model name served (requests must name it)
  int32_t default_max_tokens = 16;  // when max_tokens (or max_completion_tokens) is absent
  int32_t max_model_len = 131072;   // prompt + max_tokens must fit: else 400 naming both numbers
  const MockTokenizer* tokenizer = nullptr;  // required
};

// One validated generation request.
struct GenerateRequest {
  Endpoint endpoint = Endpoint::kCompletions;
  std::string model;
  std::vector<uint32_t> prompt_tokens;  // non-empty
  int32_t max_tokens = 16;              // >= 1
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  double temperature = 1.0;    // accepted, validated [0, 2], unused by the mock engine
  double top_p = 1.0;          // (0, 1]
  std::optional<uint64_t> seed;
  bool echo = false;            // completions only; echo=true is rejected with 400 (unsupported)
  std::string request_id_hint;  // "user" field, kept for logs
};

// A rejected request, in OpenAI's error shape.
struct ApiError {
  int http_status = 400;
  std::string message;                         // names the field, the bad value and what is allowed
  std::string type = "invalid_request_error";  // or "not_found_error" (404 model), "server_error"
  std::string param;  // JSON field, "" when none (e.g. "max_tokens", "messages[1].content")
};

// Parses and validates one request body. Never throws; any bytes in `body` give either a request
// or an error. Rules:
//  - body must be a JSON object: else 400 "request body is not valid JSON: parse error at byte
//    offset N: <parser message, printable ASCII>" or "request body must be a JSON object, got
//    <kind>".
//  - "model": required string; != served_model -> 404 type not_found_error
//    "The model `x` does not exist; this server serves `y`" (param "model").
//  - completions "prompt": string (tokenized), array of integers (token ids, each in
//    [0, MockTokenizer::kVocabSize)), or an array of exactly one string / one int array; no
//    tokens -> 400; several prompts -> 400 "prompt: batches of N prompts are not supported; send
//    one per request".
//  - chat "messages": non-empty array of objects with string "role" in {system, user, assistant,
//    tool, developer} and "content" a string or an array of {"type":"text","text":...} parts
//    (concatenated); content may be null or absent only for role assistant. Errors name
//    "messages[i].role" etc.
//  - "max_tokens" / "max_completion_tokens" (chat; wins over max_tokens when both are given):
//    integer in [1, 2^31-1]; "stream": bool; "stream_options": object with optional bool
//    "include_usage"; "temperature": number in [0, 2]; "top_p": number in (0, 1]; "n": only 1;
//    "seed": integer in [0, 2^64-1]; "stop": string or array of strings, ignored; "echo"
//    (completions): bool, true -> 400 unsupported; "logprobs": null or false, else 400
//    unsupported; "user": string, kept in request_id_hint.
//  - null for an optional field means absent; unknown fields are ignored (OpenAI clients send
//    extras); wrong JSON types for known fields -> 400 "<field> must be <what>, got <kind>
//    <value>". Integral floats (16.0) count as integers.
//  - prompt tokens + max_tokens > max_model_len -> 400 "prompt has P tokens and max_tokens is M:
//    P + M exceeds the model's context of L tokens; shorten the prompt or lower max_tokens". When
//    max_tokens is absent the default is lowered to fit the context (so it only fails when the
//    prompt alone fills the context).
// Precondition: options.tokenizer != nullptr.
using ParseResult = std::variant<GenerateRequest, ApiError>;
ParseResult ParseGenerateRequest(Endpoint endpoint, std::string_view body,
                                 const ParseOptions& options);

// {"error":{"message":...,"type":...,"param":...|null,"code":<http_status>}} (param null when "").
std::string ErrorBody(const ApiError& error);
std::string ErrorBody(int http_status, std::string_view message,
                      std::string_view type = "invalid_request_error");

// What every response of one request carries.
struct ResponseMeta {
  std::string id;  // "cmpl-<hex>" / "chatcmpl-<hex>", chosen by the caller
  std::string model;
  int64_t created = 0;  // unix seconds, chosen by the caller
};

// Token counts of one request; rendered with total_tokens = prompt + completion.
struct Usage {
  int64_t prompt_tokens = 0;
  int64_t completion_tokens = 0;
};

// finish_reason: "length" or "stop" (or "error"/"cancelled", never sent to clients).
// Non-streaming bodies, OpenAI shapes: object "text_completion" with choices[{index, text,
// logprobs:null, finish_reason}], or "chat.completion" with choices[{index, message{role:
// "assistant", content}, finish_reason}]; both with "usage":{prompt_tokens, completion_tokens,
// total_tokens}.
std::string CompletionBody(const ResponseMeta& meta, std::string_view text, const Usage& usage,
                           std::string_view finish_reason);
std::string ChatBody(const ResponseMeta& meta, std::string_view text, const Usage& usage,
                     std::string_view finish_reason);

// One SSE event for a streaming chunk: "data: {json}\n\n". Completions chunks: object
// "text_completion", choices[{index:0, text, logprobs:null, finish_reason: null|"length"|...}].
// Chat chunks: object "chat.completion.chunk", choices[{index:0, delta:{...}, finish_reason}];
// the first chunk's delta has "role":"assistant" (first=true); delta has "content" when `text` is
// non-empty or first=true (a final empty chunk has delta {}). When `usage` is non-null the chunk
// carries "usage". One allocation per call (the returned string).
std::string CompletionChunk(const ResponseMeta& meta, std::string_view text,
                            std::optional<std::string_view> finish_reason, const Usage* usage);
std::string ChatChunk(const ResponseMeta& meta, std::string_view text, bool first,
                      std::optional<std::string_view> finish_reason, const Usage* usage);

// OpenAI's stream_options.include_usage chunk: "choices":[] and "usage", with the endpoint's
// chunk object name ("text_completion" / "chat.completion.chunk"). SSE-framed like the chunks.
std::string UsageChunk(Endpoint endpoint, const ResponseMeta& meta, const Usage& usage);

// "data: [DONE]\n\n" (a view of a static string).
std::string_view DoneEvent();

// GET /v1/models: {"object":"list","data":[{"id":model,"object":"model","created":created,
// "owned_by":"dynamo-run"}]}
std::string ModelsBody(std::string_view model, int64_t created);

}  // namespace dynamo::api
