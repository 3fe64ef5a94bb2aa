// KV transfer bandwidth of UcxKvTransport, to compare with ucx_perftest (ucp_am_bw) under the
// same UCX_TLS (scripts/bench_kv_transfer.sh). A holder transport runs in a child process forked
// before anything else, as ucx_perftest's server runs apart from its client: two processes is
// what a prefill and a decode worker are, and what UCX's intra-host transports (shared memory,
// CMA) are built for; two threads in one process would share one address space and allocator.
// This process pulls 1, 8 and 64 MiB: `window` 1 is what one request's pull costs (request,
// rendezvous, completion, one at a time); a window of 4 keeps four pulls in flight, as a decode
// worker receiving several requests' KV does. Reported: bytes/s (SetBytesProcessed) and GB/s
// (1e9 bytes/s), over wall time.

#include <benchmark/benchmark.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>

#include "core/status.h"
#include "core/time.h"
#include "runtime/kvtransfer/ucx_kv_transport.h"

namespace dynamo::kvtransfer {
namespace {

namespace asio = boost::asio;

constexpr int64_t kMiB = 1 << 20;
constexpr int kPullsPerIteration = 8;
constexpr Duration kPullTimeout = Duration::Seconds(60);  // a stuck holder fails the benchmark

// UcxKvOptions for both sides: DYNAMO_KV_POLL_IDLE_US overrides poll_idle (0: never poll), to
// compare the transport's polling with plain fd wake-ups.
UcxKvOptions BenchOptions() {
  UcxKvOptions options;
  if (const char* us = std::getenv("DYNAMO_KV_POLL_IDLE_US"); us != nullptr) {
    options.poll_idle = Duration::Micros(std::atoll(us));
  }
  return options;
}

// The forked holder: serves every pull until this process closes `control_fd` (or dies).
struct HolderProcess {
  pid_t pid = -1;
  int control_fd = -1;
  std::string address;
};

[[noreturn]] void RunHolder(int address_fd, int control_fd) {
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
  asio::io_context io;
  auto transport = UcxKvTransport::Create(io, BenchOptions());
  if (!transport.ok()) {
    std::fprintf(stderr, "holder: %s\n", transport.status().ToString().c_str());
    ::_exit(1);
  }
  (*transport)->Serve([](uint64_t, int64_t) { return true; }, nullptr);
  const std::string line = (*transport)->address() + "\n";
  if (::write(address_fd, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    ::_exit(1);
  }
  ::close(address_fd);
  // EOF on the control pipe (the parent closed it or exited) stops the holder.
  asio::posix::stream_descriptor control(io, control_fd);
  control.async_wait(asio::posix::stream_descriptor::wait_read, [&](auto) { io.stop(); });
  io.run();
  transport->reset();
  ::_exit(0);
}

std::optional<HolderProcess> StartHolder() {
  int address_pipe[2];
  int control_pipe[2];
  if (::pipe(address_pipe) != 0 || ::pipe(control_pipe) != 0) return std::nullopt;
  const pid_t pid = ::fork();
  if (pid < 0) return std::nullopt;
  if (pid == 0) {
    ::close(address_pipe[0]);
    ::close(control_pipe[1]);
    RunHolder(address_pipe[1], control_pipe[0]);
  }
  ::close(address_pipe[1]);
  ::close(control_pipe[0]);
  HolderProcess holder{.pid = pid, .control_fd = control_pipe[1]};
  char c = 0;
  while (::read(address_pipe[0], &c, 1) == 1 && c != '\n') holder.address += c;
  ::close(address_pipe[0]);
  if (holder.address.empty()) return std::nullopt;
  return holder;
}

// The pulling side, in this process, created on first use and kept across benchmarks (one
// connection, as a decode worker keeps its endpoints).
struct Puller {
  asio::io_context io;
  std::unique_ptr<UcxKvTransport> transport;
  std::string holder_address;
  uint64_t next_key = 0;

  // `count` pulls of `bytes`, at most `window` in flight. Returns the first error.
  Status PullMany(int64_t bytes, int count, int window) {
    int started = 0;
    int finished = 0;
    Status first_error;
    auto start_one = [&](auto& self) -> void {
      ++started;
      transport->Pull(holder_address, next_key++, bytes, kPullTimeout, [&, self](Status s) {
        ++finished;
        if (!s.ok() && first_error.ok()) first_error = std::move(s);
        if (started < count) self(self);
      });
    };
    for (int i = 0; i < window && started < count; ++i) start_one(start_one);
    while (finished < count) io.run_one();
    return first_error;
  }
};

std::string g_holder_address;  // set by main before the benchmarks run
std::unique_ptr<Puller> g_puller;

Puller* GetPuller(benchmark::State& state) {
  if (g_puller == nullptr) {
    auto puller = std::make_unique<Puller>();
    auto transport = UcxKvTransport::Create(puller->io, BenchOptions());
    if (!transport.ok()) {
      state.SkipWithError(transport.status().ToString().c_str());
      return nullptr;
    }
    puller->transport = std::move(transport).value();
    puller->holder_address = g_holder_address;
    g_puller = std::move(puller);
  }
  return g_puller.get();
}

void BM_KvPull(benchmark::State& state) {
  const int64_t bytes = state.range(0) * kMiB;
  const int window = static_cast<int>(state.range(1));
  Puller* puller = GetPuller(state);
  if (puller == nullptr) return;
  // Warm-up outside the timing: connection, buffer growth and mapping on both sides.
  if (Status s = puller->PullMany(bytes, window, window); !s.ok()) {
    state.SkipWithError(s.ToString().c_str());
    return;
  }
  const int64_t backoffs_before = puller->transport->stats().poll_backoffs;
  for (auto _ : state) {
    if (Status s = puller->PullMany(bytes, kPullsPerIteration, window); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
  }
  // Times the puller's polling backed off to the fd (preempted: a loaded host) in this run.
  state.counters["poll_backoffs"] =
      static_cast<double>(puller->transport->stats().poll_backoffs - backoffs_before);
  const double total = static_cast<double>(state.iterations()) * kPullsPerIteration * bytes;
  state.SetBytesProcessed(static_cast<int64_t>(total));
  state.counters["GB/s"] = benchmark::Counter(total / 1e9, benchmark::Counter::kIsRate);
  const char* tls = std::getenv("UCX_TLS");
  state.SetLabel(std::string("UCX_TLS=") + (tls != nullptr ? tls : "default"));
}
BENCHMARK(BM_KvPull)
    ->ArgNames({"MiB", "window"})
    ->ArgsProduct({{1, 8, 64}, {1, 4}})
    ->UseRealTime()
    ->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace dynamo::kvtransfer

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  // Forked before this process creates any UCX state or thread.
  auto holder = dynamo::kvtransfer::StartHolder();
  if (!holder) {
    std::fprintf(stderr, "kv_transfer_bench: cannot start the holder process\n");
    return 1;
  }
  dynamo::kvtransfer::g_holder_address = holder->address;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  dynamo::kvtransfer::g_puller.reset();
  ::close(holder->control_fd);
  int wstatus = 0;
  ::waitpid(holder->pid, &wstatus, 0);
  return 0;
}
