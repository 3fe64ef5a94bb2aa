#include "runtime/loadgen/load_generator.h"

#include <algorithm>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "core/file_io.h"
#include "core/workload/csv.h"
#include "runtime/loadgen/http_client.h"
#include "runtime/loadgen/prompt_tokens.h"
#include "runtime/loadgen/sse_parser.h"

namespace dynamo::loadgen {
namespace {

namespace asio = boost::asio;
using Json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr auto kCancelPollPeriod = std::chrono::milliseconds(5);
constexpr size_t kMaxErrorBody = 4096;           // bytes of a non-200 body kept for the message
constexpr size_t kMaxJsonBody = 64 << 20;        // a non-streaming response
constexpr int32_t kMaxTokensPerChunk = 1 << 16;  // bounds the ITL entries a bogus usage adds
constexpr size_t kErrorKeyChars = 80;

std::string Head(std::string_view s, size_t n) { return std::string(s.substr(0, n)); }

std::string SecondsText(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", d.seconds());
  return buf;
}

// The message of an OpenAI error object ({"message": ...}), or the value as text.
std::string ErrorText(const Json& error) {
  if (error.is_string()) return error.get<std::string>();
  if (error.is_object()) {
    const auto it = error.find("message");
    if (it != error.end() && it->is_string()) return it->get<std::string>();
  }
  return Head(error.dump(), 200);
}

// The message of a non-200 body: {"error": {"message": ...}}, else the body's start.
std::string ErrorBodyMessage(const std::string& body) {
  const Json j = Json::parse(body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    const auto it = j.find("error");
    if (it != j.end()) return ErrorText(*it);
  }
  if (body.empty()) return "(empty body)";
  return Head(body, 200);
}

// usage.completion_tokens of a response or chunk; -1 when absent.
int32_t UsageCompletionTokens(const Json& j) {
  const auto usage = j.find("usage");
  if (usage == j.end() || !usage->is_object()) return -1;
  const auto tokens = usage->find("completion_tokens");
  if (tokens == usage->end() || !tokens->is_number_integer()) return -1;
  const int64_t v = tokens->get<int64_t>();
  return v < 0 ? -1
               : static_cast<int32_t>(std::min<int64_t>(v, std::numeric_limits<int32_t>::max()));
}

// Whether the chunk's choices[0] carries non-empty text (chat: delta.content).
bool HasContent(const Json& j, bool chat) {
  const auto choices = j.find("choices");
  if (choices == j.end() || !choices->is_array() || choices->empty()) return false;
  const Json& choice = (*choices)[0];
  if (!choice.is_object()) return false;
  const Json* text = nullptr;
  if (chat) {
    const auto delta = choice.find("delta");
    if (delta == choice.end() || !delta->is_object()) return false;
    const auto content = delta->find("content");
    if (content != delta->end()) text = &*content;
  } else {
    const auto it = choice.find("text");
    if (it != choice.end()) text = &*it;
  }
  return text != nullptr && text->is_string() && !text->get_ref<const std::string&>().empty();
}

struct Target {
  HttpUrl url;
  TcpEndpoints endpoints;
  std::string model;
};

// One request on the wire; slots are reused once a request finishes.
struct InFlight {
  size_t index = 0;  // into Workload::requests
  // shared_ptr: Asio session lifetime (shared with the call's pending handlers).
  std::shared_ptr<HttpCall> call;
  Clock::time_point send, last_chunk, end;
  bool got_first = false;
  bool done_seen = false;  // "data: [DONE]" arrived (end is its time)
  bool failed = false;     // the body told of a failure: error
  std::string error;
  std::string body;  // a non-200 body (capped), or a non-streaming response
  SseParser parser;
  std::vector<std::string> events;  // scratch for the parser
};

// One run: owns the event loop, the schedule and the per-request state. Single-threaded.
class LoadRun {
 public:
  LoadRun(const Workload& workload, const LoadOptions& options, Target target, size_t count)
      : arrival_timer_(io_),
        poll_timer_(io_),
        workload_(workload),
        options_(options),
        target_(std::move(target)),
        count_(count),
        closed_loop_(options.concurrency > 0
                         ? static_cast<size_t>(options.concurrency)
                         : static_cast<size_t>(std::max(0, workload.closed_loop_concurrency))),
        results_(count),
        recorded_(count, 0) {}

  StatusOr<std::vector<RequestResult>> Run();

 private:
  Clock::time_point Due(size_t index) const;
  double PlanMs(Clock::duration d) const {
    return std::chrono::duration<double, std::milli>(d).count() / options_.time_scale;
  }
  double SinceStartS(Clock::time_point t) const {
    return std::chrono::duration<double>(t - start_).count();
  }
  void Arrive();
  void PollCancel();
  void StartRequest(size_t index);
  std::string RequestBody(const Request& r) const;
  bool OnBody(size_t slot, std::string_view bytes);
  void OnEvent(InFlight& f, RequestResult& r, std::string_view data, Clock::time_point now);
  void OnDone(size_t slot, const HttpOutcome& outcome);
  void Complete(InFlight& f, RequestResult& r, const HttpOutcome& outcome);
  void Stop();
  void MaybeFinish();

  asio::io_context io_;
  asio::steady_timer arrival_timer_;
  asio::steady_timer poll_timer_;
  const Workload& workload_;
  const LoadOptions& options_;
  const Target target_;
  const size_t count_;        // requests to send: a prefix of workload_.requests
  const size_t closed_loop_;  // > 0: requests kept in flight
  Clock::time_point start_;
  size_t next_ = 0;  // next request to send
  size_t in_flight_ = 0;
  int64_t finished_ = 0;
  bool stopping_ = false;       // cancelled or fatal: send nothing more
  bool connected_any_ = false;  // some connection got through
  Status fatal_;
  std::vector<InFlight> slots_;
  std::vector<size_t> free_slots_;
  std::vector<RequestResult> results_;  // [request index]
  std::vector<uint8_t> recorded_;       // [request index]: finished and reported
};

StatusOr<std::vector<RequestResult>> LoadRun::Run() {
  start_ = Clock::now();
  if (closed_loop_ > 0) {
    while (next_ < count_ && next_ < closed_loop_) StartRequest(next_++);
  } else {
    Arrive();
  }
  if (options_.cancel != nullptr) PollCancel();
  MaybeFinish();
  io_.run();
  if (!fatal_.ok()) return fatal_;
  std::vector<RequestResult> out;
  out.reserve(static_cast<size_t>(finished_));
  for (size_t i = 0; i < count_; ++i) {
    if (recorded_[i]) out.push_back(std::move(results_[i]));
  }
  std::sort(out.begin(), out.end(),
            [](const RequestResult& a, const RequestResult& b) { return a.id < b.id; });
  return out;
}

Clock::time_point LoadRun::Due(size_t index) const {
  const double ns =
      static_cast<double>(workload_.requests[index].arrival.nanos()) * options_.time_scale;
  return start_ + std::chrono::nanoseconds(std::llround(ns));
}

void LoadRun::Arrive() {
  if (stopping_) return;
  const Clock::time_point now = Clock::now();
  while (next_ < count_ && Due(next_) <= now) StartRequest(next_++);
  if (next_ < count_) {
    arrival_timer_.expires_at(Due(next_));
    arrival_timer_.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) Arrive();
    });
  }
}

void LoadRun::PollCancel() {
  if (options_.cancel->load()) return Stop();
  if (in_flight_ == 0 && next_ == count_) return;
  poll_timer_.expires_after(kCancelPollPeriod);
  poll_timer_.async_wait([this](const boost::system::error_code& ec) {
    if (!ec) PollCancel();
  });
}

std::string LoadRun::RequestBody(const Request& r) const {
  const std::vector<uint32_t> tokens = PromptTokens(r, workload_.block_tokens, options_.seed);
  Json body;
  body["model"] = target_.model;
  if (options_.endpoint == "chat") {
    body["messages"] = Json::array({{{"role", "user"}, {"content", PromptText(tokens)}}});
    body["max_completion_tokens"] = r.osl;
  } else {
    body["prompt"] = tokens;
    body["max_tokens"] = r.osl;
  }
  body["stream"] = options_.stream;
  // Servers reject stream_options without streaming (vLLM does).
  if (options_.stream) body["stream_options"] = {{"include_usage", true}};
  return body.dump();
}

void LoadRun::StartRequest(size_t index) {
  const Request& req = workload_.requests[index];
  size_t slot;
  if (free_slots_.empty()) {
    slot = slots_.size();
    slots_.emplace_back();
  } else {
    slot = free_slots_.back();
    free_slots_.pop_back();
    slots_[slot] = InFlight{};
  }
  const Clock::time_point now = Clock::now();
  InFlight& f = slots_[slot];
  f.index = index;
  f.send = now;
  RequestResult& r = results_[index];
  r.id = static_cast<int64_t>(req.id.value());
  r.prompt_tokens = req.isl;
  r.max_tokens = req.osl;
  r.scheduled_s = closed_loop_ > 0 ? SinceStartS(now) : SinceStartS(Due(index));
  r.sent_s = SinceStartS(now);

  HttpRequest http;
  http.method = HttpMethod::kPost;
  http.target = target_.url.base_path +
                (options_.endpoint == "chat" ? "/v1/chat/completions" : "/v1/completions");
  http.host = target_.url.HostHeader();
  http.headers = {{"Content-Type", "application/json"},
                  {"X-Request-Id", std::to_string(req.id.value())},
                  {"Accept", options_.stream ? "text/event-stream" : "application/json"}};
  http.body = RequestBody(req);
  HttpCallbacks callbacks;
  callbacks.on_write_start = [this, slot] {
    InFlight& s = slots_[slot];
    s.send = Clock::now();
    results_[s.index].sent_s = SinceStartS(s.send);
    connected_any_ = true;
  };
  callbacks.on_head = [this, slot](int status) {
    results_[slots_[slot].index].http_status = status;
  };
  callbacks.on_body = [this, slot](std::string_view bytes) { return OnBody(slot, bytes); };
  callbacks.on_done = [this, slot](const HttpOutcome& outcome) { OnDone(slot, outcome); };
  ++in_flight_;
  f.call = HttpCall::Start(io_, target_.endpoints, std::move(http), std::move(callbacks),
                           options_.request_timeout);
}

bool LoadRun::OnBody(size_t slot, std::string_view bytes) {
  InFlight& f = slots_[slot];
  RequestResult& r = results_[f.index];
  if (r.http_status != 200) {
    f.body.append(bytes.substr(0, kMaxErrorBody - std::min(kMaxErrorBody, f.body.size())));
    return f.body.size() < kMaxErrorBody;
  }
  if (!options_.stream) {
    if (f.body.size() + bytes.size() > kMaxJsonBody) {
      f.failed = true;
      f.error = "response body over 64 MiB";
      return false;
    }
    f.body.append(bytes);
    return true;
  }
  const Clock::time_point now = Clock::now();
  f.events.clear();
  f.parser.Feed(bytes, f.events);
  for (const std::string& data : f.events) {
    OnEvent(f, r, data, now);
    if (f.done_seen || f.failed) return false;
  }
  return true;
}

void LoadRun::OnEvent(InFlight& f, RequestResult& r, std::string_view data, Clock::time_point now) {
  if (data == "[DONE]") {
    f.done_seen = true;
    f.end = now;
    return;
  }
  const Json j = Json::parse(data, nullptr, false);
  if (j.is_discarded() || !j.is_object()) {
    f.failed = true;
    f.error = "malformed stream event: " + Head(data, kErrorKeyChars);
    return;
  }
  if (const auto error = j.find("error"); error != j.end()) {
    f.failed = true;
    f.error = "error in stream after " + std::to_string(r.output_tokens) +
              " tokens: " + ErrorText(*error);
    return;
  }
  const int32_t usage = UsageCompletionTokens(j);
  if (HasContent(j, options_.endpoint == "chat")) {
    // Tokens in this chunk: the growth of usage.completion_tokens when reported, else one.
    const int32_t k = usage >= 0 ? std::clamp(usage - r.output_tokens, 1, kMaxTokensPerChunk) : 1;
    if (!f.got_first) {
      f.got_first = true;
      r.ttft_ms = PlanMs(now - f.send);
      r.itl_ms.insert(r.itl_ms.end(), static_cast<size_t>(k - 1), 0.0);
    } else {
      const double gap_ms = PlanMs(now - f.last_chunk) / k;
      r.itl_ms.insert(r.itl_ms.end(), static_cast<size_t>(k), gap_ms);
    }
    r.output_tokens += k;
    f.last_chunk = now;
  }
  if (usage >= 0) r.usage_completion_tokens = usage;
}

void LoadRun::OnDone(size_t slot, const HttpOutcome& outcome) {
  InFlight& f = slots_[slot];
  const size_t index = f.index;
  --in_flight_;
  if (outcome.failure == HttpFailure::kConnect && !connected_any_ && fatal_.ok() && !stopping_) {
    // Nothing ever got through: the server is not there (or the URL is wrong).
    fatal_ = IoError(CannotReachMessage(target_.url, outcome.message));
    Stop();
  } else if (outcome.failure != HttpFailure::kAborted) {
    Complete(f, results_[index], outcome);
    recorded_[index] = 1;
    ++finished_;
    if (options_.progress) options_.progress(finished_, static_cast<int64_t>(count_));
  }
  slots_[slot] = InFlight{};  // releases the call and the buffers
  free_slots_.push_back(slot);
  if (!stopping_ && closed_loop_ > 0 && next_ < count_) StartRequest(next_++);
  MaybeFinish();
}

void LoadRun::Complete(InFlight& f, RequestResult& r, const HttpOutcome& outcome) {
  const Clock::time_point end = f.done_seen ? f.end : Clock::now();
  r.e2e_ms = PlanMs(end - f.send);
  r.ok = false;
  const std::string tokens_text = " after " + std::to_string(r.output_tokens) + " tokens";
  const std::string timeout_text = "timed out after " + SecondsText(options_.request_timeout);
  if (outcome.failure == HttpFailure::kConnect) {
    r.error = CannotReachMessage(target_.url, outcome.message);
  } else if (r.http_status == 0) {
    r.error = outcome.failure == HttpFailure::kTimeout ? timeout_text + " with no response"
                                                       : "no response: " + outcome.message;
  } else if (r.http_status != 200) {
    r.error = "HTTP " + std::to_string(r.http_status) + ": " + ErrorBodyMessage(f.body);
  } else if (f.failed) {
    r.error = f.error;
  } else if (options_.stream) {
    if (f.done_seen) {
      r.ok = true;
    } else if (outcome.failure == HttpFailure::kTimeout) {
      r.error = timeout_text + tokens_text;
    } else {
      r.error = "stream ended before [DONE]" + tokens_text;
    }
  } else if (outcome.failure != HttpFailure::kNone) {
    r.error = outcome.failure == HttpFailure::kTimeout ? timeout_text
                                                       : "response cut: " + outcome.message;
  } else {
    const Json j = Json::parse(f.body, nullptr, false);
    if (j.is_discarded() || !j.is_object()) {
      r.error = "malformed JSON response: " + Head(f.body, kErrorKeyChars);
    } else if (const auto error = j.find("error"); error != j.end()) {
      r.error = "error in response: " + ErrorText(*error);
    } else {
      // Without chunks to count, usage is the only token count.
      r.usage_completion_tokens = UsageCompletionTokens(j);
      r.output_tokens = std::max(0, r.usage_completion_tokens);
      r.ttft_ms = r.e2e_ms;
      r.ok = true;
    }
  }
}

void LoadRun::Stop() {
  stopping_ = true;
  arrival_timer_.cancel();
  for (InFlight& f : slots_) {
    if (f.call) f.call->Abort();
  }
  MaybeFinish();
}

void LoadRun::MaybeFinish() {
  if (in_flight_ == 0 && (stopping_ || next_ == count_)) {
    arrival_timer_.cancel();
    poll_timer_.cancel();
  }
}

LoadSummary::Pct Percentiles(std::vector<double>& v) {
  LoadSummary::Pct p;
  if (v.empty()) return p;
  std::sort(v.begin(), v.end());
  double sum = 0;
  for (const double x : v) sum += x;
  const auto rank = [&](double q) {  // nearest rank: the ceil(q n)-th smallest
    const double n = static_cast<double>(v.size());
    const size_t k = static_cast<size_t>(std::ceil(q * n));
    return v[std::clamp<size_t>(k, 1, v.size()) - 1];
  };
  p.mean = sum / static_cast<double>(v.size());
  p.p50 = rank(0.50);
  p.p90 = rank(0.90);
  p.p99 = rank(0.99);
  p.max = v.back();
  return p;
}

Json PctJson(const LoadSummary::Pct& p) {
  return {{"mean", p.mean}, {"p50", p.p50}, {"p90", p.p90}, {"p99", p.p99}, {"max", p.max}};
}

Status CheckOptions(const LoadOptions& o) {
  if (o.endpoint != "completions" && o.endpoint != "chat") {
    return InvalidArgument("endpoint '" + o.endpoint + "' is unknown; use completions or chat");
  }
  if (!(o.time_scale > 0) || !std::isfinite(o.time_scale)) {
    return InvalidArgument("time scale " + std::to_string(o.time_scale) +
                           " must be a positive number");
  }
  if (o.concurrency < 0) {
    return InvalidArgument("concurrency " + std::to_string(o.concurrency) + " must be >= 0");
  }
  if (o.max_requests < 0) {
    return InvalidArgument("max requests " + std::to_string(o.max_requests) + " must be >= 0");
  }
  if (o.request_timeout <= Duration::Zero()) {
    return InvalidArgument("request timeout " + SecondsText(o.request_timeout) +
                           " must be positive");
  }
  return Status::Ok();
}

// data[0].id of GET /v1/models.
StatusOr<std::string> DiscoverModel(const HttpUrl& url, const TcpEndpoints& endpoints,
                                    Duration timeout) {
  HttpRequest request;
  request.target = url.base_path + "/v1/models";
  request.host = url.HostHeader();
  ASSIGN_OR_RETURN(HttpResponse response, Fetch(url, endpoints, request, timeout));
  const std::string what = "GET " + url.origin + request.target;
  if (response.status != 200) {
    return IoError(what + ": HTTP " + std::to_string(response.status) + ": " +
                   ErrorBodyMessage(response.body) + "; pass the model name (--model)");
  }
  const Json j = Json::parse(response.body, nullptr, false);
  if (!j.is_discarded() && j.is_object()) {
    const auto data = j.find("data");
    if (data != j.end() && data->is_array() && !data->empty() && (*data)[0].is_object()) {
      const auto id = (*data)[0].find("id");
      if (id != (*data)[0].end() && id->is_string()) return id->get<std::string>();
    }
  }
  return IoError(what + ": expected {\"data\": [{\"id\": MODEL}, ...]}, got " +
                 Head(response.body, 200) + "; pass the model name (--model)");
}

}  // namespace

StatusOr<std::vector<RequestResult>> RunLoad(const Workload& workload, const LoadOptions& options) {
  RETURN_IF_ERROR(CheckOptions(options));
  Target target;
  ASSIGN_OR_RETURN(target.url, ParseHttpUrl(options.url));
  ASSIGN_OR_RETURN(target.endpoints, ResolveHttpUrl(target.url));
  target.model = options.model;
  if (target.model.empty()) {
    ASSIGN_OR_RETURN(target.model,
                     DiscoverModel(target.url, target.endpoints, options.request_timeout));
  }
  size_t count = workload.requests.size();
  if (options.max_requests > 0) {
    count = std::min(count, static_cast<size_t>(options.max_requests));
  }
  LoadRun run(workload, options, std::move(target), count);
  return run.Run();
}

LoadSummary Summarize(std::span<const RequestResult> results, double wall_s, double time_scale) {
  LoadSummary s;
  s.requests = static_cast<int64_t>(results.size());
  s.wall_s = wall_s;
  std::vector<double> ttft, itl, e2e;
  double last_scheduled_s = 0;
  int64_t output_tokens = 0;
  for (const RequestResult& r : results) {
    last_scheduled_s = std::max(last_scheduled_s, r.scheduled_s);
    if (!r.ok) {
      ++s.failed;
      ++s.errors[Head(r.error, kErrorKeyChars)];
      continue;
    }
    ++s.completed;
    output_tokens += r.output_tokens;
    if (r.output_tokens != r.max_tokens) ++s.incomplete_outputs;
    ttft.push_back(r.ttft_ms);
    e2e.push_back(r.e2e_ms);
    itl.insert(itl.end(), r.itl_ms.begin(), r.itl_ms.end());
  }
  const double scale = time_scale > 0 ? time_scale : 1.0;
  const double plan_wall_s = wall_s / scale;
  if (last_scheduled_s > 0) {
    s.offered_rps = static_cast<double>(s.requests) / (last_scheduled_s / scale);
  }
  if (plan_wall_s > 0) {
    s.achieved_rps = static_cast<double>(s.completed) / plan_wall_s;
    s.output_tokens_per_s = static_cast<double>(output_tokens) / plan_wall_s;
  }
  s.ttft_ms = Percentiles(ttft);
  s.itl_ms = Percentiles(itl);
  s.e2e_ms = Percentiles(e2e);
  return s;
}

std::string SummaryJson(const LoadSummary& s) {
  Json errors = Json::object();
  for (const auto& [message, count] : s.errors) errors[message] = count;
  const Json j = {{"requests", s.requests},
                  {"completed", s.completed},
                  {"failed", s.failed},
                  {"incomplete_outputs", s.incomplete_outputs},
                  {"wall_s", s.wall_s},
                  {"offered_rps", s.offered_rps},
                  {"achieved_rps", s.achieved_rps},
                  {"output_tokens_per_s", s.output_tokens_per_s},
                  {"ttft_ms", PctJson(s.ttft_ms)},
                  {"itl_ms", PctJson(s.itl_ms)},
                  {"e2e_ms", PctJson(s.e2e_ms)},
                  {"errors", errors}};
  return j.dump(2);
}

Status WriteRecordsCsv(const std::string& path, std::span<const RequestResult> results) {
  std::string out =
      "id,ok,http_status,prompt_tokens,max_tokens,output_tokens,usage_completion_tokens,"
      "scheduled_s,sent_s,ttft_ms,itl_mean_ms,itl_max_ms,e2e_ms,error\n";
  out.reserve(out.size() + results.size() * 120);
  for (const RequestResult& r : results) {
    double itl_sum = 0, itl_max = 0;
    for (const double g : r.itl_ms) {
      itl_sum += g;
      itl_max = std::max(itl_max, g);
    }
    const double itl_mean = r.itl_ms.empty() ? 0 : itl_sum / static_cast<double>(r.itl_ms.size());
    char line[256];
    std::snprintf(line, sizeof line, "%lld,%d,%d,%d,%d,%d,%d,%.6f,%.6f,%.6f,%.6f,%.6f,%.6f,",
                  static_cast<long long>(r.id), r.ok ? 1 : 0, r.http_status, r.prompt_tokens,
                  r.max_tokens, r.output_tokens, r.usage_completion_tokens, r.scheduled_s, r.sent_s,
                  r.ttft_ms, itl_mean, itl_max, r.e2e_ms);
    out += line;
    out += CsvQuote(r.error);
    out += '\n';
  }
  return WriteFileAtomic(path, out);
}

}  // namespace dynamo::loadgen
