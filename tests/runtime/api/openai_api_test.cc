#include "runtime/api/openai_api.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <nlohmann/json.hpp>
#include <random>
#include <string>
#include <variant>
#include <vector>

namespace dynamo::api {
namespace {

using Json = nlohmann::json;

constexpr const char* kModel = "mock-model";

const MockTokenizer& Tokenizer() {
  static const MockTokenizer tokenizer;
  return tokenizer;
}

ParseOptions Options(int32_t max_model_len = 131072) {
  ParseOptions o;
  o.served_model = kModel;
  o.tokenizer = &Tokenizer();
  o.max_model_len = max_model_len;
  return o;
}

// Parses `body`, expecting success.
GenerateRequest Ok(Endpoint endpoint, const std::string& body, const ParseOptions& o = Options()) {
  ParseResult r = ParseGenerateRequest(endpoint, body, o);
  if (const auto* e = std::get_if<ApiError>(&r)) {
    ADD_FAILURE() << body << "\n -> " << e->http_status << " " << e->message;
    return {};
  }
  return std::get<GenerateRequest>(r);
}

// Parses `body`, expecting an error.
ApiError Err(Endpoint endpoint, const std::string& body, const ParseOptions& o = Options()) {
  ParseResult r = ParseGenerateRequest(endpoint, body, o);
  if (!std::holds_alternative<ApiError>(r)) {
    ADD_FAILURE() << body << "\n -> accepted";
    return {};
  }
  return std::get<ApiError>(r);
}

std::string Completion(const std::string& fields) {
  return std::string("{\"model\":\"") + kModel + "\"" + (fields.empty() ? "" : ",") + fields + "}";
}

std::string Chat(const std::string& fields) {
  return Completion("\"messages\":[{\"role\":\"user\",\"content\":\"hi there\"}]" +
                    (fields.empty() ? "" : "," + fields));
}

// The JSON of an SSE event "data: {json}\n\n".
Json SseJson(const std::string& event) {
  EXPECT_EQ(event.rfind("data: ", 0), 0u) << event;
  EXPECT_GE(event.size(), 8u);
  EXPECT_EQ(event.substr(event.size() - 2), "\n\n") << event;
  return Json::parse(event.substr(6, event.size() - 8));
}

// ------------------------------------------------------------------------------------------
// Valid requests.

TEST(OpenAiApiParseTest, CompletionWithStringPromptGetsDefaults) {
  const GenerateRequest r =
      Ok(Endpoint::kCompletions, Completion("\"prompt\":\"Hello big world\""));
  EXPECT_EQ(r.endpoint, Endpoint::kCompletions);
  EXPECT_EQ(r.model, kModel);
  EXPECT_EQ(r.prompt_tokens, Tokenizer().Encode("Hello big world"));
  EXPECT_EQ(r.prompt_tokens.size(), 3u);
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_FALSE(r.stream);
  EXPECT_FALSE(r.include_usage);
  EXPECT_EQ(r.temperature, 1.0);
  EXPECT_EQ(r.top_p, 1.0);
  EXPECT_FALSE(r.seed.has_value());
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.request_id_hint, "");
}

TEST(OpenAiApiParseTest, CompletionWithTokenArrayPrompt) {
  const GenerateRequest r = Ok(Endpoint::kCompletions, Completion("\"prompt\":[0,300,31999]"));
  EXPECT_EQ(r.prompt_tokens, (std::vector<uint32_t>{0, 300, 31999}));
}

TEST(OpenAiApiParseTest, CompletionWithOneElementBatch) {
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion("\"prompt\":[\"a b\"]")).prompt_tokens,
            Tokenizer().Encode("a b"));
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion("\"prompt\":[[7,8,9]]")).prompt_tokens,
            (std::vector<uint32_t>{7, 8, 9}));
}

TEST(OpenAiApiParseTest, AllKnownFieldsAndUnknownOnesIgnored) {
  const GenerateRequest r =
      Ok(Endpoint::kCompletions,
         Completion("\"prompt\":\"x\",\"max_tokens\":5,\"stream\":true,\"stream_options\":"
                    "{\"include_usage\":true,\"future\":1},\"temperature\":0,\"top_p\":0.5,\"n\":1,"
                    "\"seed\":18446744073709551615,\"stop\":[\"a\",\"b\"],\"echo\":false,"
                    "\"logprobs\":null,\"user\":\"alice\",\"logit_bias\":{\"5\":1},\"nvext\":"
                    "{\"annotations\":[]},\"presence_penalty\":0.5,\"suffix\":null"));
  EXPECT_EQ(r.max_tokens, 5);
  EXPECT_TRUE(r.stream);
  EXPECT_TRUE(r.include_usage);
  EXPECT_EQ(r.temperature, 0.0);
  EXPECT_EQ(r.top_p, 0.5);
  EXPECT_EQ(r.seed, UINT64_MAX);
  EXPECT_FALSE(r.echo);
  EXPECT_EQ(r.request_id_hint, "alice");
}

TEST(OpenAiApiParseTest, NullMeansAbsentAndIntegralFloatsAreIntegers) {
  const GenerateRequest r = Ok(
      Endpoint::kCompletions,
      Completion("\"prompt\":\"x\",\"max_tokens\":null,\"stream\":null,\"temperature\":null,"
                 "\"seed\":null,\"stop\":null,\"n\":null,\"stream_options\":null,\"user\":null"));
  EXPECT_EQ(r.max_tokens, 16);
  EXPECT_FALSE(r.seed.has_value());
  const GenerateRequest f =
      Ok(Endpoint::kCompletions,
         Completion("\"prompt\":[300.0],\"max_tokens\":8.0,\"seed\":3.0,\"n\":1.0,\"stop\":\"x\""));
  EXPECT_EQ(f.prompt_tokens, (std::vector<uint32_t>{300}));
  EXPECT_EQ(f.max_tokens, 8);
  EXPECT_EQ(f.seed, 3u);
}

TEST(OpenAiApiParseTest, ChatWithStringAndPartsContent) {
  const GenerateRequest r =
      Ok(Endpoint::kChatCompletions,
         Completion("\"messages\":[{\"role\":\"system\",\"content\":\"Be brief.\"},"
                    "{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"Hello \"},"
                    "{\"type\":\"text\",\"text\":\"there\"}]},"
                    "{\"role\":\"assistant\",\"content\":null,\"tool_calls\":[]},"
                    "{\"role\":\"tool\",\"content\":\"42\",\"tool_call_id\":\"t1\"},"
                    "{\"role\":\"developer\",\"content\":[]}],\"max_completion_tokens\":7"));
  const std::vector<ChatMessage> expected = {{"system", "Be brief."},
                                             {"user", "Hello there"},
                                             {"assistant", ""},
                                             {"tool", "42"},
                                             {"developer", ""}};
  EXPECT_EQ(r.endpoint, Endpoint::kChatCompletions);
  EXPECT_EQ(r.prompt_tokens, Tokenizer().EncodeChat(expected));
  EXPECT_EQ(r.max_tokens, 7);
}

TEST(OpenAiApiParseTest, ChatMaxCompletionTokensWinsAndEchoIsIgnored) {
  EXPECT_EQ(Ok(Endpoint::kChatCompletions, Chat("\"max_tokens\":3")).max_tokens, 3);
  EXPECT_EQ(Ok(Endpoint::kChatCompletions,
               Chat("\"max_tokens\":3,\"max_completion_tokens\":9,\"echo\":true"))
                .max_tokens,
            9);
  // max_completion_tokens is not a completions field: ignored there.
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion("\"prompt\":\"x\",\"max_completion_tokens\":0"))
                .max_tokens,
            16);
}

TEST(OpenAiApiParseTest, ContextFitsExactlyAndDefaultIsLoweredToFit) {
  const ParseOptions o = Options(10);
  const std::string eight = "\"prompt\":\"a b c d e f g h\"";
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion(eight + ",\"max_tokens\":2"), o).max_tokens, 2);
  // No max_tokens: the default 16 is lowered to the 2 tokens left.
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion(eight), o).max_tokens, 2);
  ParseOptions small_default = o;
  small_default.default_max_tokens = 1;
  EXPECT_EQ(Ok(Endpoint::kCompletions, Completion(eight), small_default).max_tokens, 1);
}

// ------------------------------------------------------------------------------------------
// Rejected requests: status, type, param and message.

struct ErrorCase {
  Endpoint endpoint;
  std::string body;
  int status;
  std::string param;
  std::string message_part;  // a substring of the message
};

void CheckError(const ErrorCase& c, const ParseOptions& o = Options()) {
  SCOPED_TRACE(c.body.substr(0, 200));
  const ApiError e = Err(c.endpoint, c.body, o);
  EXPECT_EQ(e.http_status, c.status);
  EXPECT_EQ(e.type, c.status == 404 ? "not_found_error" : "invalid_request_error");
  EXPECT_EQ(e.param, c.param);
  EXPECT_NE(e.message.find(c.message_part), std::string::npos) << e.message;
  // Messages name the field they are about.
  if (!c.param.empty()) {
    EXPECT_NE(e.message.find(c.param), std::string::npos) << e.message;
  }
  // And render as an OpenAI error body.
  const Json body = Json::parse(ErrorBody(e));
  EXPECT_EQ(body["error"]["message"], e.message);
  EXPECT_EQ(body["error"]["code"], c.status);
}

TEST(OpenAiApiParseTest, BodyMustBeAJsonObject) {
  const Endpoint ep = Endpoint::kCompletions;
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {ep, "", 400, "", "request body is not valid JSON: parse error at byte offset 0: "},
           {ep, "{\"model\":", 400, "",
            "request body is not valid JSON: parse error at byte offset 9"},
           {ep, "{\"a\":1}x", 400, "",
            "request body is not valid JSON: parse error at byte offset 7"},
           {ep, "{\"a\":1e999}", 400, "",
            "request body is not valid JSON: number overflow parsing '1e999'"},
           {ep, "{\"a\":\"\xff\"}", 400, "",
            "request body is not valid JSON: parse error at byte offset 6: syntax error while "
            "parsing value - invalid string: ill-formed UTF-8 byte; last read: '\"\\xff'"},
           {ep, "[1,2]", 400, "", "request body must be a JSON object, got array"},
           {ep, "\"text\"", 400, "", "request body must be a JSON object, got string \"text\""},
           {ep, "null", 400, "", "request body must be a JSON object, got null"},
           {ep, "12", 400, "", "request body must be a JSON object, got number 12"},
       }) {
    CheckError(c);
  }
}

TEST(OpenAiApiParseTest, ModelErrors) {
  const Endpoint ep = Endpoint::kCompletions;
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {ep, "{\"prompt\":\"x\"}", 400, "model",
            "model is required; this server serves `mock-model`"},
           {ep, "{\"model\":5,\"prompt\":\"x\"}", 400, "model",
            "model must be a string, got number 5"},
           {ep, "{\"model\":\"gpt-4\",\"prompt\":\"x\"}", 404, "model",
            "The model `gpt-4` does not exist; this server serves `mock-model`"},
           {Endpoint::kChatCompletions, "{\"model\":\"Mock-Model\",\"messages\":[]}", 404, "model",
            "The model `Mock-Model` does not exist"},
       }) {
    CheckError(c);
  }
}

TEST(OpenAiApiParseTest, LongBadValuesAreCutOnUtf8Boundaries) {
  std::string accents;
  for (int i = 0; i < 40; ++i) accents += "\xc3\xa9";  // 80 bytes of U+00E9
  // CheckError also checks that ErrorBody carries the message unchanged (valid UTF-8).
  CheckError({Endpoint::kCompletions, "{\"model\":\"" + accents + "\",\"prompt\":\"x\"}", 404,
              "model", "...` does not exist; this server serves `mock-model`"});
  CheckError({Endpoint::kCompletions,
              Completion("\"prompt\":\"x\",\"max_tokens\":\"" + accents + "\""), 400, "max_tokens",
              "max_tokens must be an integer, got string \"\xc3\xa9"});
}

TEST(OpenAiApiParseTest, PromptErrors) {
  const Endpoint ep = Endpoint::kCompletions;
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {ep, Completion(""), 400, "prompt", "prompt is required"},
           {ep, Completion("\"prompt\":\"\""), 400, "prompt", "prompt: \"\" has no tokens"},
           {ep, Completion("\"prompt\":\" \\n \""), 400, "prompt", "has no tokens"},
           {ep, Completion("\"prompt\":[]"), 400, "prompt", "prompt is an empty array"},
           {ep, Completion("\"prompt\":5"), 400, "prompt",
            "prompt must be a string or an array of token ids, got number 5"},
           {ep, Completion("\"prompt\":{}"), 400, "prompt", "got object"},
           {ep, Completion("\"prompt\":[300,32000]"), 400, "prompt[1]",
            "prompt[1]: 32000 is out of range; must be a token id in [0, 32000)"},
           {ep, Completion("\"prompt\":[-1]"), 400, "prompt[0]", "prompt[0]: -1 is out of range"},
           {ep, Completion("\"prompt\":[300,\"a\"]"), 400, "prompt[1]",
            "prompt[1] must be an integer, got string \"a\""},
           {ep, Completion("\"prompt\":[1.5]"), 400, "prompt[0]",
            "prompt[0] must be an integer, got number 1.5"},
           {ep, Completion("\"prompt\":[1e30]"), 400, "prompt[0]", "is out of range"},
           {ep, Completion("\"prompt\":[\"a\",\"b\"]"), 400, "prompt",
            "prompt: batches of 2 prompts are not supported; send one per request"},
           {ep, Completion("\"prompt\":[[1],[2],[3]]"), 400, "prompt",
            "prompt: batches of 3 prompts are not supported"},
           {ep, Completion("\"prompt\":[[]]"), 400, "prompt[0]", "prompt[0] is an empty array"},
           {ep, Completion("\"prompt\":[\"\"]"), 400, "prompt[0]", "has no tokens"},
           {ep, Completion("\"prompt\":[null]"), 400, "prompt[0]",
            "prompt[0] must be a string, an array of token ids or a token id, got null"},
           {ep, Completion("\"prompt\":[[5,40000]]"), 400, "prompt[0][1]",
            "prompt[0][1]: 40000 is out of range"},
       }) {
    CheckError(c);
  }
}

TEST(OpenAiApiParseTest, MessagesErrors) {
  const Endpoint ep = Endpoint::kChatCompletions;
  const auto msgs = [](const std::string& m) { return Completion("\"messages\":" + m); };
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {ep, Completion(""), 400, "messages", "messages is required"},
           {ep, msgs("{}"), 400, "messages",
            "messages must be a non-empty array of message objects, got object"},
           {ep, msgs("[]"), 400, "messages", "messages is empty"},
           {ep, msgs("[\"hi\"]"), 400, "messages[0]",
            "messages[0] must be an object with \"role\" and \"content\", got string \"hi\""},
           {ep, msgs("[{\"role\":\"user\",\"content\":\"a\"},{\"content\":\"b\"}]"), 400,
            "messages[1].role",
            "messages[1].role is required; use one of system, user, assistant, tool, developer"},
           {ep, msgs("[{\"role\":5,\"content\":\"a\"}]"), 400, "messages[0].role",
            "messages[0].role must be a string, got number 5"},
           {ep, msgs("[{\"role\":\"robot\",\"content\":\"a\"}]"), 400, "messages[0].role",
            "messages[0].role: \"robot\" is not a valid role; use one of system, user, "
            "assistant, tool, developer"},
           {ep, msgs("[{\"role\":\"user\"}]"), 400, "messages[0].content",
            "messages[0].content is required for role user"},
           {ep, msgs("[{\"role\":\"user\",\"content\":5}]"), 400, "messages[0].content",
            "messages[0].content must be a string or an array of text parts, got number 5"},
           {ep, msgs("[{\"role\":\"user\",\"content\":[5]}]"), 400, "messages[0].content[0]",
            "messages[0].content[0] must be an object"},
           {ep,
            msgs("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":\"a\"},"
                 "{\"type\":\"image_url\",\"image_url\":{}}]}]"),
            400, "messages[0].content[1].type",
            "messages[0].content[1].type: \"image_url\" is not supported; only \"text\" parts "
            "are"},
           {ep, msgs("[{\"role\":\"user\",\"content\":[{\"text\":\"a\"}]}]"), 400,
            "messages[0].content[0].type", "messages[0].content[0].type is required"},
           {ep, msgs("[{\"role\":\"user\",\"content\":[{\"type\":1}]}]"), 400,
            "messages[0].content[0].type", "must be a string, got number 1"},
           {ep, msgs("[{\"role\":\"user\",\"content\":[{\"type\":\"text\"}]}]"), 400,
            "messages[0].content[0].text", "messages[0].content[0].text is required"},
           {ep, msgs("[{\"role\":\"user\",\"content\":[{\"type\":\"text\",\"text\":5}]}]"), 400,
            "messages[0].content[0].text",
            "messages[0].content[0].text must be a string, got number 5"},
       }) {
    CheckError(c);
  }
}

TEST(OpenAiApiParseTest, ParameterErrors) {
  const Endpoint cp = Endpoint::kCompletions;
  const Endpoint ch = Endpoint::kChatCompletions;
  const auto p = [](const std::string& f) { return Completion("\"prompt\":\"x\"," + f); };
  for (const ErrorCase& c : std::vector<ErrorCase>{
           {cp, p("\"max_tokens\":\"16\""), 400, "max_tokens",
            "max_tokens must be an integer, got string \"16\""},
           {cp, p("\"max_tokens\":0"), 400, "max_tokens",
            "max_tokens: 0 is out of range; must be an integer in [1, 2147483647]"},
           {cp, p("\"max_tokens\":-3"), 400, "max_tokens", "max_tokens: -3 is out of range"},
           {cp, p("\"max_tokens\":1.5"), 400, "max_tokens",
            "max_tokens must be an integer, got number 1.5"},
           {cp, p("\"max_tokens\":3000000000"), 400, "max_tokens",
            "max_tokens: 3000000000 is out of range"},
           {cp, p("\"max_tokens\":1e300"), 400, "max_tokens", "is out of range"},
           {cp, p("\"max_tokens\":true"), 400, "max_tokens",
            "max_tokens must be an integer, got boolean true"},
           {ch, Chat("\"max_completion_tokens\":0"), 400, "max_completion_tokens",
            "max_completion_tokens: 0 is out of range"},
           {ch, Chat("\"max_tokens\":[1]"), 400, "max_tokens",
            "max_tokens must be an integer, got array"},
           {cp, p("\"stream\":\"yes\""), 400, "stream",
            "stream must be a boolean, got string \"yes\""},
           {cp, p("\"stream_options\":1"), 400, "stream_options",
            "stream_options must be an object, got number 1"},
           {cp, p("\"stream_options\":{\"include_usage\":\"y\"}"), 400,
            "stream_options.include_usage", "stream_options.include_usage must be a boolean"},
           {cp, p("\"temperature\":2.5"), 400, "temperature",
            "temperature: 2.5 is out of range; must be a number in [0, 2]"},
           {cp, p("\"temperature\":-0.1"), 400, "temperature", "temperature: -0.1 is out of range"},
           {cp, p("\"temperature\":\"hot\""), 400, "temperature",
            "temperature must be a number, got string \"hot\""},
           {cp, p("\"top_p\":0"), 400, "top_p",
            "top_p: 0 is out of range; must be a number in (0, 1]"},
           {cp, p("\"top_p\":1.5"), 400, "top_p", "top_p: 1.5 is out of range"},
           {cp, p("\"n\":2"), 400, "n", "n: only 1 is supported, got 2"},
           {cp, p("\"n\":\"1\""), 400, "n", "n must be an integer, got string \"1\""},
           {cp, p("\"seed\":-1"), 400, "seed",
            "seed: -1 is out of range; must be an integer in [0,"},
           {cp, p("\"seed\":1.5"), 400, "seed", "seed must be an integer, got number 1.5"},
           {cp, p("\"seed\":1e20"), 400, "seed", "seed: 1e+20 is out of range"},
           {cp, p("\"seed\":\"x\""), 400, "seed", "seed must be an integer, got string \"x\""},
           {cp, p("\"stop\":5"), 400, "stop",
            "stop must be a string or an array of strings, got number 5"},
           {cp, p("\"stop\":[\"a\",1]"), 400, "stop[1]", "stop[1] must be a string, got number 1"},
           {cp, p("\"echo\":true"), 400, "echo",
            "echo: true is not supported by this server; omit it or set it to false"},
           {cp, p("\"echo\":\"no\""), 400, "echo", "echo must be a boolean, got string \"no\""},
           {cp, p("\"logprobs\":0"), 400, "logprobs",
            "logprobs: 0 is not supported by this server; omit it or set it to null"},
           {ch, Chat("\"logprobs\":true"), 400, "logprobs", "logprobs: true is not supported"},
           {cp, p("\"user\":5"), 400, "user", "user must be a string, got number 5"},
       }) {
    CheckError(c);
  }
  // logprobs false is fine.
  Ok(ch, Chat("\"logprobs\":false"));
}

TEST(OpenAiApiParseTest, PromptPlusMaxTokensMustFitTheContext) {
  const ParseOptions o = Options(10);
  const std::string eight = "\"prompt\":\"a b c d e f g h\"";
  CheckError({Endpoint::kCompletions, Completion(eight + ",\"max_tokens\":5"), 400, "max_tokens",
              "prompt has 8 tokens and max_tokens is 5: 8 + 5 exceeds the model's context of 10 "
              "tokens; shorten the prompt or lower max_tokens"},
             o);
  const ApiError exact = Err(Endpoint::kCompletions, Completion(eight + ",\"max_tokens\":5"), o);
  EXPECT_EQ(exact.message,
            "prompt has 8 tokens and max_tokens is 5: 8 + 5 exceeds the model's context of 10 "
            "tokens; shorten the prompt or lower max_tokens");
  // Without max_tokens, only a prompt that fills the context fails.
  CheckError({Endpoint::kCompletions, Completion("\"prompt\":\"a b c d e f g h i j\""), 400,
              "prompt", "prompt has 10 tokens and max_tokens is 16: 10 + 16 exceeds"},
             o);
  // Chat names the field the client used.
  CheckError({Endpoint::kChatCompletions, Chat("\"max_completion_tokens\":100"), 400,
              "max_completion_tokens",
              "prompt has 4 tokens and max_completion_tokens is 100: 4 + 100 exceeds the model's "
              "context of 10 tokens; "
              "shorten the prompt or lower max_completion_tokens"},
             o);
}

TEST(OpenAiApiParseTest, DeepNestingIsRejectedWithoutCrashing) {
  const std::string deep_array(200000, '[');
  CheckError({Endpoint::kCompletions, deep_array, 400, "", "request body is not valid JSON"});
  std::string nested = "{\"model\":\"mock-model\",\"prompt\":";
  for (int i = 0; i < 100000; ++i) nested += '[';
  for (int i = 0; i < 100000; ++i) nested += ']';
  nested += '}';
  CheckError({Endpoint::kCompletions, nested, 400, "prompt[0][0]",
              "prompt[0][0] must be an integer, got array"});
}

// ------------------------------------------------------------------------------------------
// Fuzz-style robustness: mutated bodies always give a request or a well-formed error.

std::vector<std::string> SeedBodies() {
  return {
      Completion("\"prompt\":\"Hello there world\",\"max_tokens\":4,\"stream\":true,"
                 "\"stream_options\":{\"include_usage\":true},\"temperature\":0.7,\"top_p\":0.9,"
                 "\"seed\":7,\"stop\":[\"x\"],\"n\":1,\"user\":\"u\",\"echo\":false"),
      Completion("\"prompt\":[[300,301,302]],\"max_tokens\":2"),
      Chat("\"max_completion_tokens\":3,\"stream\":false,\"logprobs\":false"),
      Completion("\"messages\":[{\"role\":\"system\",\"content\":\"s\"},{\"role\":\"user\","
                 "\"content\":[{\"type\":\"text\",\"text\":\"t\"}]}],\"max_tokens\":5"),
  };
}

// Replaces one value somewhere in `j` (depth-first by a random walk) with `v`.
void ReplaceRandomValue(Json& j, std::mt19937_64& rng, const Json& v) {
  Json* node = &j;
  while ((node->is_object() || node->is_array()) && !node->empty() && rng() % 3 != 0) {
    const size_t k = rng() % node->size();
    if (node->is_object()) {
      auto it = node->begin();
      std::advance(it, static_cast<std::ptrdiff_t>(k));
      node = &it.value();
    } else {
      node = &(*node)[k];
    }
  }
  *node = v;
}

TEST(OpenAiApiParseTest, FuzzedBodiesNeverThrowAndAlwaysAnswer) {
  constexpr uint64_t kSeed = 20240607;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  const std::vector<std::string> seeds = SeedBodies();
  const std::vector<Json> values = {nullptr,
                                    true,
                                    false,
                                    0,
                                    -1,
                                    1,
                                    1.5,
                                    1e300,
                                    "",
                                    "s",
                                    "\xc3\xa9",
                                    Json::array(),
                                    Json::object(),
                                    Json::array({1, "a"}),
                                    UINT64_MAX,
                                    Json::array({Json::array({1})}),
                                    Json::object({{"type", "text"}})};
  const char kJsonChars[] = "{}[]\":,\\ 0123456789-+.eEtrufalsn\x01\x80\xff";
  const ParseOptions o = Options(64);
  int accepted = 0, rejected = 0;
  for (int iter = 0; iter < 2000; ++iter) {
    std::string body = seeds[rng() % seeds.size()];
    const Endpoint ep = rng() % 2 == 0 ? Endpoint::kCompletions : Endpoint::kChatCompletions;
    const int mutations = 1 + static_cast<int>(rng() % 3);
    for (int m = 0; m < mutations; ++m) {
      switch (rng() % 5) {
        case 0:  // truncate
          body.resize(rng() % (body.size() + 1));
          break;
        case 1:  // flip a byte
          if (!body.empty()) body[rng() % body.size()] = static_cast<char>(rng() % 256);
          break;
        case 2:  // insert a JSON-significant byte
          body.insert(body.begin() + static_cast<std::ptrdiff_t>(rng() % (body.size() + 1)),
                      kJsonChars[rng() % (sizeof(kJsonChars) - 1)]);
          break;
        default: {  // swap a value's type (when the body still parses)
          Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
          if (j.is_discarded()) break;
          ReplaceRandomValue(j, rng, values[rng() % values.size()]);
          body = j.dump();
        }
      }
    }
    SCOPED_TRACE("iteration " + std::to_string(iter) + " body " + body);
    ParseResult r;
    ASSERT_NO_THROW(r = ParseGenerateRequest(ep, body, o));
    if (const auto* req = std::get_if<GenerateRequest>(&r)) {
      ++accepted;
      ASSERT_FALSE(req->prompt_tokens.empty());
      ASSERT_GE(req->max_tokens, 1);
      ASSERT_LE(static_cast<int64_t>(req->prompt_tokens.size()) + req->max_tokens, 64);
      ASSERT_EQ(req->model, kModel);
    } else {
      ++rejected;
      const ApiError& e = std::get<ApiError>(r);
      ASSERT_TRUE(e.http_status == 400 || e.http_status == 404) << e.http_status;
      ASSERT_FALSE(e.message.empty());
      const Json parsed = Json::parse(ErrorBody(e));  // throws (fails) if not valid JSON
      ASSERT_TRUE(parsed["error"]["message"].is_string());
    }
  }
  // Both outcomes are exercised.
  EXPECT_GT(accepted, 20);
  EXPECT_GT(rejected, 500);
}

// ------------------------------------------------------------------------------------------
// Responses.

const ResponseMeta kMeta{"cmpl-00ff", kModel, 1700000000};

TEST(OpenAiApiResponseTest, CompletionBody) {
  const Json j = Json::parse(CompletionBody(kMeta, " ba be", Usage{5, 2}, "length"));
  EXPECT_EQ(j["id"], "cmpl-00ff");
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["created"], 1700000000);
  EXPECT_EQ(j["model"], kModel);
  ASSERT_EQ(j["choices"].size(), 1u);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["text"], " ba be");
  EXPECT_TRUE(j["choices"][0]["logprobs"].is_null());
  EXPECT_EQ(j["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(j["usage"],
            Json::parse(R"({"prompt_tokens":5,"completion_tokens":2,"total_tokens":7})"));
}

TEST(OpenAiApiResponseTest, ChatBody) {
  const ResponseMeta meta{"chatcmpl-1", kModel, 3};
  const Json j = Json::parse(ChatBody(meta, "Hi!", Usage{9, 1}, "stop"));
  EXPECT_EQ(j["id"], "chatcmpl-1");
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["created"], 3);
  EXPECT_EQ(j["choices"][0]["index"], 0);
  EXPECT_EQ(j["choices"][0]["message"], Json::parse(R"({"role":"assistant","content":"Hi!"})"));
  EXPECT_EQ(j["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(j["usage"]["total_tokens"], 10);
}

TEST(OpenAiApiResponseTest, CompletionChunks) {
  const Json mid = SseJson(CompletionChunk(kMeta, " ko", std::nullopt, nullptr));
  EXPECT_EQ(mid["object"], "text_completion");
  EXPECT_EQ(mid["id"], "cmpl-00ff");
  EXPECT_EQ(mid["choices"][0]["index"], 0);
  EXPECT_EQ(mid["choices"][0]["text"], " ko");
  EXPECT_TRUE(mid["choices"][0]["logprobs"].is_null());
  EXPECT_TRUE(mid["choices"][0]["finish_reason"].is_null());
  EXPECT_FALSE(mid.contains("usage"));
  const Usage usage{4, 3};
  const Json last = SseJson(CompletionChunk(kMeta, " ni", "length", &usage));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "length");
  EXPECT_EQ(last["usage"],
            Json::parse(R"({"prompt_tokens":4,"completion_tokens":3,"total_tokens":7})"));
}

TEST(OpenAiApiResponseTest, ChatChunks) {
  const ResponseMeta meta{"chatcmpl-2", kModel, 5};
  const Json first = SseJson(ChatChunk(meta, " ba", true, std::nullopt, nullptr));
  EXPECT_EQ(first["object"], "chat.completion.chunk");
  EXPECT_EQ(first["choices"][0]["index"], 0);
  EXPECT_EQ(first["choices"][0]["delta"], Json::parse(R"({"role":"assistant","content":" ba"})"));
  EXPECT_TRUE(first["choices"][0]["finish_reason"].is_null());
  const Json first_empty = SseJson(ChatChunk(meta, "", true, std::nullopt, nullptr));
  EXPECT_EQ(first_empty["choices"][0]["delta"],
            Json::parse(R"({"role":"assistant","content":""})"));
  const Json mid = SseJson(ChatChunk(meta, " be", false, std::nullopt, nullptr));
  EXPECT_EQ(mid["choices"][0]["delta"], Json::parse(R"({"content":" be"})"));
  EXPECT_FALSE(mid.contains("usage"));
  const Usage usage{2, 2};
  const Json last = SseJson(ChatChunk(meta, " bi", false, "stop", &usage));
  EXPECT_EQ(last["choices"][0]["delta"], Json::parse(R"({"content":" bi"})"));
  EXPECT_EQ(last["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(last["usage"]["total_tokens"], 4);
  const Json end = SseJson(ChatChunk(meta, "", false, "length", nullptr));
  EXPECT_EQ(end["choices"][0]["delta"], Json::object());
}

TEST(OpenAiApiResponseTest, UsageChunkHasEmptyChoices) {
  const Usage usage{10, 20};
  const Json c = SseJson(UsageChunk(Endpoint::kCompletions, kMeta, usage));
  EXPECT_EQ(c["object"], "text_completion");
  EXPECT_TRUE(c["choices"].is_array());
  EXPECT_TRUE(c["choices"].empty());
  EXPECT_EQ(c["usage"],
            Json::parse(R"({"prompt_tokens":10,"completion_tokens":20,"total_tokens":30})"));
  const Json chat = SseJson(UsageChunk(Endpoint::kChatCompletions, kMeta, usage));
  EXPECT_EQ(chat["object"], "chat.completion.chunk");
  EXPECT_TRUE(chat["choices"].empty());
}

TEST(OpenAiApiResponseTest, DoneEventAndModels) {
  EXPECT_EQ(DoneEvent(), "data: [DONE]\n\n");
  EXPECT_EQ(Json::parse(ModelsBody(kModel, 1700000000)),
            Json::parse(R"({"object":"list","data":[{"id":"mock-model","object":"model",)"
                        R"("created":1700000000,"owned_by":"dynamo-run"}]})"));
}

TEST(OpenAiApiResponseTest, ErrorBodies) {
  ApiError e;
  e.http_status = 404;
  e.type = "not_found_error";
  e.param = "model";
  e.message = "The model `x` does not exist; this server serves `y`";
  EXPECT_EQ(Json::parse(ErrorBody(e)),
            Json::parse(R"({"error":{"message":"The model `x` does not exist; this server )"
                        R"(serves `y`","type":"not_found_error","param":"model","code":404}})"));
  EXPECT_EQ(Json::parse(ErrorBody(503, "draining")),
            Json::parse(R"({"error":{"message":"draining","type":"invalid_request_error",)"
                        R"("param":null,"code":503}})"));
  EXPECT_EQ(Json::parse(ErrorBody(500, "boom", "server_error"))["error"]["type"], "server_error");
}

// ------------------------------------------------------------------------------------------
// String escaping, checked against nlohmann's parser.

std::string RoundTrip(std::string_view text) {
  const ResponseMeta meta{"id", "m", 0};
  const Json chunk = SseJson(CompletionChunk(meta, text, std::nullopt, nullptr));
  return chunk["choices"][0]["text"].get<std::string>();
}

TEST(OpenAiApiEscapingTest, SpecialAndControlCharactersRoundTrip) {
  std::string all_controls;
  for (int c = 0; c < 0x20; ++c) all_controls.push_back(static_cast<char>(c));
  all_controls += "\x7f";
  for (const std::string& s : std::vector<std::string>{
           "", "plain", "quote \" and backslash \\ and slash /", "line\nbreak\r\ttab\b\f",
           all_controls, std::string("nul\0inside", 10), "caf\xc3\xa9 \xe4\xb8\xad\xe6\x96\x87",
           "emoji \xf0\x9f\x98\x80 and U+2028 \xe2\x80\xa8 and U+FFFF \xef\xbf\xbf",
           "\\u0041 is not an escape here"}) {
    EXPECT_EQ(RoundTrip(s), s);
  }
  // Control characters never appear raw in the output.
  const std::string chunk = CompletionChunk(kMeta, all_controls, std::nullopt, nullptr);
  const std::string json = chunk.substr(6, chunk.size() - 8);
  for (char c : json) EXPECT_GE(static_cast<unsigned char>(c), 0x20);
}

TEST(OpenAiApiEscapingTest, InvalidUtf8IsReplaced) {
  const std::string fffd = "\xef\xbf\xbd";
  EXPECT_EQ(RoundTrip("a\xff"
                      "b"),
            "a" + fffd + "b");
  EXPECT_EQ(RoundTrip("\xc3"), fffd);                                   // truncated 2-byte sequence
  EXPECT_EQ(RoundTrip("\xc0\xaf"), fffd + fffd);                        // overlong
  EXPECT_EQ(RoundTrip("\xed\xa0\x80"), fffd + fffd + fffd);             // surrogate
  EXPECT_EQ(RoundTrip("\xf4\x90\x80\x80"), fffd + fffd + fffd + fffd);  // > U+10FFFF
}

TEST(OpenAiApiEscapingTest, RandomStringsRoundTripEverywhere) {
  constexpr uint64_t kSeed = 99;
  SCOPED_TRACE("seed " + std::to_string(kSeed));
  std::mt19937_64 rng(kSeed);
  const std::vector<std::string> pieces = {"a",
                                           "Z",
                                           " ",
                                           "\"",
                                           "\\",
                                           "\n",
                                           "\t",
                                           "\x01",
                                           "\x1f",
                                           "\x7f",
                                           "\xc3\xa9",
                                           "\xe2\x82\xac",
                                           "\xf0\x9f\x8e\x89",
                                           "/",
                                           "{",
                                           "}",
                                           "<",
                                           "\xe2\x80\xa8"};
  for (int i = 0; i < 500; ++i) {
    std::string s;
    const size_t n = rng() % 40;
    for (size_t k = 0; k < n; ++k) s += pieces[rng() % pieces.size()];
    ASSERT_EQ(RoundTrip(s), s);
    const ResponseMeta meta{s, s, 1};
    const Json chat = SseJson(ChatChunk(meta, s, true, s, nullptr));
    ASSERT_EQ(chat["id"], s);
    ASSERT_EQ(chat["model"], s);
    ASSERT_EQ(chat["choices"][0]["delta"]["content"], s);
    ASSERT_EQ(chat["choices"][0]["finish_reason"], s);
    ASSERT_EQ(Json::parse(ChatBody(meta, s, Usage{}, "stop"))["choices"][0]["message"]["content"],
              s);
    ASSERT_EQ(Json::parse(ErrorBody(400, s))["error"]["message"], s);
    ASSERT_EQ(Json::parse(ModelsBody(s, 0))["data"][0]["id"], s);
  }
}

}  // namespace
}  // namespace dynamo::api
