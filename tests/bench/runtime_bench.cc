// Frontend + router + request-plane overhead of dynamo-run: the frontend and one worker in this
// process, the worker's mock engine at (practically) zero step time, so what a request costs is
// the HTTP parsing, JSON, tokenizing and hashing, routing, two request-plane messages and the
// response. Reported: requests/s over one keep-alive connection, and the added latency per
// request at p50 / p99 (counters p50_us, p99_us). Also the wire codec alone.
#include <benchmark/benchmark.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <future>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>

#include "core/json.h"
#include "core/perf/perf_model.h"
#include "core/plan/plan.h"
#include "runtime/net/wire.h"
#include "runtime/service/frontend_service.h"
#include "runtime/service/worker_service.h"

namespace dynamo {
namespace {

namespace asio = boost::asio;
using asio::ip::tcp;

constexpr const char* kPlan = R"({
  "model": "llama-3.1-8b",
  "system": {"gpu": "h200_sxm", "gpus_per_node": 8, "nodes": 1},
  "workers": [{"role": "agg", "replicas": 1, "tp": 1, "max_num_seqs": 256}],
  "router": {"policy": "kv"} })";

// The services on their own io thread for the benchmark's life.
class Server {
 public:
  explicit Server(double time_scale) {
    dir_ = std::filesystem::temp_directory_path() / ("runtime_bench." + std::to_string(::getpid()));
    std::filesystem::remove_all(dir_);
    plan_ = *ParsePlan(*JsonDocument::Parse(kPlan, "plan.json"));
    auto perf = *perf::OpenPerfModel("", plan_.gpu, "gpu");
    service::FrontendOptions fo;
    fo.port = 0;
    fo.run_dir = dir_.string();
    fo.scan_interval = Duration::Millis(10);
    auto fe = service::FrontendService::Create(io_, plan_, fo);
    frontend_ = std::move(*fe);
    service::WorkerOptions wo;
    wo.replica = 0;
    wo.run_dir = dir_.string();
    wo.heartbeat_interval = Duration::Millis(10);
    wo.time_scale = time_scale;
    auto w = service::WorkerService::Create(io_, plan_, perf, wo);
    worker_ = std::move(*w);
    std::promise<void> ready;
    frontend_->OnReady([&] { ready.set_value(); });
    thread_ = std::thread([this] { io_.run(); });
    ready.get_future().wait();
  }
  ~Server() {
    asio::post(io_, [this] {
      worker_.reset();
      frontend_.reset();
      io_.stop();
    });
    thread_.join();
    std::filesystem::remove_all(dir_);
  }
  uint16_t port() const { return frontend_->port(); }

 private:
  std::filesystem::path dir_;
  Plan plan_;
  asio::io_context io_;
  std::unique_ptr<service::FrontendService> frontend_;
  std::unique_ptr<service::WorkerService> worker_;
  std::thread thread_;
};

// One non-streaming completion over a keep-alive connection; returns the HTTP status.
int Roundtrip(tcp::socket& s, asio::streambuf& buf, const std::string& request) {
  asio::write(s, asio::buffer(request));
  asio::read_until(s, buf, "\r\n\r\n");
  std::string head(asio::buffers_begin(buf.data()), asio::buffers_end(buf.data()));
  const size_t end = head.find("\r\n\r\n") + 4;
  const size_t cl = head.find("Content-Length: ");
  const size_t len = std::stoul(head.substr(cl + 16));
  buf.consume(end);
  if (buf.size() < len) asio::read(s, buf, asio::transfer_exactly(len - buf.size()));
  buf.consume(len);
  return std::stoi(head.substr(9, 3));
}

void BM_FrontendRoundtrip(benchmark::State& state) {
  // 1e-6: a 10 ms model step lasts 10 ns; the engine is free, the plumbing is not.
  Server server(1e-6);
  const int prompt_words = static_cast<int>(state.range(0));
  std::string prompt;
  for (int i = 0; i < prompt_words; ++i) prompt += "w" + std::to_string(i) + " ";
  const std::string body =
      R"({"model":"llama-3.1-8b","max_tokens":1,"prompt":")" + prompt + R"("})";
  const std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: b\r\nContent-Type: "
      "application/json\r\nContent-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body;
  asio::io_context io;
  tcp::socket s(io);
  s.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
  s.set_option(tcp::no_delay(true));
  asio::streambuf buf;
  std::vector<double> us;
  us.reserve(1 << 16);
  for (auto _ : state) {
    const auto t0 = std::chrono::steady_clock::now();
    if (Roundtrip(s, buf, request) != 200) {
      state.SkipWithError("request failed");
      break;
    }
    us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(us.begin(), us.end());
  if (!us.empty()) {
    state.counters["p50_us"] = us[us.size() / 2];
    state.counters["p99_us"] = us[std::min(us.size() - 1, us.size() * 99 / 100)];
  }
  state.SetItemsProcessed(state.iterations());
}
// Prompt words (tokens): a short prompt, and a 2,048-token one (hashing 128 blocks, routing by
// overlap).
BENCHMARK(BM_FrontendRoundtrip)->Arg(8)->Arg(2048)->UseRealTime()->Unit(benchmark::kMicrosecond);

void BM_WireStepReport(benchmark::State& state) {
  net::StepReport rep;
  for (int i = 0; i < state.range(0); ++i) {
    rep.tokens.push_back({static_cast<uint64_t>(i), 7, 1234, false});
  }
  std::string frame;
  for (auto _ : state) {
    frame.clear();
    net::EncodeFrame(rep, frame);
    auto m =
        net::DecodePayload({reinterpret_cast<const uint8_t*>(frame.data()) + 4, frame.size() - 4});
    benchmark::DoNotOptimize(m);
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));  // tokens
}
BENCHMARK(BM_WireStepReport)->Arg(256);

}  // namespace
}  // namespace dynamo

BENCHMARK_MAIN();
