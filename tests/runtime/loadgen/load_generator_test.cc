#include "runtime/loadgen/load_generator.h"

#include <gtest/gtest.h>

#include <unistd.h>
#include <atomic>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/error.hpp>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/file_io.h"
#include "runtime/loadgen/prompt_tokens.h"

namespace dynamo::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
using tcp = boost::asio::ip::tcp;
using Json = nlohmann::json;
using std::chrono::milliseconds;

// How the fake OpenAI server answers.
struct FakeConfig {
  enum class Mode { kNormal, k503, kCutStream };
  Mode mode = Mode::kNormal;
  bool chunked = true;  // Transfer-Encoding: chunked; else the body ends when the server closes
  bool crlf = false;    // SSE lines end in "\r\n"
  int tokens_per_chunk = 1;
  bool usage_every_chunk = false;  // else only on the last content chunk and the final chunk
  milliseconds first_token_delay{1};
  milliseconds token_delay{1};
  int cut_after_tokens = 2;                      // kCutStream
  int accept_limit = 0;                          // > 0: stop listening after this many connections
  std::function<void(int requests)> on_request;  // server thread, after each request is read
};

struct SeenRequest {
  std::string method, target, request_id;
  Json body;
};

// An OpenAI-compatible server on 127.0.0.1 (any free port) with its own thread: GET /v1/models
// and streamed (SSE) or whole completions, one request per connection. Counts the requests it
// is serving at once.
class FakeServer {
 public:
  explicit FakeServer(FakeConfig config)
      : config_(std::move(config)),
        acceptor_(io_, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0)) {
    port_ = acceptor_.local_endpoint().port();
    Accept();
    thread_ = std::thread([this] { io_.run(); });
  }
  ~FakeServer() {
    io_.stop();
    thread_.join();
  }

  std::string url() const { return "http://127.0.0.1:" + std::to_string(port_); }
  int max_in_flight() const { return max_in_flight_.load(); }
  int requests() const { return requests_.load(); }
  std::vector<SeenRequest> seen() const {
    std::lock_guard<std::mutex> lock(mu_);
    return seen_;
  }

 private:
  struct Step {
    milliseconds delay;
    std::string bytes;
    bool ends = false;  // the response is over for the client once these bytes land
  };

  // A request as read off the socket.
  struct RawRequest {
    std::string method, target, request_id, body;
  };

  // shared_ptr: Asio session lifetime.
  class Session : public std::enable_shared_from_this<Session> {
   public:
    Session(FakeServer& server, tcp::socket socket)
        : server_(server), socket_(std::move(socket)), timer_(server.io_) {}
    void Start() {
      asio::async_read_until(socket_, asio::dynamic_buffer(data_), "\r\n\r\n",
                             [self = shared_from_this()](beast::error_code ec, size_t n) {
                               if (!ec) self->OnHead(n);
                             });
    }

   private:
    // Request line and headers (the client sends Content-Length with a body).
    void OnHead(size_t head_bytes) {
      const std::string head = data_.substr(0, head_bytes);
      data_.erase(0, head_bytes);
      std::istringstream lines(head);
      std::string line, version;
      std::getline(lines, line);
      std::istringstream(line) >> request_.method >> request_.target >> version;
      size_t content_length = 0;
      while (std::getline(lines, line) && line != "\r") {
        const size_t colon = line.find(':');
        if (colon == std::string::npos) continue;
        std::string name = line.substr(0, colon);
        for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
        std::string value = line.substr(colon + 1);
        value.erase(0, value.find_first_not_of(' '));
        value.erase(value.find_last_not_of("\r ") + 1);
        if (name == "content-length") content_length = std::stoul(value);
        if (name == "x-request-id") request_.request_id = value;
      }
      if (data_.size() >= content_length) return OnBody(content_length);
      asio::async_read(socket_, asio::dynamic_buffer(data_),
                       asio::transfer_exactly(content_length - data_.size()),
                       [self = shared_from_this(), content_length](beast::error_code ec, size_t) {
                         if (!ec) self->OnBody(content_length);
                       });
    }
    void OnBody(size_t content_length) {
      request_.body = data_.substr(0, content_length);
      steps_ = server_.Respond(request_);
      Next();
    }
    void Next() {
      if (next_ == steps_.size()) {
        beast::error_code ignored;
        socket_.shutdown(tcp::socket::shutdown_both, ignored);
        socket_.close(ignored);
        return;
      }
      timer_.expires_after(steps_[next_].delay);
      timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
        if (!ec) self->Write();
      });
    }
    void Write() {
      const Step& step = steps_[next_++];
      if (step.ends) --server_.in_flight_;  // before the client can see the end
      asio::async_write(socket_, asio::buffer(step.bytes),
                        [self = shared_from_this()](beast::error_code ec, size_t) {
                          if (!ec) self->Next();
                        });
    }

    FakeServer& server_;
    tcp::socket socket_;
    asio::steady_timer timer_;
    std::string data_;
    RawRequest request_;
    std::vector<Step> steps_;
    size_t next_ = 0;
  };

  void Accept() {
    acceptor_.async_accept([this](beast::error_code ec, tcp::socket socket) {
      if (ec) return;
      std::make_shared<Session>(*this, std::move(socket))->Start();
      if (config_.accept_limit > 0 && ++connections_ >= config_.accept_limit) {
        acceptor_.close();
        return;
      }
      Accept();
    });
  }

  static std::string Whole(const std::string& status, const std::string& json) {
    return "HTTP/1.1 " + status +
           "\r\nContent-Type: application/json\r\nContent-Length: " + std::to_string(json.size()) +
           "\r\nConnection: close\r\n\r\n" + json;
  }

  // One SSE event (after an optional comment line), framed as an HTTP chunk when chunked.
  std::string Event(const std::string& data, const std::string& comment = "") const {
    const std::string eol = config_.crlf ? "\r\n" : "\n";
    const std::string event =
        (comment.empty() ? "" : ":" + comment + eol + eol) + "data: " + data + eol + eol;
    if (!config_.chunked) return event;
    char size[16];
    std::snprintf(size, sizeof size, "%zx", event.size());
    return std::string(size) + "\r\n" + event + "\r\n";
  }

  std::vector<Step> Respond(const RawRequest& req) {
    SeenRequest seen{req.method, req.target, req.request_id, Json::parse(req.body, nullptr, false)};
    {
      std::lock_guard<std::mutex> lock(mu_);
      seen_.push_back(seen);
    }
    const int now = ++in_flight_;
    int prev = max_in_flight_.load();
    while (prev < now && !max_in_flight_.compare_exchange_weak(prev, now)) {
    }
    const int n = ++requests_;
    if (config_.on_request) config_.on_request(n);
    if (seen.target == "/v1/models") {
      return {{milliseconds(0),
               Whole("200 OK", R"({"object":"list","data":[{"id":"fake-model"}]})"), true}};
    }
    if (config_.mode == FakeConfig::Mode::k503) {
      return {{milliseconds(0),
               Whole("503 Service Unavailable",
                     R"({"error":{"message":"overloaded","type":"service_unavailable"}})"),
               true}};
    }
    const bool chat = seen.target == "/v1/chat/completions";
    const int max_tokens = seen.body.value(chat ? "max_completion_tokens" : "max_tokens", 0);
    const int prompt_tokens =
        chat ? 0 : static_cast<int>(seen.body.value("prompt", Json::array()).size());
    if (!seen.body.value("stream", false)) {
      Json j = {{"choices", {{{"index", 0}, {"text", " w1"}}}},
                {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", max_tokens}}}};
      return {{config_.first_token_delay, Whole("200 OK", j.dump()), true}};
    }
    std::vector<Step> steps;
    steps.push_back(
        {milliseconds(0),
         std::string("HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\n") +
             (config_.chunked ? "Transfer-Encoding: chunked\r\n" : "Connection: close\r\n") +
             "\r\n",
         false});
    int sent = 0;
    bool first = true;
    while (sent < max_tokens) {
      const int k = std::min(config_.tokens_per_chunk, max_tokens - sent);
      std::string text;
      for (int t = 0; t < k; ++t) text += " w" + std::to_string(300 + sent + t);
      sent += k;
      Json choice = chat ? Json{{"index", 0}, {"delta", {{"content", text}}}}
                         : Json{{"index", 0}, {"text", text}};
      Json chunk = {{"object", "text_completion"}, {"choices", {choice}}};
      if (config_.usage_every_chunk || sent == max_tokens) {
        chunk["usage"] = {{"prompt_tokens", prompt_tokens}, {"completion_tokens", sent}};
      }
      const milliseconds delay = first ? config_.first_token_delay : config_.token_delay;
      first = false;
      if (config_.mode == FakeConfig::Mode::kCutStream && sent > config_.cut_after_tokens) {
        steps.back().ends = true;
        return steps;
      }
      // The first event also carries a comment, as servers send keep-alives.
      steps.push_back({delay, Event(chunk.dump(), steps.size() == 1 ? " ok" : ""), false});
    }
    Json usage = {{"choices", Json::array()},
                  {"usage", {{"prompt_tokens", prompt_tokens}, {"completion_tokens", sent}}}};
    std::string tail = Event(usage.dump()) + Event("[DONE]");
    if (config_.chunked) tail += "0\r\n\r\n";
    if (config_.mode == FakeConfig::Mode::kCutStream) {
      steps.back().ends = true;
      return steps;
    }
    steps.push_back({config_.token_delay, tail, true});
    return steps;
  }

  const FakeConfig config_;
  asio::io_context io_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
  int connections_ = 0;  // server thread only
  std::atomic<int> in_flight_{0}, max_in_flight_{0}, requests_{0};
  mutable std::mutex mu_;
  std::vector<SeenRequest> seen_;
  std::thread thread_;
};

// n requests, `gap` apart, with block hashes (block_tokens 16) shared by pairs.
Workload MakeWorkload(int n, int32_t isl, int32_t osl, Duration gap) {
  Workload w;
  w.block_tokens = 16;
  for (int i = 0; i < n; ++i) {
    Request r;
    r.id = RequestId(static_cast<uint64_t>(i));
    r.arrival = Time::Zero() + gap * i;
    r.isl = isl;
    r.osl = osl;
    r.block_hashes = {static_cast<uint64_t>(1000 + i / 2)};
    w.requests.push_back(r);
  }
  return w;
}

LoadOptions Options(const FakeServer& server) {
  LoadOptions o;
  o.url = server.url();
  o.model = "m";
  o.request_timeout = Duration::Seconds(4);
  return o;
}

std::vector<RequestResult> MustRun(const Workload& w, const LoadOptions& o) {
  auto r = RunLoad(w, o);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return r.ok() ? std::move(*r) : std::vector<RequestResult>{};
}

TEST(LoadGeneratorTest, OpenLoopStreamsEveryRequest) {
  FakeServer server({});
  const Workload w = MakeWorkload(50, 24, 6, Duration::Millis(2));
  LoadOptions o = Options(server);
  o.model = "";  // discovered: GET /v1/models
  std::vector<std::pair<int64_t, int64_t>> progress;
  o.progress = [&](int64_t done, int64_t total) { progress.emplace_back(done, total); };
  const auto results = MustRun(w, o);
  ASSERT_EQ(results.size(), 50u);
  for (size_t i = 0; i < results.size(); ++i) {
    const RequestResult& r = results[i];
    EXPECT_EQ(r.id, static_cast<int64_t>(i));
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.http_status, 200);
    EXPECT_EQ(r.prompt_tokens, 24);
    EXPECT_EQ(r.output_tokens, 6);
    EXPECT_EQ(r.usage_completion_tokens, 6);
    EXPECT_EQ(r.max_tokens, 6);
    EXPECT_EQ(r.itl_ms.size(), 5u);
    EXPECT_GT(r.ttft_ms, 0);
    EXPECT_GE(r.e2e_ms, r.ttft_ms);
    EXPECT_DOUBLE_EQ(r.scheduled_s, 0.002 * static_cast<double>(i));
    EXPECT_GE(r.sent_s, r.scheduled_s);
  }
  ASSERT_EQ(progress.size(), 50u);
  EXPECT_EQ(progress.back(), std::make_pair(int64_t{50}, int64_t{50}));

  // What went over the wire.
  const auto seen = server.seen();
  ASSERT_EQ(seen.size(), 51u);
  EXPECT_EQ(seen[0].method, "GET");
  EXPECT_EQ(seen[0].target, "/v1/models");
  for (size_t k = 1; k < seen.size(); ++k) {
    const SeenRequest& s = seen[k];
    EXPECT_EQ(s.method, "POST");
    EXPECT_EQ(s.target, "/v1/completions");
    const uint64_t id = std::stoull(s.request_id);
    ASSERT_LT(id, 50u);
    EXPECT_EQ(s.body["model"], "fake-model");
    EXPECT_EQ(s.body["max_tokens"], 6);
    EXPECT_EQ(s.body["stream"], true);
    EXPECT_EQ(s.body["stream_options"]["include_usage"], true);
    EXPECT_EQ(s.body["prompt"].get<std::vector<uint32_t>>(),
              PromptTokens(w.requests[id], w.block_tokens, o.seed));
  }

  const LoadSummary sum = Summarize(results, 1.0, 1.0);
  EXPECT_EQ(sum.requests, 50);
  EXPECT_EQ(sum.completed, 50);
  EXPECT_EQ(sum.failed, 0);
  EXPECT_EQ(sum.incomplete_outputs, 0);
  EXPECT_DOUBLE_EQ(sum.output_tokens_per_s, 300);
  EXPECT_TRUE(sum.errors.empty());
}

TEST(LoadGeneratorTest, ClosedLoopNeverExceedsConcurrency) {
  FakeConfig c;
  c.token_delay = milliseconds(2);
  c.crlf = true;
  c.chunked = false;
  FakeServer server(c);
  LoadOptions o = Options(server);
  o.concurrency = 4;  // overrides the open-loop arrivals
  const auto results = MustRun(MakeWorkload(20, 16, 5, Duration::Seconds(10)), o);
  ASSERT_EQ(results.size(), 20u);
  for (const RequestResult& r : results) EXPECT_TRUE(r.ok) << r.error;
  EXPECT_LE(server.max_in_flight(), 4);
  EXPECT_GE(server.max_in_flight(), 2);
}

TEST(LoadGeneratorTest, WorkloadClosedLoopConcurrency) {
  FakeConfig c;
  c.token_delay = milliseconds(2);
  FakeServer server(c);
  Workload w = MakeWorkload(12, 16, 4, Duration::Zero());
  w.closed_loop_concurrency = 2;
  const auto results = MustRun(w, Options(server));
  ASSERT_EQ(results.size(), 12u);
  for (const RequestResult& r : results) EXPECT_TRUE(r.ok) << r.error;
  EXPECT_LE(server.max_in_flight(), 2);
}

TEST(LoadGeneratorTest, NonStreamingReadsUsage) {
  FakeServer server({});
  LoadOptions o = Options(server);
  o.stream = false;
  const auto results = MustRun(MakeWorkload(5, 20, 7, Duration::Millis(1)), o);
  ASSERT_EQ(results.size(), 5u);
  for (const RequestResult& r : results) {
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 7);
    EXPECT_EQ(r.usage_completion_tokens, 7);
    EXPECT_TRUE(r.itl_ms.empty());
    EXPECT_EQ(r.ttft_ms, r.e2e_ms);
  }
  const auto seen = server.seen();
  ASSERT_FALSE(seen.empty());
  EXPECT_EQ(seen[0].body["stream"], false);
  EXPECT_FALSE(seen[0].body.contains("stream_options"));
}

TEST(LoadGeneratorTest, ChatEndpointSendsMessagesAndReadsDeltas) {
  FakeServer server({});
  LoadOptions o = Options(server);
  o.endpoint = "chat";
  const Workload w = MakeWorkload(3, 10, 4, Duration::Millis(1));
  const auto results = MustRun(w, o);
  ASSERT_EQ(results.size(), 3u);
  for (const RequestResult& r : results) {
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_EQ(r.output_tokens, 4);
  }
  for (const SeenRequest& s : server.seen()) {
    EXPECT_EQ(s.target, "/v1/chat/completions");
    EXPECT_EQ(s.body["max_completion_tokens"], 4);
    EXPECT_EQ(s.body["messages"][0]["role"], "user");
    const auto& req = w.requests[std::stoull(s.request_id)];
    EXPECT_EQ(s.body["messages"][0]["content"], PromptText(PromptTokens(req, 16, o.seed)));
  }
}

TEST(LoadGeneratorTest, UsageGrowthCountsTokensPerChunk) {
  FakeConfig c;
  c.tokens_per_chunk = 3;
  c.usage_every_chunk = true;
  FakeServer server(c);
  const auto results = MustRun(MakeWorkload(1, 8, 7, Duration::Zero()), Options(server));
  ASSERT_EQ(results.size(), 1u);
  const RequestResult& r = results[0];
  EXPECT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.output_tokens, 7);  // chunks of 3, 3, 1
  ASSERT_EQ(r.itl_ms.size(), 6u);
  EXPECT_EQ(r.itl_ms[0], 0);  // delivered with the first token
  EXPECT_EQ(r.itl_ms[1], 0);
  EXPECT_EQ(r.itl_ms[2], r.itl_ms[3]);  // the second chunk's gap, split over its 3 tokens
  EXPECT_EQ(r.itl_ms[3], r.itl_ms[4]);
}

TEST(LoadGeneratorTest, ServerErrorIsAFailedRequestWithTheMessage) {
  FakeConfig c;
  c.mode = FakeConfig::Mode::k503;
  FakeServer server(c);
  const auto results = MustRun(MakeWorkload(4, 8, 4, Duration::Millis(1)), Options(server));
  ASSERT_EQ(results.size(), 4u);
  for (const RequestResult& r : results) {
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.http_status, 503);
    EXPECT_EQ(r.error, "HTTP 503: overloaded");
  }
  const LoadSummary s = Summarize(results, 1.0, 1.0);
  EXPECT_EQ(s.failed, 4);
  EXPECT_EQ(s.completed, 0);
  EXPECT_EQ(s.errors.at("HTTP 503: overloaded"), 4);
}

TEST(LoadGeneratorTest, StreamCutBeforeDoneFails) {
  for (const bool chunked : {true, false}) {
    FakeConfig c;
    c.mode = FakeConfig::Mode::kCutStream;
    c.chunked = chunked;
    FakeServer server(c);
    const auto results = MustRun(MakeWorkload(3, 8, 6, Duration::Millis(1)), Options(server));
    ASSERT_EQ(results.size(), 3u);
    for (const RequestResult& r : results) {
      EXPECT_FALSE(r.ok);
      EXPECT_EQ(r.http_status, 200);
      EXPECT_EQ(r.output_tokens, 2);
      EXPECT_EQ(r.error, "stream ended before [DONE] after 2 tokens") << "chunked " << chunked;
    }
  }
}

uint16_t ClosedPort() {
  asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

TEST(LoadGeneratorTest, UnreachableServerIsAClearError) {
  const std::string url = "http://127.0.0.1:" + std::to_string(ClosedPort());
  for (const std::string model : {"m", ""}) {  // refused on the first request, or on GET models
    LoadOptions o;
    o.url = url;
    o.model = model;
    auto r = RunLoad(MakeWorkload(5, 8, 2, Duration::Zero()), o);
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.status().message(),
              "cannot reach " + url + ": Connection refused; is dynamo-run running?");
  }
}

TEST(LoadGeneratorTest, RefusedConnectionsLaterAreFailedRequests) {
  FakeConfig c;
  c.accept_limit = 3;  // then the server stops listening
  FakeServer server(c);
  LoadOptions o = Options(server);
  o.concurrency = 1;
  const auto results = MustRun(MakeWorkload(6, 8, 3, Duration::Zero()), o);
  ASSERT_EQ(results.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    if (i < 3) {
      EXPECT_TRUE(results[i].ok) << results[i].error;
    } else {
      EXPECT_FALSE(results[i].ok);
      EXPECT_EQ(results[i].http_status, 0);
      EXPECT_EQ(results[i].error,
                "cannot reach " + server.url() + ": Connection refused; is dynamo-run running?");
    }
  }
}

TEST(LoadGeneratorTest, TimeScaleStretchesArrivalsAndDividesLatencies) {
  FakeConfig c;
  c.first_token_delay = milliseconds(40);
  FakeServer server(c);
  LoadOptions o = Options(server);
  o.time_scale = 4;
  const Workload w = MakeWorkload(2, 8, 2, Duration::Millis(10));
  const auto t0 = std::chrono::steady_clock::now();
  const auto results = MustRun(w, o);
  const double wall_ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_EQ(results.size(), 2u);
  EXPECT_DOUBLE_EQ(results[1].scheduled_s, 0.040);  // 10 ms x 4
  EXPECT_GE(results[1].sent_s, 0.040);
  for (const RequestResult& r : results) {
    EXPECT_TRUE(r.ok) << r.error;
    EXPECT_GE(r.ttft_ms * 4, 40.0);  // the server waits 40 ms of wall time
    // Divided: the wall-clock latency fits in the run's wall time only after x 4.
    EXPECT_LE(r.e2e_ms * 4, wall_ms);
  }
  const LoadSummary s = Summarize(results, 2.0, 4.0);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_s, 4.0 / 0.5);  // 4 tokens in 2 s wall = 0.5 s plan
  EXPECT_DOUBLE_EQ(s.achieved_rps, 2.0 / 0.5);
}

TEST(LoadGeneratorTest, CancelStopsEarly) {
  std::atomic<bool> cancel{false};
  FakeConfig c;
  c.on_request = [&](int n) {
    if (n == 3) cancel = true;
  };
  FakeServer server(c);
  LoadOptions o = Options(server);
  o.cancel = &cancel;
  const auto results = MustRun(MakeWorkload(50, 8, 3, Duration::Millis(20)), o);
  EXPECT_LT(results.size(), 10u);
  EXPECT_LT(server.requests(), 10);
  for (const RequestResult& r : results) EXPECT_TRUE(r.ok) << r.error;
}

TEST(LoadGeneratorTest, TimeoutFailsTheRequest) {
  FakeConfig c;
  c.first_token_delay = milliseconds(3000);
  FakeServer server(c);
  LoadOptions o = Options(server);
  o.request_timeout = Duration::Millis(50);
  const auto results = MustRun(MakeWorkload(1, 8, 3, Duration::Zero()), o);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(results[0].ok);
  EXPECT_EQ(results[0].error, "timed out after 0.05 s after 0 tokens");
}

TEST(LoadGeneratorTest, RejectsBadOptions) {
  const Workload w = MakeWorkload(1, 8, 3, Duration::Zero());
  LoadOptions o;
  o.url = "localhost:8000";
  auto bad_url = RunLoad(w, o);
  ASSERT_FALSE(bad_url.ok());
  EXPECT_NE(bad_url.status().message().find("url 'localhost:8000'"), std::string::npos);
  o = LoadOptions{};
  o.time_scale = 0;
  EXPECT_FALSE(RunLoad(w, o).ok());
  o = LoadOptions{};
  o.endpoint = "embeddings";
  auto bad_endpoint = RunLoad(w, o);
  ASSERT_FALSE(bad_endpoint.ok());
  EXPECT_EQ(bad_endpoint.status().message(),
            "endpoint 'embeddings' is unknown; use completions or chat");
}

RequestResult Done(int64_t id, double ttft, double e2e, std::vector<double> itl, int32_t out,
                   int32_t max_tokens) {
  RequestResult r;
  r.id = id;
  r.ok = true;
  r.http_status = 200;
  r.ttft_ms = ttft;
  r.e2e_ms = e2e;
  r.itl_ms = std::move(itl);
  r.output_tokens = out;
  r.max_tokens = max_tokens;
  r.scheduled_s = 0.5 * static_cast<double>(id);
  return r;
}

TEST(LoadGeneratorTest, SummarizeUsesNearestRankOverCompletedRequests) {
  std::vector<RequestResult> results;
  for (int i = 1; i <= 10; ++i) {
    results.push_back(Done(i - 1, i, 10.0 * i, {1.0 * i}, 2, i == 10 ? 3 : 2));
  }
  RequestResult failed;
  failed.id = 10;
  failed.error = std::string(100, 'x');
  failed.scheduled_s = 5.0;
  results.push_back(failed);
  results.push_back(failed);
  const LoadSummary s = Summarize(results, 10.0, 2.0);
  EXPECT_EQ(s.requests, 12);
  EXPECT_EQ(s.completed, 10);
  EXPECT_EQ(s.failed, 2);
  EXPECT_EQ(s.incomplete_outputs, 1);
  EXPECT_DOUBLE_EQ(s.ttft_ms.mean, 5.5);
  EXPECT_DOUBLE_EQ(s.ttft_ms.p50, 5);
  EXPECT_DOUBLE_EQ(s.ttft_ms.p90, 9);
  EXPECT_DOUBLE_EQ(s.ttft_ms.p99, 10);
  EXPECT_DOUBLE_EQ(s.ttft_ms.max, 10);
  EXPECT_DOUBLE_EQ(s.e2e_ms.p50, 50);
  EXPECT_DOUBLE_EQ(s.itl_ms.p90, 9);
  EXPECT_DOUBLE_EQ(s.offered_rps, 12 / 2.5);  // last scheduled 5 s wall = 2.5 s plan
  EXPECT_DOUBLE_EQ(s.achieved_rps, 10 / 5.0);
  EXPECT_DOUBLE_EQ(s.output_tokens_per_s, 20 / 5.0);
  ASSERT_EQ(s.errors.size(), 1u);
  EXPECT_EQ(s.errors.begin()->first, std::string(80, 'x'));
  EXPECT_EQ(s.errors.begin()->second, 2);

  const Json j = Json::parse(SummaryJson(s));
  EXPECT_EQ(j["completed"], 10);
  EXPECT_EQ(j["ttft_ms"]["p90"], 9.0);
  EXPECT_EQ(j["errors"][std::string(80, 'x')], 2);

  const LoadSummary empty = Summarize({}, 0, 1);
  EXPECT_EQ(empty.requests, 0);
  EXPECT_EQ(empty.ttft_ms.p99, 0);
}

TEST(LoadGeneratorTest, WritesRecordsCsv) {
  std::vector<RequestResult> results = {Done(0, 1.5, 3.0, {0.5, 1.0}, 3, 3)};
  RequestResult failed;
  failed.id = 1;
  failed.http_status = 503;
  failed.error = "HTTP 503: busy, \"try later\"";
  results.push_back(failed);
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("loadgen_records_" + std::to_string(::getpid()) + ".csv"))
                               .string();
  ASSERT_TRUE(WriteRecordsCsv(path, results).ok());
  auto text = ReadFile(path);
  std::filesystem::remove(path);
  ASSERT_TRUE(text.ok());
  EXPECT_EQ(*text,
            "id,ok,http_status,prompt_tokens,max_tokens,output_tokens,usage_completion_tokens,"
            "scheduled_s,sent_s,ttft_ms,itl_mean_ms,itl_max_ms,e2e_ms,error\n"
            "0,1,200,0,3,3,-1,0.000000,0.000000,1.500000,0.750000,1.000000,3.000000,\n"
            "1,0,503,0,0,0,-1,0.000000,0.000000,0.000000,0.000000,0.000000,0.000000,"
            "\"HTTP 503: busy, \"\"try later\"\"\"\n");
  EXPECT_FALSE(WriteRecordsCsv("/nonexistent-dir/records.csv", results).ok());
}

}  // namespace
}  // namespace dynamo::loadgen
