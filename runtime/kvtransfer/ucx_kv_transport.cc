#include "runtime/kvtransfer/ucx_kv_transport.h"

#include <netdb.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <ucp/api/ucp.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/system/error_code.hpp>

#include "core/check.h"
#include "core/status.h"
#include "core/time.h"

namespace dynamo::kvtransfer {
namespace {

namespace asio = boost::asio;
using ErrorCode = boost::system::error_code;

// Active message ids. Both ends of a pull run this file, so there is no version negotiation.
constexpr unsigned kPullAm = 1;    // puller -> holder: PullHeader, no data
constexpr unsigned kDataAm = 2;    // holder -> puller: DataHeader, then `bytes` bytes
constexpr unsigned kRefuseAm = 3;  // holder -> puller: RefuseHeader, no data

// Wire headers, copied with memcpy in native byte order: every worker of a deployment runs this
// build on one architecture.
struct PullHeader {
  uint64_t key;
  int64_t bytes;
  uint64_t pull_id;
};
struct DataHeader {
  uint64_t pull_id;
  uint64_t key;
  int64_t bytes;
};
struct RefuseHeader {
  uint64_t pull_id;
};
constexpr size_t kMaxHeaderBytes =
    std::max({sizeof(PullHeader), sizeof(DataHeader), sizeof(RefuseHeader)});

// From this size on the holder forces UCX rendezvous: the puller then receives straight into its
// buffer (zero-copy where the transport allows: CMA on one host, RDMA across) instead of through
// UCX's bounce buffers. Below it UCX picks (eager for small messages).
constexpr int64_t kRendezvousMinBytes = 64 << 10;
// The receiver compares this many bytes at each end of a payload with the pattern.
constexpr size_t kPatternCheckBytes = 8;
// The destructor progresses the worker at most this many times waiting for endpoints to close
// (a peer that no longer answers must not hang shutdown; FORCE close normally needs a few).
constexpr int kMaxClosePasses = 10'000;
constexpr Duration kMaxTimer = Duration::Seconds(365LL * 24 * 3600);  // clamp: no overflow
// Polling checks this often (in poll steps) whether the kernel preempted the thread, and after a
// preemption stays on the fd this long before it tries polling again.
constexpr int kPreemptionCheckSteps = 16;
constexpr auto kPollBackoff = std::chrono::milliseconds(100);

// Involuntary context switches of the calling thread so far (-1: unknown).
int64_t InvoluntarySwitches() {
  rusage usage{};
  if (::getrusage(RUSAGE_THREAD, &usage) != 0) return -1;
  return usage.ru_nivcsw;
}

// The mock engine's "KV": byte i of every payload, so that the receiver can check what arrived.
uint8_t PatternByte(size_t i) { return static_cast<uint8_t>((i * 131) ^ (i >> 8) ^ 0x5a); }

bool MatchesPattern(const uint8_t* data, size_t bytes) {
  const size_t n = std::min(bytes, kPatternCheckBytes);
  for (size_t i = 0; i < n; ++i) {
    if (data[i] != PatternByte(i) || data[bytes - 1 - i] != PatternByte(bytes - 1 - i)) {
      return false;
    }
  }
  return true;
}

std::chrono::nanoseconds ToChrono(Duration d) {
  return std::chrono::nanoseconds(std::clamp(d, Duration::Zero(), kMaxTimer).nanos());
}

std::string FormatMillis(Duration d) { return std::to_string(d.nanos() / 1'000'000) + " ms"; }

std::string HostPort(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

std::string UcsError(ucs_status_t status) {
  return std::string("UCX: ") + ucs_status_string(status);
}

template <typename Header>
std::optional<Header> DecodeHeader(const void* data, size_t bytes) {
  if (bytes != sizeof(Header) || data == nullptr) return std::nullopt;
  Header header;
  std::memcpy(&header, data, sizeof(Header));
  return header;
}

// Resolves host (numeric or a name: getaddrinfo blocks, but runs once per listener and once per
// peer, whose endpoint is then cached) and port into a socket address.
StatusOr<sockaddr_storage> Resolve(const std::string& host, uint16_t port, bool passive) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = passive ? AI_PASSIVE : 0;
  addrinfo* result = nullptr;
  const std::string service = std::to_string(port);
  const int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &result);
  if (rc != 0 || result == nullptr) {
    return IoError("cannot resolve host '" + host + "': " + ::gai_strerror(rc));
  }
  sockaddr_storage address{};
  std::memcpy(&address, result->ai_addr, std::min<size_t>(result->ai_addrlen, sizeof(address)));
  ::freeaddrinfo(result);
  return address;
}

socklen_t SockaddrLength(const sockaddr_storage& address) {
  return address.ss_family == AF_INET6 ? sizeof(sockaddr_in6) : sizeof(sockaddr_in);
}

// "host:port" or "[v6]:port" -> (host, port).
std::optional<std::pair<std::string, uint16_t>> ParseHostPort(std::string_view peer) {
  const size_t colon = peer.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == peer.size()) {
    return std::nullopt;
  }
  std::string_view host = peer.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  const std::string_view port_text = peer.substr(colon + 1);
  unsigned port = 0;
  const auto [end, ec] =
      std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc() || end != port_text.data() + port_text.size() || port == 0 ||
      port > 65535 || host.empty()) {
    return std::nullopt;
  }
  return std::make_pair(std::string(host), static_cast<uint16_t>(port));
}

// A byte buffer, mapped with ucp_mem_map when UCX allows so that transfers from or into it skip
// per-operation registration.
class Buffer {
 public:
  // `fill`: write the pattern (the holder's side); the receiver's scratch stays uninitialised.
  Buffer(ucp_context_h context, size_t bytes, bool fill)
      : context_(context),
        size_(bytes),
        data_(std::make_unique_for_overwrite<uint8_t[]>(std::max<size_t>(bytes, 1))) {
    if (fill) {
      for (size_t i = 0; i < bytes; ++i) data_[i] = PatternByte(i);
    }
    if (bytes == 0) return;
    ucp_mem_map_params_t params{};
    params.field_mask = UCP_MEM_MAP_PARAM_FIELD_ADDRESS | UCP_MEM_MAP_PARAM_FIELD_LENGTH;
    params.address = data_.get();
    params.length = bytes;
    // Without a mapping UCX registers per operation (through its registration cache): slower,
    // still correct.
    if (ucp_mem_map(context_, &params, &memh_) != UCS_OK) memh_ = nullptr;
  }
  ~Buffer() {
    if (memh_ != nullptr) ucp_mem_unmap(context_, memh_);
  }
  Buffer(const Buffer&) = delete;
  Buffer& operator=(const Buffer&) = delete;

  uint8_t* data() const { return data_.get(); }
  size_t size() const { return size_; }
  ucp_mem_h memh() const { return memh_; }

 private:
  ucp_context_h context_;
  size_t size_;
  std::unique_ptr<uint8_t[]> data_;
  ucp_mem_h memh_ = nullptr;
};

}  // namespace

class UcxKvTransport::Impl {
 public:
  Impl(asio::io_context& io, UcxKvOptions options)
      : io_(io), options_(std::move(options)), poll_idle_(ToChrono(options_.poll_idle)) {}
  ~Impl();
  Impl(const Impl&) = delete;
  Impl& operator=(const Impl&) = delete;

  Status Init();
  std::string address() const { return address_; }
  void Serve(std::function<bool(uint64_t, int64_t)> accept,
             std::function<void(uint64_t, Status)> on_sent) {
    accept_ = std::move(accept);
    on_sent_ = std::move(on_sent);
  }
  void Pull(const std::string& peer, uint64_t key, int64_t bytes, Duration timeout,
            std::function<void(Status)> done);
  size_t pending() const { return pending_; }
  const UcxKvStats& stats() const { return stats_; }

 private:
  // One UCX request this transport started (a send, a rendezvous receive). Owned here until its
  // completion callback, which gets a pointer to it: the header and the buffer must outlive the
  // request.
  enum class OpKind { kPullRequest, kData, kRefuse, kReceive };
  struct Op {
    Impl* impl;
    uint64_t id;
    OpKind kind;
    uint64_t pull_id = 0;
    uint64_t key = 0;
    int64_t bytes = 0;
    std::array<std::byte, kMaxHeaderBytes> header{};
    // shared_ptr: the buffer the operation reads or writes stays alive while a larger pull
    // replaces it as the current buffer (the replacement takes the reference of the transport).
    std::shared_ptr<Buffer> buffer;
  };

  struct PendingPull {
    std::string peer;
    uint64_t key = 0;
    int64_t bytes = 0;
    ucp_ep_h ep = nullptr;  // null until the endpoint exists
    std::unique_ptr<asio::steady_timer> timer;
    std::function<void(Status)> done;
  };

  // UCX callbacks (C): arg / user_data is the Impl or the Op.
  static void OnConnRequestCb(ucp_conn_request_h request, void* arg);
  static void OnEndpointErrorCb(void* arg, ucp_ep_h ep, ucs_status_t status);
  static ucs_status_t OnPullAmCb(void* arg, const void* header, size_t header_bytes, void* data,
                                 size_t bytes, const ucp_am_recv_param_t* param);
  static ucs_status_t OnDataAmCb(void* arg, const void* header, size_t header_bytes, void* data,
                                 size_t bytes, const ucp_am_recv_param_t* param);
  static ucs_status_t OnRefuseAmCb(void* arg, const void* header, size_t header_bytes, void* data,
                                   size_t bytes, const ucp_am_recv_param_t* param);
  static void OnSendDoneCb(void* request, ucs_status_t status, void* user_data);
  static void OnReceiveDoneCb(void* request, ucs_status_t status, size_t bytes, void* user_data);
  static void OnCloseDoneCb(void* request, ucs_status_t status, void* user_data);

  Status InitUcp();
  Status InitListener();

  // Asio integration: the worker's event fd wakes the io thread, which progresses the worker.
  void WaitForEvents();
  // The fd woke the thread: ArmAndWait, then poll if work is in flight.
  void OnEvents();
  void ArmAndWait();
  // Progresses until idle; true when anything progressed.
  bool ProgressUntilIdle();
  void ScheduleProgress();
  // Adaptive polling (UcxKvOptions::poll_idle): StartPolling after work starts; PollStep re-posts
  // itself while work is in flight and something progressed within poll_idle, then falls back to
  // the fd.
  bool InFlight() const { return !ops_.empty() || !pulls_.empty(); }
  void StartPolling();
  void PollStep();
  template <typename F>
  void PostGuarded(F&& f);

  StatusOr<ucp_ep_h> EndpointFor(const std::string& peer);
  void OnConnRequest(ucp_conn_request_h request);
  void OnEndpointError(ucp_ep_h ep, ucs_status_t status);
  void CloseEndpoint(ucp_ep_h ep);

  // Holder side.
  ucs_status_t OnPullAm(const void* header, size_t header_bytes, const ucp_am_recv_param_t* param);
  void SendData(ucp_ep_h reply_ep, const PullHeader& pull);
  void SendRefusal(ucp_ep_h reply_ep, uint64_t pull_id);
  void FinishSend(uint64_t key, int64_t bytes, ucs_status_t status);

  // Receiver side.
  ucs_status_t OnDataAm(const void* header, size_t header_bytes, void* data, size_t bytes,
                        const ucp_am_recv_param_t* param);
  ucs_status_t OnRefuseAm(const void* header, size_t header_bytes);
  void FinishReceive(uint64_t pull_id, const Buffer& buffer, size_t bytes);
  void CompletePull(uint64_t pull_id, Status status);
  void OnPullTimeout(uint64_t pull_id, Duration timeout);
  std::string PullContext(const PendingPull& pull) const;

  Op* NewOp(OpKind kind);
  // Handles what ucp_*_nbx returned for `op`: immediate completion, error or a request.
  void TrackRequest(Op* op, ucs_status_ptr_t request);
  void OnOpDone(Op* op, ucs_status_t status);
  std::shared_ptr<Buffer> BufferOfAtLeast(std::shared_ptr<Buffer>& current, size_t bytes,
                                          bool fill);

  asio::io_context& io_;
  UcxKvOptions options_;
  std::chrono::nanoseconds poll_idle_;  // options_.poll_idle, converted once for PollStep
  std::string address_;
  // shared_ptr only for its weak_ptrs: every handler posted to the io_context holds one and does
  // nothing once the transport is destroyed.
  std::shared_ptr<char> alive_ = std::make_shared<char>();
  bool shutting_down_ = false;

  ucp_context_h context_ = nullptr;
  ucp_worker_h worker_ = nullptr;
  ucp_listener_h listener_ = nullptr;
  std::optional<asio::posix::stream_descriptor> event_fd_;  // the worker's; released, not closed
  bool waiting_ = false;  // an async_wait on event_fd_ is outstanding
  bool progress_posted_ = false;
  bool polling_ = false;  // a PollStep is posted
  std::chrono::steady_clock::time_point last_progress_;
  int poll_steps_ = 0;
  int64_t poll_start_switches_ = 0;
  std::chrono::steady_clock::time_point poll_backoff_until_;

  std::map<std::string, ucp_ep_h> peer_eps_;           // client endpoints by "host:port"
  std::unordered_map<ucp_ep_h, std::string> ep_peer_;  // the reverse
  std::set<ucp_ep_h> server_eps_;                      // accepted from the listener
  std::vector<ucp_ep_h> failed_eps_;                   // failed, closed on the next io turn
  size_t closing_eps_ = 0;                             // close requests still in flight

  std::function<bool(uint64_t, int64_t)> accept_;
  std::function<void(uint64_t, Status)> on_sent_;

  uint64_t next_pull_id_ = 1;
  std::unordered_map<uint64_t, PendingPull> pulls_;
  size_t pending_ = 0;  // pulls whose `done` has not run yet
  uint64_t next_op_id_ = 1;
  std::unordered_map<uint64_t, std::unique_ptr<Op>> ops_;

  // The mock engine has no real KV: the holder sends every pull from one pattern-filled buffer
  // and the receiver lands every pull in one scratch buffer, each grown to the largest size seen.
  // Concurrent pulls share the scratch: its content means nothing beyond the pattern check, and
  // every writer writes the same pattern at the same offsets.
  std::shared_ptr<Buffer> send_buffer_;
  std::shared_ptr<Buffer> receive_buffer_;

  UcxKvStats stats_;
};

// --- Construction and shutdown ---------------------------------------------------------------

Status UcxKvTransport::Impl::Init() {
  RETURN_IF_ERROR(InitUcp());
  RETURN_IF_ERROR(InitListener());
  ArmAndWait();  // only an armed worker signals its fd
  return Status::Ok();
}

Status UcxKvTransport::Impl::InitUcp() {
  ucp_config_t* config = nullptr;
  ucs_status_t status = ucp_config_read(nullptr, nullptr, &config);
  if (status != UCS_OK) return IoError("cannot read the UCX configuration: " + UcsError(status));
  ucp_params_t params{};
  params.field_mask = UCP_PARAM_FIELD_FEATURES;
  params.features = UCP_FEATURE_AM | UCP_FEATURE_WAKEUP;
  status = ucp_init(&params, config, &context_);
  ucp_config_release(config);
  if (status != UCS_OK) {
    context_ = nullptr;
    return IoError("cannot initialise UCX (ucp_init): " + UcsError(status) +
                   "; check UCX_TLS / UCX_NET_DEVICES");
  }

  ucp_worker_params_t worker_params{};
  worker_params.field_mask = UCP_WORKER_PARAM_FIELD_THREAD_MODE;
  worker_params.thread_mode = UCS_THREAD_MODE_SINGLE;
  status = ucp_worker_create(context_, &worker_params, &worker_);
  if (status != UCS_OK) {
    worker_ = nullptr;
    return IoError("cannot create a UCX worker: " + UcsError(status));
  }
  int fd = -1;
  status = ucp_worker_get_efd(worker_, &fd);
  if (status != UCS_OK) return IoError("cannot get the UCX worker's event fd: " + UcsError(status));
  event_fd_.emplace(io_, fd);

  const std::array<std::pair<unsigned, ucp_am_recv_callback_t>, 3> handlers = {{
      {kPullAm, &Impl::OnPullAmCb},
      {kDataAm, &Impl::OnDataAmCb},
      {kRefuseAm, &Impl::OnRefuseAmCb},
  }};
  for (const auto& [id, cb] : handlers) {
    ucp_am_handler_param_t handler{};
    handler.field_mask = UCP_AM_HANDLER_PARAM_FIELD_ID | UCP_AM_HANDLER_PARAM_FIELD_CB |
                         UCP_AM_HANDLER_PARAM_FIELD_ARG | UCP_AM_HANDLER_PARAM_FIELD_FLAGS;
    handler.id = id;
    handler.cb = cb;
    handler.arg = this;
    handler.flags = UCP_AM_FLAG_WHOLE_MSG;
    status = ucp_worker_set_am_recv_handler(worker_, &handler);
    if (status != UCS_OK) {
      return IoError("cannot register UCX active message handler " + std::to_string(id) + ": " +
                     UcsError(status));
    }
  }
  return Status::Ok();
}

Status UcxKvTransport::Impl::InitListener() {
  const std::string where = HostPort(options_.host, options_.port);
  auto address = Resolve(options_.host, options_.port, /*passive=*/true);
  if (!address.ok()) {
    return InvalidArgument("KV transfer listener " + where + ": " + address.status().message());
  }
  ucp_listener_params_t params{};
  params.field_mask = UCP_LISTENER_PARAM_FIELD_SOCK_ADDR | UCP_LISTENER_PARAM_FIELD_CONN_HANDLER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&*address);
  params.sockaddr.addrlen = SockaddrLength(*address);
  params.conn_handler.cb = &Impl::OnConnRequestCb;
  params.conn_handler.arg = this;
  const ucs_status_t status = ucp_listener_create(worker_, &params, &listener_);
  if (status != UCS_OK) {
    listener_ = nullptr;
    return IoError("cannot listen for KV transfers on " + where + ": " + UcsError(status) +
                   (status == UCS_ERR_BUSY ? " (port in use); pick a free port or 0" : ""));
  }
  ucp_listener_attr_t attr{};
  attr.field_mask = UCP_LISTENER_ATTR_FIELD_SOCKADDR;
  if (ucp_listener_query(listener_, &attr) != UCS_OK) {
    return IoError("cannot query the KV transfer listener on " + where);
  }
  uint16_t port = 0;
  if (attr.sockaddr.ss_family == AF_INET6) {
    port = ntohs(reinterpret_cast<const sockaddr_in6*>(&attr.sockaddr)->sin6_port);
  } else {
    port = ntohs(reinterpret_cast<const sockaddr_in*>(&attr.sockaddr)->sin_port);
  }
  address_ = HostPort(options_.host, port);
  return Status::Ok();
}

UcxKvTransport::Impl::~Impl() {
  // From here on no user callback runs: handlers already posted see `alive_` expired, and the
  // UCX callbacks the shutdown progress below triggers see `shutting_down_`.
  alive_.reset();
  shutting_down_ = true;
  pulls_.clear();  // destroys the timers; their handlers then do nothing (alive_ expired)
  if (worker_ != nullptr) {
    std::vector<ucp_ep_h> eps;
    for (const auto& [peer, ep] : peer_eps_) eps.push_back(ep);
    eps.insert(eps.end(), server_eps_.begin(), server_eps_.end());
    eps.insert(eps.end(), failed_eps_.begin(), failed_eps_.end());
    failed_eps_.clear();
    peer_eps_.clear();
    ep_peer_.clear();
    server_eps_.clear();
    for (ucp_ep_h ep : eps) CloseEndpoint(ep);
    for (int pass = 0; pass < kMaxClosePasses && closing_eps_ > 0; ++pass) {
      ucp_worker_progress(worker_);
    }
  }
  // The event fd belongs to the worker: stop watching it without closing it.
  if (event_fd_) event_fd_->release();
  event_fd_.reset();
  if (listener_ != nullptr) ucp_listener_destroy(listener_);
  if (worker_ != nullptr) ucp_worker_destroy(worker_);
  // Requests the worker dropped never complete: their Ops (and the buffers they hold) go here,
  // before the context that mapped the buffers.
  ops_.clear();
  send_buffer_.reset();
  receive_buffer_.reset();
  if (context_ != nullptr) ucp_cleanup(context_);
}

// --- Event loop integration ------------------------------------------------------------------

template <typename F>
void UcxKvTransport::Impl::PostGuarded(F&& f) {
  asio::post(io_, [alive = std::weak_ptr<char>(alive_), f = std::forward<F>(f)]() mutable {
    if (!alive.expired()) f();
  });
}

void UcxKvTransport::Impl::WaitForEvents() {
  if (waiting_) return;
  waiting_ = true;
  event_fd_->async_wait(asio::posix::stream_descriptor::wait_read,
                        [this, alive = std::weak_ptr<char>(alive_)](const ErrorCode& ec) {
                          if (alive.expired() || ec == asio::error::operation_aborted) return;
                          waiting_ = false;
                          OnEvents();
                        });
}

// The UCX wakeup protocol: progress until idle, then arm; UCS_ERR_BUSY means events arrived in
// between, so progress again. Only an armed worker signals its fd. Progress while armed (a poll
// step) is allowed; the fd then may wake the thread once for nothing.
void UcxKvTransport::Impl::ArmAndWait() {
  for (;;) {
    ProgressUntilIdle();
    const ucs_status_t status = ucp_worker_arm(worker_);
    if (status != UCS_ERR_BUSY) break;
  }
  WaitForEvents();
}

void UcxKvTransport::Impl::OnEvents() {
  ArmAndWait();
  StartPolling();
}

bool UcxKvTransport::Impl::ProgressUntilIdle() {
  bool progressed = false;
  while (ucp_worker_progress(worker_) != 0) progressed = true;
  return progressed;
}

void UcxKvTransport::Impl::StartPolling() {
  if (polling_ || poll_idle_.count() <= 0 || !InFlight()) return;
  const auto now = std::chrono::steady_clock::now();
  if (now < poll_backoff_until_) return;
  polling_ = true;
  last_progress_ = now;
  poll_steps_ = 0;
  poll_start_switches_ = InvoluntarySwitches();
  PostGuarded([this] { PollStep(); });
}

// One poll between the io_context's other handlers (posted, so timers and sockets still run).
// A poller the kernel preempts shares its core with runnable work (on a loaded host, maybe the
// very peer it waits for): polling then slows transfers down (measured: a lone 1 MiB pull 4x
// slower with two CPU hogs on 2 vCPUs), so it backs off to the fd for a while.
void UcxKvTransport::Impl::PollStep() {
  const auto now = std::chrono::steady_clock::now();
  if (ProgressUntilIdle()) last_progress_ = now;
  bool go_on = InFlight() && now - last_progress_ < poll_idle_;
  if (go_on && ++poll_steps_ % kPreemptionCheckSteps == 0 &&
      InvoluntarySwitches() != poll_start_switches_) {
    ++stats_.poll_backoffs;
    poll_backoff_until_ = now + kPollBackoff;
    go_on = false;
  }
  if (go_on) {
    PostGuarded([this] { PollStep(); });
    return;
  }
  polling_ = false;
  ArmAndWait();  // back to the fd
}

// An operation just started may need progress that no fd event will announce (a send queued in
// UCX, the next step of a rendezvous): one pass after it, coalesced.
void UcxKvTransport::Impl::ScheduleProgress() {
  if (progress_posted_) return;
  progress_posted_ = true;
  PostGuarded([this] {
    progress_posted_ = false;
    ProgressUntilIdle();
  });
}

// --- Endpoints -------------------------------------------------------------------------------

void UcxKvTransport::Impl::OnConnRequestCb(ucp_conn_request_h request, void* arg) {
  static_cast<Impl*>(arg)->OnConnRequest(request);
}

void UcxKvTransport::Impl::OnConnRequest(ucp_conn_request_h request) {
  if (shutting_down_) {
    ucp_listener_reject(listener_, request);
    return;
  }
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_CONN_REQUEST | UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE |
                      UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.conn_request = request;
  params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  params.err_handler.cb = &Impl::OnEndpointErrorCb;
  params.err_handler.arg = this;
  ucp_ep_h ep = nullptr;
  // On failure UCX has consumed the request; the puller sees its endpoint fail.
  if (ucp_ep_create(worker_, &params, &ep) == UCS_OK) server_eps_.insert(ep);
}

StatusOr<ucp_ep_h> UcxKvTransport::Impl::EndpointFor(const std::string& peer) {
  if (auto it = peer_eps_.find(peer); it != peer_eps_.end()) return it->second;
  const auto host_port = ParseHostPort(peer);
  if (!host_port) return IoError("bad peer address, expected host:port");
  ASSIGN_OR_RETURN(sockaddr_storage address,
                   Resolve(host_port->first, host_port->second, /*passive=*/false));
  ucp_ep_params_t params{};
  params.field_mask = UCP_EP_PARAM_FIELD_FLAGS | UCP_EP_PARAM_FIELD_SOCK_ADDR |
                      UCP_EP_PARAM_FIELD_ERR_HANDLING_MODE | UCP_EP_PARAM_FIELD_ERR_HANDLER;
  params.flags = UCP_EP_PARAMS_FLAGS_CLIENT_SERVER;
  params.sockaddr.addr = reinterpret_cast<const sockaddr*>(&address);
  params.sockaddr.addrlen = SockaddrLength(address);
  params.err_mode = UCP_ERR_HANDLING_MODE_PEER;
  params.err_handler.cb = &Impl::OnEndpointErrorCb;
  params.err_handler.arg = this;
  ucp_ep_h ep = nullptr;
  const ucs_status_t status = ucp_ep_create(worker_, &params, &ep);
  if (status != UCS_OK) return IoError("cannot connect: " + UcsError(status));
  peer_eps_[peer] = ep;
  ep_peer_[ep] = peer;
  return ep;
}

void UcxKvTransport::Impl::OnEndpointErrorCb(void* arg, ucp_ep_h ep, ucs_status_t status) {
  static_cast<Impl*>(arg)->OnEndpointError(ep, status);
}

// The endpoint is unusable: fail the pulls waiting on it, drop it from the cache (the next Pull
// to that peer reconnects) and close it.
void UcxKvTransport::Impl::OnEndpointError(ucp_ep_h ep, ucs_status_t status) {
  if (shutting_down_) return;
  if (auto it = ep_peer_.find(ep); it != ep_peer_.end()) {
    peer_eps_.erase(it->second);
    ep_peer_.erase(it);
    std::vector<uint64_t> failed;
    for (const auto& [id, pull] : pulls_) {
      if (pull.ep == ep) failed.push_back(id);
    }
    std::sort(failed.begin(), failed.end());  // completion order by id, not hash order
    for (uint64_t id : failed) {
      CompletePull(id, IoError(PullContext(pulls_.at(id)) + ": peer unreachable or lost (" +
                               UcsError(status) + ")"));
    }
  } else if (server_eps_.erase(ep) == 0) {
    return;  // already closing
  }
  // Closed from the io loop rather than inside UCX's error callback (UCX is in the middle of
  // failing the endpoint there); the destructor closes what is still waiting.
  failed_eps_.push_back(ep);
  if (failed_eps_.size() > 1) return;  // a close pass is already posted
  PostGuarded([this] {
    for (ucp_ep_h failed : std::exchange(failed_eps_, {})) CloseEndpoint(failed);
    ScheduleProgress();
  });
}

void UcxKvTransport::Impl::CloseEndpoint(ucp_ep_h ep) {
  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_FLAGS | UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.flags = UCP_EP_CLOSE_FLAG_FORCE;
  param.cb.send = &Impl::OnCloseDoneCb;
  param.user_data = this;
  const ucs_status_ptr_t request = ucp_ep_close_nbx(ep, &param);
  if (request != nullptr && !UCS_PTR_IS_ERR(request)) ++closing_eps_;
}

void UcxKvTransport::Impl::OnCloseDoneCb(void* request, ucs_status_t /*status*/, void* user_data) {
  --static_cast<Impl*>(user_data)->closing_eps_;
  ucp_request_free(request);
}

// --- Requests --------------------------------------------------------------------------------

UcxKvTransport::Impl::Op* UcxKvTransport::Impl::NewOp(OpKind kind) {
  auto op = std::make_unique<Op>();
  op->impl = this;
  op->id = next_op_id_++;
  op->kind = kind;
  Op* raw = op.get();
  ops_.emplace(raw->id, std::move(op));
  return raw;
}

void UcxKvTransport::Impl::TrackRequest(Op* op, ucs_status_ptr_t request) {
  if (request == nullptr) {
    OnOpDone(op, UCS_OK);
  } else if (UCS_PTR_IS_ERR(request)) {
    OnOpDone(op, UCS_PTR_STATUS(request));
  }
  // Otherwise the callback completes it.
  ScheduleProgress();
  StartPolling();
}

void UcxKvTransport::Impl::OnSendDoneCb(void* request, ucs_status_t status, void* user_data) {
  auto* op = static_cast<Op*>(user_data);
  op->impl->OnOpDone(op, status);
  ucp_request_free(request);
}

void UcxKvTransport::Impl::OnReceiveDoneCb(void* request, ucs_status_t status, size_t /*bytes*/,
                                           void* user_data) {
  auto* op = static_cast<Op*>(user_data);
  op->impl->OnOpDone(op, status);
  ucp_request_free(request);
}

void UcxKvTransport::Impl::OnOpDone(Op* op, ucs_status_t status) {
  auto node = ops_.extract(op->id);
  DYNAMO_CHECK(!node.empty());
  if (shutting_down_) return;
  switch (op->kind) {
    case OpKind::kPullRequest:
      if (status != UCS_OK) {
        if (auto it = pulls_.find(op->pull_id); it != pulls_.end()) {
          CompletePull(op->pull_id,
                       IoError(PullContext(it->second) + ": sending the request failed (" +
                               UcsError(status) + ")"));
        }
      }
      break;
    case OpKind::kData:
      FinishSend(op->key, op->bytes, status);
      break;
    case OpKind::kRefuse:
      break;  // nothing waits for a refusal to leave
    case OpKind::kReceive:
      if (status == UCS_OK) {
        FinishReceive(op->pull_id, *op->buffer, static_cast<size_t>(op->bytes));
      } else if (auto it = pulls_.find(op->pull_id); it != pulls_.end()) {
        CompletePull(op->pull_id,
                     IoError(PullContext(it->second) + ": receiving the data failed (" +
                             UcsError(status) + ")"));
      }
      break;
  }
}

std::shared_ptr<Buffer> UcxKvTransport::Impl::BufferOfAtLeast(std::shared_ptr<Buffer>& current,
                                                              size_t bytes, bool fill) {
  if (current == nullptr || current->size() < bytes) {
    // At least doubling: pulls of growing sizes allocate, fill and map a few times, not once per
    // new maximum (at most twice the largest pull's memory).
    const size_t size = current == nullptr ? bytes : std::max(bytes, 2 * current->size());
    current = std::make_shared<Buffer>(context_, size, fill);
  }
  return current;
}

// --- Holder side -----------------------------------------------------------------------------

ucs_status_t UcxKvTransport::Impl::OnPullAmCb(void* arg, const void* header, size_t header_bytes,
                                              void* /*data*/, size_t /*bytes*/,
                                              const ucp_am_recv_param_t* param) {
  return static_cast<Impl*>(arg)->OnPullAm(header, header_bytes, param);
}

ucs_status_t UcxKvTransport::Impl::OnPullAm(const void* header, size_t header_bytes,
                                            const ucp_am_recv_param_t* param) {
  if (shutting_down_) return UCS_OK;
  const auto pull = DecodeHeader<PullHeader>(header, header_bytes);
  const bool has_reply_ep =
      (param->recv_attr & UCP_AM_RECV_ATTR_FIELD_REPLY_EP) != 0 && param->reply_ep != nullptr;
  if (!pull || pull->bytes < 0 || !has_reply_ep) {
    ++stats_.malformed_messages;
    return UCS_OK;
  }
  // Sending from inside the AM callback is allowed by UCX (the callback must not progress the
  // worker, and sending does not), and keeps reply_ep valid without extra bookkeeping.
  if (accept_ && accept_(pull->key, pull->bytes)) {
    SendData(param->reply_ep, *pull);
  } else {
    ++stats_.refused;
    SendRefusal(param->reply_ep, pull->pull_id);
  }
  return UCS_OK;
}

void UcxKvTransport::Impl::SendData(ucp_ep_h reply_ep, const PullHeader& pull) {
  Op* op = NewOp(OpKind::kData);
  op->pull_id = pull.pull_id;
  op->key = pull.key;
  op->bytes = pull.bytes;
  op->buffer = BufferOfAtLeast(send_buffer_, static_cast<size_t>(pull.bytes), /*fill=*/true);
  const DataHeader header{.pull_id = pull.pull_id, .key = pull.key, .bytes = pull.bytes};
  std::memcpy(op->header.data(), &header, sizeof(header));

  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  param.cb.send = &Impl::OnSendDoneCb;
  param.user_data = op;
  param.flags = pull.bytes >= kRendezvousMinBytes ? UCP_AM_SEND_FLAG_RNDV : 0;
  if (op->buffer->memh() != nullptr) {
    param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    param.memh = op->buffer->memh();
  }
  TrackRequest(op, ucp_am_send_nbx(reply_ep, kDataAm, op->header.data(), sizeof(header),
                                   op->buffer->data(), static_cast<size_t>(pull.bytes), &param));
}

void UcxKvTransport::Impl::SendRefusal(ucp_ep_h reply_ep, uint64_t pull_id) {
  Op* op = NewOp(OpKind::kRefuse);
  op->pull_id = pull_id;
  const RefuseHeader header{.pull_id = pull_id};
  std::memcpy(op->header.data(), &header, sizeof(header));
  ucp_request_param_t param{};
  param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  param.cb.send = &Impl::OnSendDoneCb;
  param.user_data = op;
  TrackRequest(op, ucp_am_send_nbx(reply_ep, kRefuseAm, op->header.data(), sizeof(header), nullptr,
                                   0, &param));
}

void UcxKvTransport::Impl::FinishSend(uint64_t key, int64_t bytes, ucs_status_t status) {
  Status result = Status::Ok();
  if (status == UCS_OK) {
    ++stats_.sends_ok;
    stats_.bytes_sent += bytes;
  } else {
    ++stats_.sends_failed;
    result = IoError("kv send of key " + std::to_string(key) + " (" + std::to_string(bytes) +
                     " bytes) failed: " + UcsError(status));
  }
  if (!on_sent_) return;
  // Posted: on_sent may do anything (even destroy the transport), which UCX's callback context
  // does not allow.
  PostGuarded([this, key, result = std::move(result)]() mutable {
    if (on_sent_) on_sent_(key, std::move(result));
  });
}

// --- Receiver side ---------------------------------------------------------------------------

void UcxKvTransport::Impl::Pull(const std::string& peer, uint64_t key, int64_t bytes,
                                Duration timeout, std::function<void(Status)> done) {
  DYNAMO_CHECK(bytes >= 0);
  DYNAMO_CHECK(done != nullptr);
  const uint64_t pull_id = next_pull_id_++;
  PendingPull& pull = pulls_[pull_id];
  pull.peer = peer;
  pull.key = key;
  pull.bytes = bytes;
  pull.done = std::move(done);
  ++pending_;

  auto ep = EndpointFor(peer);
  if (!ep.ok()) {
    CompletePull(pull_id, IoError(PullContext(pull) + ": " + ep.status().message()));
    return;
  }
  pull.ep = *ep;
  pull.timer = std::make_unique<asio::steady_timer>(io_, ToChrono(timeout));
  pull.timer->async_wait(
      [this, pull_id, timeout, alive = std::weak_ptr<char>(alive_)](const ErrorCode& ec) {
        if (alive.expired() || ec) return;
        OnPullTimeout(pull_id, timeout);
      });

  Op* op = NewOp(OpKind::kPullRequest);
  op->pull_id = pull_id;
  op->key = key;
  op->bytes = bytes;
  const PullHeader header{.key = key, .bytes = bytes, .pull_id = pull_id};
  std::memcpy(op->header.data(), &header, sizeof(header));
  ucp_request_param_t param{};
  param.op_attr_mask =
      UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA | UCP_OP_ATTR_FIELD_FLAGS;
  param.cb.send = &Impl::OnSendDoneCb;
  param.user_data = op;
  param.flags = UCP_AM_SEND_FLAG_REPLY;  // the holder answers on the endpoint this arrives on
  TrackRequest(
      op, ucp_am_send_nbx(*ep, kPullAm, op->header.data(), sizeof(header), nullptr, 0, &param));
}

ucs_status_t UcxKvTransport::Impl::OnDataAmCb(void* arg, const void* header, size_t header_bytes,
                                              void* data, size_t bytes,
                                              const ucp_am_recv_param_t* param) {
  return static_cast<Impl*>(arg)->OnDataAm(header, header_bytes, data, bytes, param);
}

ucs_status_t UcxKvTransport::Impl::OnDataAm(const void* header, size_t header_bytes, void* data,
                                            size_t bytes, const ucp_am_recv_param_t* param) {
  const bool rendezvous = (param->recv_attr & UCP_AM_RECV_ATTR_FLAG_RNDV) != 0;
  // Data nobody waits for is dropped: an eager payload by returning, a rendezvous one by
  // returning an error without receiving it (UCX then completes the holder's send with that
  // error: nothing is transferred).
  const ucs_status_t drop = rendezvous ? UCS_ERR_CANCELED : UCS_OK;
  if (shutting_down_) return drop;
  const auto data_header = DecodeHeader<DataHeader>(header, header_bytes);
  if (!data_header) {
    ++stats_.malformed_messages;
    return drop;
  }
  auto it = pulls_.find(data_header->pull_id);
  if (it == pulls_.end()) return drop;  // timed out, failed, or unknown
  const PendingPull& pull = it->second;
  if (data_header->key != pull.key || data_header->bytes != pull.bytes ||
      bytes != static_cast<size_t>(pull.bytes)) {
    CompletePull(
        data_header->pull_id,
        Internal(PullContext(pull) + ": the holder sent " + std::to_string(bytes) +
                 " bytes of key " + std::to_string(data_header->key) + ", expected " +
                 std::to_string(pull.bytes) + " bytes of key " + std::to_string(pull.key)));
    return drop;
  }
  std::shared_ptr<Buffer> buffer = BufferOfAtLeast(receive_buffer_, bytes, /*fill=*/false);
  if (!rendezvous) {
    if (bytes > 0) std::memcpy(buffer->data(), data, bytes);
    FinishReceive(data_header->pull_id, *buffer, bytes);
    return UCS_OK;
  }
  Op* op = NewOp(OpKind::kReceive);
  op->pull_id = data_header->pull_id;
  op->key = pull.key;
  op->bytes = pull.bytes;
  op->buffer = std::move(buffer);
  ucp_request_param_t recv_param{};
  recv_param.op_attr_mask = UCP_OP_ATTR_FIELD_CALLBACK | UCP_OP_ATTR_FIELD_USER_DATA;
  recv_param.cb.recv_am = &Impl::OnReceiveDoneCb;
  recv_param.user_data = op;
  if (op->buffer->memh() != nullptr) {
    recv_param.op_attr_mask |= UCP_OP_ATTR_FIELD_MEMH;
    recv_param.memh = op->buffer->memh();
  }
  // Receiving from inside the callback is allowed; UCX owns `data` from here on, whatever the
  // result, and ignores the return value below once a receive started.
  TrackRequest(op, ucp_am_recv_data_nbx(worker_, data, op->buffer->data(), bytes, &recv_param));
  return UCS_INPROGRESS;
}

void UcxKvTransport::Impl::FinishReceive(uint64_t pull_id, const Buffer& buffer, size_t bytes) {
  auto it = pulls_.find(pull_id);
  if (it == pulls_.end()) return;  // completed meanwhile (timeout, lost peer): discard
  if (!MatchesPattern(buffer.data(), bytes)) {
    CompletePull(pull_id, Internal(PullContext(it->second) +
                                   ": the received bytes do not match the sent pattern"));
    return;
  }
  CompletePull(pull_id, Status::Ok());
}

ucs_status_t UcxKvTransport::Impl::OnRefuseAmCb(void* arg, const void* header, size_t header_bytes,
                                                void* /*data*/, size_t /*bytes*/,
                                                const ucp_am_recv_param_t* /*param*/) {
  return static_cast<Impl*>(arg)->OnRefuseAm(header, header_bytes);
}

ucs_status_t UcxKvTransport::Impl::OnRefuseAm(const void* header, size_t header_bytes) {
  if (shutting_down_) return UCS_OK;
  const auto refusal = DecodeHeader<RefuseHeader>(header, header_bytes);
  if (!refusal) {
    ++stats_.malformed_messages;
    return UCS_OK;
  }
  if (auto it = pulls_.find(refusal->pull_id); it != pulls_.end()) {
    CompletePull(refusal->pull_id,
                 NotFound(PullContext(it->second) + ": refused, the holder does not have it"));
  }
  return UCS_OK;
}

void UcxKvTransport::Impl::OnPullTimeout(uint64_t pull_id, Duration timeout) {
  auto it = pulls_.find(pull_id);
  if (it == pulls_.end()) return;
  CompletePull(pull_id, IoError(PullContext(it->second) + ": timed out after " +
                                FormatMillis(timeout) + " without the data"));
}

std::string UcxKvTransport::Impl::PullContext(const PendingPull& pull) const {
  return "kv pull of key " + std::to_string(pull.key) + " (" + std::to_string(pull.bytes) +
         " bytes) from " + pull.peer;
}

// Exactly once per pull: the pull leaves `pulls_` here, so later data, timeouts and endpoint
// errors for it find nothing. `done` is posted, never run from Pull or a UCX callback.
void UcxKvTransport::Impl::CompletePull(uint64_t pull_id, Status status) {
  auto node = pulls_.extract(pull_id);
  if (node.empty()) return;
  PendingPull& pull = node.mapped();
  if (pull.timer) pull.timer->cancel();
  if (status.ok()) {
    ++stats_.pulls_ok;
    stats_.bytes_received += pull.bytes;
  } else {
    ++stats_.pulls_failed;
  }
  PostGuarded([this, done = std::move(pull.done), status = std::move(status)]() mutable {
    --pending_;
    done(std::move(status));
  });
}

// --- Public API ------------------------------------------------------------------------------

UcxKvTransport::UcxKvTransport(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
UcxKvTransport::~UcxKvTransport() = default;

StatusOr<std::unique_ptr<UcxKvTransport>> UcxKvTransport::Create(boost::asio::io_context& io,
                                                                 UcxKvOptions options) {
  auto impl = std::make_unique<Impl>(io, std::move(options));
  RETURN_IF_ERROR(impl->Init());
  return std::unique_ptr<UcxKvTransport>(new UcxKvTransport(std::move(impl)));
}

std::string UcxKvTransport::address() const { return impl_->address(); }

void UcxKvTransport::Serve(std::function<bool(uint64_t key, int64_t bytes)> accept,
                           std::function<void(uint64_t key, Status status)> on_sent) {
  impl_->Serve(std::move(accept), std::move(on_sent));
}

void UcxKvTransport::Pull(const std::string& peer, uint64_t key, int64_t bytes, Duration timeout,
                          std::function<void(Status status)> done) {
  impl_->Pull(peer, key, bytes, timeout, std::move(done));
}

size_t UcxKvTransport::pending() const { return impl_->pending(); }
const UcxKvStats& UcxKvTransport::stats() const { return impl_->stats(); }

}  // namespace dynamo::kvtransfer
