// The frontend and worker services in one process (no child processes): HTTP in, tokens out,
// discovery through a run directory, migration when a worker dies, cancellation when a client
// leaves, drain on shutdown. The io_context runs on its own thread; the test talks HTTP over
// loopback sockets.
#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <future>
#include <optional>
#include <string>
#include <thread>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>

#include "core/json.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "runtime/service/frontend_service.h"
#include "runtime/service/worker_service.h"

namespace dynamo::service {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;
using nlohmann::json;

constexpr const char* kPlan = R"({
  "model": "llama-3.1-8b",
  "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
  "workers": [{"role": "agg", "replicas": 2, "tp": 1, "max_num_seqs": 32,
               "max_num_batched_tokens": 2048, "block_size": 16}],
  "router": {"policy": "round_robin"} })";

struct HttpResult {
  int status = 0;
  std::string body;  // de-chunked
};

// One request on a fresh connection (Connection: close); reads to EOF.
HttpResult Http(uint16_t port, const std::string& method, const std::string& path,
                const std::string& body = "") {
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
  std::string req = method + " " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n";
  if (!body.empty()) {
    req +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  req += "\r\n" + body;
  asio::write(s, asio::buffer(req));
  std::string raw;
  boost::system::error_code ec;
  char buf[4096];
  for (;;) {
    const size_t n = s.read_some(asio::buffer(buf), ec);
    raw.append(buf, n);
    if (ec) break;
  }
  HttpResult r;
  const size_t head_end = raw.find("\r\n\r\n");
  if (head_end == std::string::npos) return r;
  r.status = std::stoi(raw.substr(9, 3));
  const std::string head = raw.substr(0, head_end);
  std::string rest = raw.substr(head_end + 4);
  if (head.find("chunked") == std::string::npos) {
    r.body = rest;
    return r;
  }
  size_t pos = 0;
  for (;;) {
    const size_t eol = rest.find("\r\n", pos);
    if (eol == std::string::npos) break;
    const size_t len = std::stoul(rest.substr(pos, eol - pos), nullptr, 16);
    if (len == 0) break;
    r.body += rest.substr(eol + 2, len);
    pos = eol + 2 + len + 2;
  }
  return r;
}

class ServeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("serve_test." + std::to_string(::getpid()) + "." +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(dir_);
    auto plan = ParsePlan(*JsonDocument::Parse(kPlan, "plan.json"));
    ASSERT_TRUE(plan.ok()) << plan.status().ToString();
    plan_ = std::move(*plan);
    auto perf = perf::OpenPerfModel("", plan_.gpu, "gpu");
    ASSERT_TRUE(perf.ok());
    perf_ = *perf;
  }
  void TearDown() override {
    if (thread_.joinable()) {
      asio::post(io_, [this] {
        workers_.clear();
        frontend_.reset();
        io_.stop();
      });
      thread_.join();
    }
    std::filesystem::remove_all(dir_);
  }

  void Start(FrontendOptions fo = {}) {
    fo.port = 0;
    fo.run_dir = dir_.string();
    fo.scan_interval = Duration::Millis(20);
    auto fe = FrontendService::Create(io_, plan_, fo);
    ASSERT_TRUE(fe.ok()) << fe.status().ToString();
    frontend_ = std::move(*fe);
    for (int r = 0; r < 2; ++r) AddWorker(r);
    std::promise<void> ready;
    frontend_->OnReady([&] { ready.set_value(); });
    thread_ = std::thread([this] { io_.run(); });
    ASSERT_EQ(ready.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
    port_ = frontend_->port();
  }
  void AddWorker(int replica) {
    WorkerOptions wo;
    wo.pool = 0;
    wo.replica = replica;
    wo.run_dir = dir_.string();
    wo.heartbeat_interval = Duration::Millis(20);
    wo.time_scale = time_scale_;
    auto w = WorkerService::Create(io_, plan_, perf_, wo);
    ASSERT_TRUE(w.ok()) << w.status().ToString();
    workers_.push_back(std::move(*w));
  }
  // Runs `f` on the io thread and waits for it.
  template <typename F>
  auto OnIo(F f) {
    std::packaged_task<decltype(f())()> task(std::move(f));
    auto fut = task.get_future();
    asio::post(io_, [&task] { task(); });
    return fut.get();
  }

  std::filesystem::path dir_;
  Plan plan_;
  std::shared_ptr<const perf::PerfModel> perf_;
  double time_scale_ = 1.0;
  asio::io_context io_;
  std::unique_ptr<FrontendService> frontend_;
  std::vector<std::unique_ptr<WorkerService>> workers_;
  std::thread thread_;
  uint16_t port_ = 0;
};

TEST_F(ServeTest, CompletionsStreamAndMetrics) {
  Start();
  const HttpResult models = Http(port_, "GET", "/v1/models");
  EXPECT_EQ(models.status, 200);
  EXPECT_EQ(json::parse(models.body)["data"][0]["id"], "llama-3.1-8b");

  const HttpResult r = Http(port_, "POST", "/v1/completions",
                            R"({"model":"llama-3.1-8b","prompt":"one two three","max_tokens":5})");
  ASSERT_EQ(r.status, 200) << r.body;
  const json j = json::parse(r.body);
  EXPECT_EQ(j["usage"]["prompt_tokens"], 3);
  EXPECT_EQ(j["usage"]["completion_tokens"], 5);

  const HttpResult s =
      Http(port_, "POST", "/v1/completions",
           R"({"model":"llama-3.1-8b","prompt":"one two three","max_tokens":5,"stream":true})");
  ASSERT_EQ(s.status, 200);
  std::string text;
  int chunks = 0;
  size_t pos = 0;
  while ((pos = s.body.find("data: ", pos)) != std::string::npos) {
    const size_t end = s.body.find("\n\n", pos);
    const std::string data = s.body.substr(pos + 6, end - pos - 6);
    pos = end;
    if (data == "[DONE]") break;
    const json c = json::parse(data);
    text += c["choices"][0]["text"].get<std::string>();
    ++chunks;
  }
  EXPECT_EQ(chunks, 5);
  // Same prompt, same tokens, streamed or not.
  EXPECT_EQ(text, j["choices"][0]["text"].get<std::string>());

  const HttpResult m = Http(port_, "GET", "/metrics");
  EXPECT_NE(m.body.find("dynamo_frontend_requests_total{model=\"llama-3.1-8b\",endpoint="
                        "\"completions\",status=\"success\"} 2"),
            std::string::npos)
      << m.body;
  EXPECT_NE(m.body.find("dynamo_frontend_output_tokens_total{model=\"llama-3.1-8b\"} 10"),
            std::string::npos);
}

TEST_F(ServeTest, RoundRobinAlternatesInPlanOrder) {
  Start();
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Http(port_, "POST", "/v1/completions",
                   R"({"model":"llama-3.1-8b","prompt":"x","max_tokens":1})")
                  .status,
              200);
  }
  const std::vector<WorkerStats> stats = OnIo([this] {
    return std::vector<WorkerStats>{workers_[0]->stats(), workers_[1]->stats()};
  });
  EXPECT_EQ(stats[0].finished, 2);
  EXPECT_EQ(stats[1].finished, 2);
}

TEST_F(ServeTest, AWorkerThatDiesHasItsRequestsMigrated) {
  time_scale_ = 20;  // slow steps: the request is mid-stream when its worker goes
  Start();
  auto fut = std::async(std::launch::async, [this] {
    return Http(port_, "POST", "/v1/completions",
                R"({"model":"llama-3.1-8b","prompt":"a b c","max_tokens":24,"stream":true})");
  });
  // Wait until the request is running on some worker, then destroy that worker (its sockets
  // close, as after kill -9).
  int victim = -1;
  for (int i = 0; i < 500 && victim < 0; ++i) {
    victim = OnIo([this] {
      for (size_t w = 0; w < workers_.size(); ++w) {
        if (workers_[w]->stats().tokens >= 3) return static_cast<int>(w);
      }
      return -1;
    });
    if (victim < 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_GE(victim, 0);
  OnIo([this, victim] {
    workers_[static_cast<size_t>(victim)].reset();
    return 0;
  });
  const HttpResult s = fut.get();
  ASSERT_EQ(s.status, 200);
  int chunks = 0;
  for (size_t pos = 0; (pos = s.body.find("\"text\"", pos)) != std::string::npos; ++pos) ++chunks;
  EXPECT_EQ(chunks, 24) << s.body.substr(0, 400);
  EXPECT_NE(s.body.find("[DONE]"), std::string::npos);
  const FrontendStats st = OnIo([this] { return frontend_->stats(); });
  EXPECT_EQ(st.migrations, 1);
  EXPECT_EQ(st.completed, 1);
}

TEST_F(ServeTest, ShutdownDrainsRunningRequestsAndRefusesNewConnections) {
  time_scale_ = 20;  // slow steps: the request is still running when the shutdown begins
  Start();
  auto fut = std::async(std::launch::async, [this] {
    return Http(port_, "POST", "/v1/completions",
                R"({"model":"llama-3.1-8b","prompt":"a b c","max_tokens":12,"stream":true})");
  });
  bool running = false;
  for (int i = 0; i < 500 && !running; ++i) {
    running =
        OnIo([this] { return workers_[0]->stats().tokens + workers_[1]->stats().tokens; }) > 0;
    if (!running) std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_TRUE(running);
  std::promise<void> done;
  OnIo([&] {
    frontend_->Shutdown([&] { done.set_value(); });
    return 0;
  });
  // New connections are refused while the running stream drains to its end.
  asio::io_context io;
  tcp::socket s(io);
  boost::system::error_code ec;
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_), ec);
  EXPECT_TRUE(ec) << "connected during shutdown";
  const HttpResult r = fut.get();
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(r.body.find("data: [DONE]"), std::string::npos) << r.body.substr(0, 300);
  ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(10)), std::future_status::ready);
  const FrontendStats st = OnIo([this] { return frontend_->stats(); });
  EXPECT_EQ(st.completed, 1);
  EXPECT_EQ(st.failed, 0);
  EXPECT_TRUE(std::filesystem::exists(dir_ / "routing.csv"));
}

}  // namespace
}  // namespace dynamo::service
