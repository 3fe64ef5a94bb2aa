#include "runtime/kvtransfer/ucx_kv_transport.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <ucp/api/ucp.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/status.h"
#include "core/time.h"

namespace dynamo::kvtransfer {
namespace {

namespace asio = boost::asio;
using Clock = std::chrono::steady_clock;

// A test that breaks fails at this deadline instead of hanging. Not a timing assertion: every
// wait below ends on a condition, normally within milliseconds.
constexpr Clock::duration kGuard = std::chrono::seconds(30);
constexpr Duration kNoTimeout = Duration::Seconds(60);  // pulls that must not time out
constexpr int64_t kKiB = 1024;
constexpr int64_t kMiB = 1024 * kKiB;

// The transport's active message ids (ucx_kv_transport.cc), for the test that
// sends malformed messages.
constexpr unsigned kPullAm = 1;
constexpr unsigned kDataAm = 2;
constexpr unsigned kRefuseAm = 3;

// One pull's completions: `done` must run exactly once.
struct Outcome {
  int calls = 0;
  Status status;
};

std::function<void(Status)> Record(Outcome& outcome) {
  return [&outcome](Status s) {
    ++outcome.calls;
    outcome.status = std::move(s);
  };
}

std::unique_ptr<UcxKvTransport> MakeTransport(asio::io_context& io, uint16_t port = 0) {
  auto transport = UcxKvTransport::Create(io, UcxKvOptions{.host = "127.0.0.1", .port = port});
  if (!transport.ok()) {
    ADD_FAILURE() << transport.status().ToString();
    return nullptr;
  }
  return std::move(transport).value();
}

// Runs the io_contexts (in turn, on this thread) until `done` or the guard deadline.
bool RunUntil(const std::vector<asio::io_context*>& ios, const std::function<bool()>& done) {
  const Clock::time_point deadline = Clock::now() + kGuard;
  while (!done()) {
    if (Clock::now() >= deadline) return false;
    for (asio::io_context* io : ios) {
      if (io->stopped()) io->restart();
      if (ios.size() == 1) {
        io->run_one_for(std::chrono::milliseconds(100));
      } else {
        io->poll();
      }
    }
  }
  return true;
}

bool RunUntil(asio::io_context& io, const std::function<bool()>& done) {
  return RunUntil(std::vector<asio::io_context*>{&io}, done);
}

// A loopback port nobody listens on (bound, then released).
uint16_t UnusedPort() {
  asio::io_context io;
  asio::ip::tcp::acceptor acceptor(io, {asio::ip::make_address("127.0.0.1"), 0});
  return acceptor.local_endpoint().port();
}

class UcxKvTransportTest : public ::testing::Test {
 protected:
  void SetUp() override {
    holder_ = MakeTransport(io_);
    puller_ = MakeTransport(io_);
    ASSERT_NE(holder_, nullptr);
    ASSERT_NE(puller_, nullptr);
    Serve(*holder_);
  }

  // The holder holds every key except those in refused_.
  void Serve(UcxKvTransport& holder) {
    holder.Serve(
        [this](uint64_t key, int64_t) { return refused_.count(key) == 0; },
        [this](uint64_t key, Status status) { sent_.emplace_back(key, std::move(status)); });
  }

  int SentCount(uint64_t key) const {
    int n = 0;
    for (const auto& [k, status] : sent_) n += k == key ? 1 : 0;
    return n;
  }

  asio::io_context io_;
  std::unique_ptr<UcxKvTransport> holder_;
  std::unique_ptr<UcxKvTransport> puller_;
  std::set<uint64_t> refused_;
  std::vector<std::pair<uint64_t, Status>> sent_;  // on_sent calls in order
};

TEST_F(UcxKvTransportTest, AddressIsTheListener) {
  const std::string address = holder_->address();
  EXPECT_EQ(address.rfind("127.0.0.1:", 0), 0U) << address;
  EXPECT_NE(address, "127.0.0.1:0");
  EXPECT_NE(holder_->address(), puller_->address());
}

TEST_F(UcxKvTransportTest, PullsEmptyEagerAndRendezvousSizes) {
  // 0 bytes, 4 KiB (eager), 8 MiB (rendezvous), one after the other.
  const std::vector<int64_t> sizes = {0, 4 * kKiB, 8 * kMiB};
  int64_t total = 0;
  for (size_t i = 0; i < sizes.size(); ++i) {
    const uint64_t key = 100 + i;
    Outcome outcome;
    puller_->Pull(holder_->address(), key, sizes[i], kNoTimeout, Record(outcome));
    EXPECT_EQ(outcome.calls, 0) << "done ran inside Pull";
    EXPECT_EQ(puller_->pending(), 1U);
    ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0 && SentCount(key) > 0; }))
        << "size " << sizes[i];
    EXPECT_EQ(outcome.calls, 1);
    EXPECT_TRUE(outcome.status.ok()) << sizes[i] << ": " << outcome.status.ToString();
    ASSERT_EQ(SentCount(key), 1);
    EXPECT_TRUE(sent_.back().second.ok()) << sent_.back().second.ToString();
    EXPECT_EQ(puller_->pending(), 0U);
    total += sizes[i];
  }
  EXPECT_EQ(puller_->stats().pulls_ok, 3);
  EXPECT_EQ(puller_->stats().pulls_failed, 0);
  EXPECT_EQ(puller_->stats().bytes_received, total);
  EXPECT_EQ(holder_->stats().sends_ok, 3);
  EXPECT_EQ(holder_->stats().sends_failed, 0);
  EXPECT_EQ(holder_->stats().bytes_sent, total);
  EXPECT_EQ(holder_->stats().refused, 0);
  EXPECT_EQ(holder_->stats().malformed_messages + puller_->stats().malformed_messages, 0);
}

TEST_F(UcxKvTransportTest, PullsBothWays) {
  Serve(*puller_);
  Outcome a, b;
  puller_->Pull(holder_->address(), 1, 1 * kMiB, kNoTimeout, Record(a));
  holder_->Pull(puller_->address(), 2, 3 * kMiB, kNoTimeout, Record(b));
  ASSERT_TRUE(RunUntil(io_, [&] { return a.calls > 0 && b.calls > 0; }));
  EXPECT_TRUE(a.status.ok()) << a.status.ToString();
  EXPECT_TRUE(b.status.ok()) << b.status.ToString();
  EXPECT_EQ(holder_->stats().bytes_received, 3 * kMiB);
  EXPECT_EQ(puller_->stats().bytes_received, 1 * kMiB);
}

TEST_F(UcxKvTransportTest, RefusedPullIsNotFound) {
  refused_.insert(7);
  Outcome outcome;
  puller_->Pull(holder_->address(), 7, 4 * kKiB, kNoTimeout, Record(outcome));
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.status.code(), StatusCode::kNotFound) << outcome.status.ToString();
  EXPECT_NE(outcome.status.message().find("key 7"), std::string::npos);
  EXPECT_NE(outcome.status.message().find(holder_->address()), std::string::npos);
  EXPECT_EQ(holder_->stats().refused, 1);
  EXPECT_EQ(puller_->stats().pulls_failed, 1);
  EXPECT_TRUE(sent_.empty()) << "on_sent runs only for accepted pulls";

  // The endpoint stays usable after a refusal.
  Outcome next;
  puller_->Pull(holder_->address(), 8, 4 * kKiB, kNoTimeout, Record(next));
  ASSERT_TRUE(RunUntil(io_, [&] { return next.calls > 0; }));
  EXPECT_TRUE(next.status.ok()) << next.status.ToString();
}

TEST_F(UcxKvTransportTest, BadPeerAddressFailsWithoutRunningDoneInsidePull) {
  Outcome outcome;
  puller_->Pull("no-port-here", 3, 10, kNoTimeout, Record(outcome));
  EXPECT_EQ(outcome.calls, 0);
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.status.code(), StatusCode::kIoError);
  EXPECT_NE(outcome.status.message().find("no-port-here"), std::string::npos)
      << outcome.status.message();
  EXPECT_EQ(puller_->pending(), 0U);
}

// Nobody listens: the endpoint's error handler fails the pull (long before its timeout), and the
// failed endpoint leaves the cache, so a later pull to the same address reconnects.
TEST_F(UcxKvTransportTest, UnreachablePeerFailsThenReconnects) {
  const uint16_t port = UnusedPort();
  const std::string peer = "127.0.0.1:" + std::to_string(port);
  Outcome outcome;
  puller_->Pull(peer, 11, 4 * kKiB, kNoTimeout, Record(outcome));
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_EQ(outcome.status.code(), StatusCode::kIoError) << outcome.status.ToString();
  EXPECT_NE(outcome.status.message().find(peer), std::string::npos) << outcome.status.message();
  EXPECT_NE(outcome.status.message().find("key 11"), std::string::npos);
  EXPECT_EQ(outcome.status.message().find("timed out"), std::string::npos)
      << outcome.status.message();

  auto late_holder = MakeTransport(io_, port);
  ASSERT_NE(late_holder, nullptr);
  Serve(*late_holder);
  Outcome retry;
  puller_->Pull(peer, 12, 4 * kKiB, kNoTimeout, Record(retry));
  ASSERT_TRUE(RunUntil(io_, [&] { return retry.calls > 0; }));
  EXPECT_TRUE(retry.status.ok()) << retry.status.ToString();
}

// A holder whose io_context never runs never answers: the pull times out, exactly once. When the
// holder finally runs, its late data is dropped by the puller (its rendezvous send then fails).
TEST_F(UcxKvTransportTest, TimeoutThenLateDataIsDiscarded) {
  asio::io_context stalled_io;
  auto stalled = MakeTransport(stalled_io);
  ASSERT_NE(stalled, nullptr);
  Serve(*stalled);
  Outcome outcome;
  puller_->Pull(stalled->address(), 21, 8 * kMiB, Duration::Millis(200), Record(outcome));
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.status.code(), StatusCode::kIoError);
  EXPECT_NE(outcome.status.message().find("timed out after 200 ms"), std::string::npos)
      << outcome.status.message();
  EXPECT_NE(outcome.status.message().find(stalled->address()), std::string::npos);
  EXPECT_EQ(puller_->pending(), 0U);

  ASSERT_TRUE(RunUntil({&io_, &stalled_io}, [&] { return SentCount(21) > 0; }));
  EXPECT_FALSE(sent_.back().second.ok()) << "the puller dropped the late data";
  EXPECT_EQ(stalled->stats().sends_failed, 1);
  EXPECT_EQ(outcome.calls, 1);
  EXPECT_EQ(puller_->stats().pulls_failed, 1);
  EXPECT_EQ(puller_->stats().bytes_received, 0);

  // An eager late reply is dropped too, and the endpoint keeps working afterwards.
  Outcome small;
  puller_->Pull(stalled->address(), 22, 4 * kKiB, Duration::Nanos(1), Record(small));
  ASSERT_TRUE(RunUntil({&io_, &stalled_io}, [&] { return small.calls > 0 && SentCount(22); }));
  EXPECT_EQ(small.calls, 1);
  EXPECT_NE(small.status.message().find("timed out"), std::string::npos) << small.status.message();
  Outcome after;
  puller_->Pull(stalled->address(), 23, 4 * kKiB, kNoTimeout, Record(after));
  ASSERT_TRUE(RunUntil({&io_, &stalled_io}, [&] { return after.calls > 0; }));
  EXPECT_TRUE(after.status.ok()) << after.status.ToString();
  EXPECT_EQ(small.calls, 1);
  EXPECT_EQ(puller_->stats().bytes_received, 4 * kKiB);
}

TEST_F(UcxKvTransportTest, ManyConcurrentPullsCompleteExactlyOnce) {
  constexpr int kPulls = 64;
  constexpr int64_t kBytes = 256 * kKiB;
  std::vector<Outcome> outcomes(kPulls);
  for (int i = 0; i < kPulls; ++i) {
    puller_->Pull(holder_->address(), static_cast<uint64_t>(1000 + i), kBytes, kNoTimeout,
                  Record(outcomes[i]));
  }
  EXPECT_EQ(puller_->pending(), static_cast<size_t>(kPulls));
  auto all_done = [&] {
    for (const Outcome& o : outcomes) {
      if (o.calls == 0) return false;
    }
    return sent_.size() == static_cast<size_t>(kPulls);
  };
  ASSERT_TRUE(RunUntil(io_, all_done));
  for (int i = 0; i < kPulls; ++i) {
    EXPECT_EQ(outcomes[i].calls, 1) << i;
    EXPECT_TRUE(outcomes[i].status.ok()) << i << ": " << outcomes[i].status.ToString();
    EXPECT_EQ(SentCount(static_cast<uint64_t>(1000 + i)), 1) << i;
  }
  EXPECT_EQ(puller_->pending(), 0U);
  EXPECT_EQ(puller_->stats().pulls_ok, kPulls);
  EXPECT_EQ(puller_->stats().bytes_received, kPulls * kBytes);
  EXPECT_EQ(holder_->stats().sends_ok, kPulls);
  EXPECT_EQ(holder_->stats().bytes_sent, kPulls * kBytes);
}

// Pulls waiting on a holder that goes away fail with IoError (endpoint error), not a timeout.
TEST_F(UcxKvTransportTest, HolderDestroyedWhilePullsPendFailsThem) {
  asio::io_context stalled_io;
  auto stalled = MakeTransport(stalled_io);
  ASSERT_NE(stalled, nullptr);
  Serve(*stalled);
  constexpr int kPulls = 4;
  std::vector<Outcome> outcomes(kPulls);
  for (int i = 0; i < kPulls; ++i) {
    puller_->Pull(stalled->address(), static_cast<uint64_t>(i), 8 * kMiB, kNoTimeout,
                  Record(outcomes[i]));
  }
  // Let the holder accept the connection and the pulls reach it, then destroy it before it
  // answers.
  int accepted = 0;
  stalled->Serve(
      [&](uint64_t, int64_t) {
        ++accepted;
        return true;
      },
      nullptr);
  ASSERT_TRUE(RunUntil({&io_, &stalled_io}, [&] { return accepted > 0; }));
  stalled.reset();
  auto all_done = [&] {
    for (const Outcome& o : outcomes) {
      if (o.calls == 0) return false;
    }
    return true;
  };
  ASSERT_TRUE(RunUntil(io_, all_done));
  int failed = 0;
  for (const Outcome& o : outcomes) {
    EXPECT_EQ(o.calls, 1);
    if (o.status.ok()) continue;  // a pull the holder finished answering before it went away
    ++failed;
    EXPECT_EQ(o.status.code(), StatusCode::kIoError) << o.status.ToString();
    EXPECT_EQ(o.status.message().find("timed out"), std::string::npos) << o.status.message();
  }
  EXPECT_GT(failed, 0);
  EXPECT_EQ(puller_->pending(), 0U);
}

// A holder that never ran at all (its listener's connection request still queued) going away
// fails the pulls too.
TEST_F(UcxKvTransportTest, HolderThatNeverRanDestroyedFailsPulls) {
  asio::io_context stalled_io;
  auto stalled = MakeTransport(stalled_io);
  ASSERT_NE(stalled, nullptr);
  Outcome outcome;
  puller_->Pull(stalled->address(), 5, 4 * kKiB, kNoTimeout, Record(outcome));
  io_.poll();
  stalled.reset();
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_EQ(outcome.status.code(), StatusCode::kIoError) << outcome.status.ToString();
  EXPECT_EQ(outcome.status.message().find("timed out"), std::string::npos)
      << outcome.status.message();
}

TEST_F(UcxKvTransportTest, DestroyedPullerRunsNoCallbacks) {
  asio::io_context stalled_io;
  auto stalled = MakeTransport(stalled_io);
  ASSERT_NE(stalled, nullptr);
  Outcome pending, completed;
  puller_->Pull(stalled->address(), 1, 4 * kKiB, kNoTimeout, Record(pending));
  puller_->Pull("not an address", 2, 1, kNoTimeout, Record(completed));  // fails, done posted
  EXPECT_EQ(puller_->pending(), 2U);
  puller_.reset();
  stalled.reset();
  io_.restart();
  io_.poll();
  EXPECT_EQ(pending.calls, 0);
  EXPECT_EQ(completed.calls, 0);
}

TEST_F(UcxKvTransportTest, CreateOnPortInUseNamesHostPort) {
  const std::string address = holder_->address();
  const uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  auto again = UcxKvTransport::Create(io_, UcxKvOptions{.host = "127.0.0.1", .port = port});
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.status().message().find(address), std::string::npos) << again.status().message();
}

// Both progress modes move every size: fd wake-ups only (poll_idle 0) and polling while work is
// in flight (the default). Once nothing is in flight, polling stops: the io_context then runs a
// handful of handlers in 50 ms, not the tens of thousands a poll loop that never ended would.
TEST(UcxKvTransportPollingTest, BothModesPullAndPollingStopsWhenIdle) {
  for (const Duration poll_idle : {Duration::Zero(), Duration::Micros(200)}) {
    SCOPED_TRACE("poll_idle " + std::to_string(poll_idle.nanos()) + " ns");
    asio::io_context io;
    const UcxKvOptions options{.host = "127.0.0.1", .port = 0, .poll_idle = poll_idle};
    auto holder = UcxKvTransport::Create(io, options);
    auto puller = UcxKvTransport::Create(io, options);
    ASSERT_TRUE(holder.ok() && puller.ok());
    int sent = 0;
    (*holder)->Serve([](uint64_t, int64_t) { return true; }, [&](uint64_t, Status) { ++sent; });
    const std::vector<int64_t> sizes = {0, 4 * kKiB, 1 * kMiB, 8 * kMiB};
    for (size_t i = 0; i < sizes.size(); ++i) {
      Outcome outcome;
      (*puller)->Pull((*holder)->address(), i, sizes[i], kNoTimeout, Record(outcome));
      ASSERT_TRUE(RunUntil(io, [&] {
        return outcome.calls > 0 && sent == static_cast<int>(i + 1);
      })) << sizes[i];
      EXPECT_TRUE(outcome.status.ok()) << outcome.status.ToString();
    }
    EXPECT_EQ((*puller)->stats().pulls_ok, 4);
    EXPECT_EQ((*holder)->stats().sends_ok, 4);
    io.restart();
    const size_t handlers = io.run_for(std::chrono::milliseconds(50));
    EXPECT_LT(handlers, 100U);
  }
}

TEST(UcxKvTransportCreateTest, BadHostIsAnError) {
  asio::io_context io;
  auto transport = UcxKvTransport::Create(io, UcxKvOptions{.host = "256.1.2.3", .port = 0});
  ASSERT_FALSE(transport.ok());
  EXPECT_NE(transport.status().message().find("256.1.2.3"), std::string::npos)
      << transport.status().message();
}

// A bare UCP client (no transport of ours) that sends hand-made active messages to `peer`.
class RawUcpClient {
 public:
  explicit RawUcpClient(uint16_t port) {
    ucp_config_t* config = nullptr;
    EXPECT_EQ(ucp_config_read(nullptr, nullptr, &config), UCS_OK);
    ucp_params_t params{};
    params.field_mask = UCP_PARAM_FIELD_FEATURES;
    params.features = UCP_FEATURE_AM;
    EXPECT_EQ(ucp_init(&params, config, &context_), UCS_OK);
    ucp_config_release(config);
    ucp_worker_params_t worker_params{};
    worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
    worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;
    EXPECT_EQ(ucp_worker_create(context_, &worker_params, &worker_), UCS_OK);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_port = htons(port);
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ucp_ep_params_t ep_params{};
    // Error handling as the transport's (UCX refuses asymmetric endpoint configurations).
    ep_params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                           UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE;
    ep_params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
    ep_params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
    ep_params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
    ep_params.sockaddr.addrlen = sizeof(address);
    EXPECT_EQ(ucp_ep_create(worker_, &ep_params, &ep_), UCS_OK);
  }
  ~RawUcpClient() {
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = UCP_EP_CLOSE_FLAG_FORCE;
    Wait(ucp_ep_close_nbx(ep_, &param), nullptr);
    ucp_worker_destroy(worker_);
    ucp_cleanup(context_);
  }

  // Sends and progresses this client and `io` until the send completed.
  void Send(unsigned id, const std::vector<uint8_t>& header, size_t data_bytes, bool reply,
            asio::io_context& io) {
    std::vector<uint8_t> data(data_bytes, 0x5a);
    ucp_request_param_t param{};
    param.op_attr_mask = UCP_OP_ATTR_FIELD_FLAGS;
    param.flags = reply ? UCP_AM_SEND_FLAG_REPLY : 0;
    Wait(ucp_am_send_nbx(ep_, id, header.data(), header.size(), data.data(), data.size(), &param),
         &io);
  }

  void Progress() { ucp_worker_progress(worker_); }

 private:
  void Wait(ucs_status_ptr_t request, asio::io_context* io) {
    if (request == nullptr || UCS_PTR_IS_ERR(request)) return;
    const Clock::time_point deadline = Clock::now() + kGuard;
    while (ucp_request_check_status(request) == UCS_INPROGRESS && Clock::now() < deadline) {
      ucp_worker_progress(worker_);
      if (io != nullptr) {
        io->restart();
        io->poll();
      }
    }
    ucp_request_free(request);
  }

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  ucp_ep_h ep_ = nullptr;
};

TEST_F(UcxKvTransportTest, MalformedMessagesAreIgnoredAndCounted) {
  const std::string address = holder_->address();
  const uint16_t port = static_cast<uint16_t>(std::stoi(address.substr(address.rfind(':') + 1)));
  {
    RawUcpClient client(port);
    const std::vector<uint8_t> short_header = {1, 2, 3};
    std::vector<uint8_t> negative(24, 0);
    const int64_t minus_one = -1;
    std::memcpy(negative.data() + 8, &minus_one, sizeof(minus_one));  // PullHeader.bytes
    const std::vector<uint8_t> valid_without_reply(24, 0);
    client.Send(kPullAm, short_header, 0, /*reply=*/true, io_);
    client.Send(kPullAm, negative, 0, /*reply=*/true, io_);
    client.Send(kPullAm, valid_without_reply, 0, /*reply=*/false, io_);
    client.Send(kDataAm, short_header, 16, /*reply=*/false, io_);
    client.Send(kDataAm, short_header, 1 * kMiB, /*reply=*/false, io_);  // rendezvous
    client.Send(kRefuseAm, short_header, 0, /*reply=*/false, io_);
    ASSERT_TRUE(RunUntil(io_, [&] {
      client.Progress();
      return holder_->stats().malformed_messages == 6;
    }));
  }
  EXPECT_EQ(holder_->stats().sends_ok + holder_->stats().refused, 0);
  // Still serving.
  Outcome outcome;
  puller_->Pull(holder_->address(), 9, 4 * kKiB, kNoTimeout, Record(outcome));
  ASSERT_TRUE(RunUntil(io_, [&] { return outcome.calls > 0; }));
  EXPECT_TRUE(outcome.status.ok()) << outcome.status.ToString();
}

}  // namespace
}  // namespace dynamo::kvtransfer

#if defined(__SANITIZE_THREAD__)
// UCX's memory hooks (libucm patches mmap/munmap/madvise) and TSan do not mix: glibc's thread exit
// calls madvise after TSan has finished the thread, the hook takes a pthread rwlock, TSan's
// interceptor touches the finished thread's state and every thread exit crashes (SEGV in
// __tsan::MutexPreReadLock under ucm_madvise). Not a race, and nothing this test can suppress:
// the hooks go in when libucs loads, before main, so the test re-executes itself with them off.
// The transport does not need them (UCX's registration cache then registers per use).
int main(int argc, char** argv) {
  if (std::getenv("UCX_MEM_EVENTS") == nullptr) {
    ::setenv("UCX_MEM_EVENTS", "no", 1);
    ::execv("/proc/self/exe", argv);
    std::perror("re-executing with UCX_MEM_EVENTS=no");
    return 1;
  }
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
#endif
