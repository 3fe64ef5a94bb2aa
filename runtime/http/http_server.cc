#include "runtime/http/http_server.h"

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <iterator>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/buffer.hpp>
#include <boost/asio/error.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/socket_base.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <nlohmann/json.hpp>
// GCC 12 with sanitizers reports a false -Wmaybe-uninitialized for boost::optional inside Beast's
// parser (basic_parser::content_length_unchecked); the warning is about Boost's code, not ours.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>
#pragma GCC diagnostic pop
#include <boost/system/error_code.hpp>

#include "core/check.h"
#include "core/status.h"
#include "core/time.h"

namespace dynamo::http {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
using ErrorCode = boost::system::error_code;
using Tcp = asio::ip::tcp;

constexpr std::string_view kServerName = "dynamo-run";
constexpr size_t kReadChunkBytes = 4096;  // per async_read_some (idle, monitor, drain)
// While a response is in progress the session reads ahead (pipelined requests, client close
// detection) up to this many buffered bytes, then stops reading until the response completes.
constexpr size_t kMaxReadAheadBytes = 64 << 10;
constexpr size_t kMaxGatherBuffers = 64;  // queued buffers written by one async_write
// After a final response (error, Connection: close) the session half-closes and reads what the
// client still sends for at most this long, so that unread request bytes do not turn the close
// into a reset that destroys the response before the client read it.
constexpr Duration kLingerTimeout = Duration::Seconds(2);
constexpr Duration kAcceptRetryDelay = Duration::Millis(50);          // after EMFILE and the like
constexpr Duration kMaxTimer = Duration::Seconds(365LL * 24 * 3600);  // clamp: no overflow

// Beast 1.74 returns boost::string_view; the rest of the code speaks std::string_view.
std::string_view Sv(beast::string_view s) { return {s.data(), s.size()}; }

char ToLowerAscii(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string ToLower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ToLowerAscii(c);
  return out;
}

bool EqualsIgnoreCase(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (ToLowerAscii(a[i]) != ToLowerAscii(b[i])) return false;
  }
  return true;
}

// RFC 9110 token characters (header names).
bool IsTokenChar(char c) {
  if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(c) != std::string_view::npos;
}

bool IsSafeHeaderValue(std::string_view v) {
  return v.find_first_of(std::string_view("\r\n\0", 3)) == std::string_view::npos;
}

// Extra headers the caller may not set: the server frames every response itself.
bool IsFramingHeader(std::string_view name) {
  return EqualsIgnoreCase(name, "content-length") || EqualsIgnoreCase(name, "transfer-encoding") ||
         EqualsIgnoreCase(name, "connection");
}

std::string DefaultErrorBody(int status, std::string_view message) {
  const char* type = status >= 500 ? "server_error" : "invalid_request_error";
  const nlohmann::json body = {
      {"error", {{"message", message}, {"type", type}, {"param", nullptr}, {"code", status}}}};
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

size_t SaturatingAdd(size_t a, size_t b) {
  return a > std::numeric_limits<size_t>::max() - b ? std::numeric_limits<size_t>::max() : a + b;
}

std::string FormatMillis(Duration d) { return std::to_string(d.nanos() / 1'000'000) + " ms"; }

std::string HostPort(std::string_view host, uint16_t port) {
  const bool v6 = host.find(':') != std::string_view::npos;
  return (v6 ? "[" + std::string(host) + "]" : std::string(host)) + ":" + std::to_string(port);
}

std::string EndpointString(const Tcp::endpoint& endpoint) {
  return HostPort(endpoint.address().to_string(), endpoint.port());
}

std::chrono::nanoseconds ToChrono(Duration d) {
  return std::chrono::nanoseconds(std::clamp(d, Duration::Zero(), kMaxTimer).nanos());
}

// True for errors of the HTTP parser about the bytes the client sent (not EOF, not the socket).
bool IsParseError(const ErrorCode& ec) {
  static const boost::system::error_category& kHttpCategory =
      bhttp::make_error_code(bhttp::error::bad_method).category();
  return ec.category() == kHttpCategory && ec != bhttp::error::end_of_stream &&
         ec != bhttp::error::partial_message;
}

// How a response's body is delimited.
enum class Framing { kContentLength, kChunked, kUntilClose, kNoBody };

struct ResponseHead {
  int status = 200;
  std::string_view content_type;
  Framing framing = Framing::kContentLength;
  size_t content_length = 0;
  bool close = false;              // Connection: close
  bool keep_alive_header = false;  // Connection: keep-alive (for HTTP/1.0 clients that asked)
  const std::vector<Header>* extra_headers = nullptr;
};

std::string FormatHead(const ResponseHead& head) {
  const bhttp::status code = bhttp::int_to_status(static_cast<unsigned>(head.status));
  std::string out = "HTTP/1.1 " + std::to_string(head.status) + " ";
  if (code == bhttp::status::unknown) {
    out += "Unknown";
  } else {
    out += Sv(bhttp::obsolete_reason(code));
  }
  out += "\r\nServer: ";
  out += kServerName;
  out += "\r\n";
  if (!head.content_type.empty() && IsSafeHeaderValue(head.content_type)) {
    out += "Content-Type: ";
    out += head.content_type;
    out += "\r\n";
  }
  switch (head.framing) {
    case Framing::kContentLength:
      out += "Content-Length: " + std::to_string(head.content_length) + "\r\n";
      break;
    case Framing::kChunked:
      out += "Transfer-Encoding: chunked\r\n";
      break;
    case Framing::kUntilClose:
    case Framing::kNoBody:
      break;
  }
  if (head.close) {
    out += "Connection: close\r\n";
  } else if (head.keep_alive_header) {
    out += "Connection: keep-alive\r\n";
  }
  if (head.extra_headers != nullptr) {
    for (const Header& h : *head.extra_headers) {
      const bool valid_name =
          !h.name.empty() && std::all_of(h.name.begin(), h.name.end(), IsTokenChar);
      if (!valid_name || !IsSafeHeaderValue(h.value) || IsFramingHeader(h.name)) continue;
      out += h.name;
      out += ": ";
      out += h.value;
      out += "\r\n";
    }
  }
  out += "\r\n";
  return out;
}

std::string ChunkFrame(std::string_view data) {
  static constexpr char kHex[] = "0123456789abcdef";
  char size_hex[2 * sizeof(size_t)];
  size_t len = 0;
  for (size_t n = data.size(); n != 0; n >>= 4) size_hex[len++] = kHex[n & 0xf];
  std::string out;
  out.reserve(len + data.size() + 4);
  for (size_t i = len; i > 0; --i) out += size_hex[i - 1];
  out += "\r\n";
  out += data;
  out += "\r\n";
  return out;
}

StatusOr<asio::ip::address> ParseHost(const std::string& host) {
  if (host == "localhost") return asio::ip::address(asio::ip::address_v4::loopback());
  ErrorCode ec;
  asio::ip::address address = asio::ip::make_address(host, ec);
  if (ec) {
    return InvalidArgument("http host '" + host +
                           "' is not an IP address literal or \"localhost\"; use e.g. 127.0.0.1, "
                           "0.0.0.0 (all interfaces) or ::1");
  }
  return address;
}

Status ValidateOptions(const HttpServerOptions& o) {
  if (o.max_body_bytes == 0) return InvalidArgument("http max_body_bytes is 0; use at least 1");
  if (o.max_header_bytes == 0 || o.max_header_bytes > std::numeric_limits<uint32_t>::max()) {
    return InvalidArgument("http max_header_bytes " + std::to_string(o.max_header_bytes) +
                           " is out of range; use 1 .. 4294967295 (default 16384)");
  }
  if (o.request_timeout <= Duration::Zero() || o.idle_timeout <= Duration::Zero()) {
    return InvalidArgument("http request_timeout and idle_timeout must be positive");
  }
  if (o.max_connections == 0) return InvalidArgument("http max_connections is 0; use at least 1");
  return Status::Ok();
}

}  // namespace

namespace internal {

class Session;

// The listener, the connection table and the counters. Owned by HttpServer; Sessions point back
// to it until they close (or the server is destroyed, which closes them first).
class ServerState : public std::enable_shared_from_this<ServerState> {
 public:
  ServerState(asio::io_context& io, HttpServerOptions options, Handler handler)
      : options_(std::move(options)),
        handler_(std::move(handler)),
        acceptor_(io),
        accept_retry_timer_(io) {}

  Status Listen(const Tcp::endpoint& endpoint);
  void Accept();
  void StopAccepting();
  // Closes every session; notify: OnClose callbacks of pending exchanges run (posted).
  void CloseSessions(bool notify);
  // Called by a session when it closes.
  void Remove(uint64_t id) {
    sessions_.erase(id);
    stats_.connections_open = sessions_.size();
  }
  std::string ErrorBody(int status, std::string_view message) const {
    return options_.error_body ? options_.error_body(status, message)
                               : DefaultErrorBody(status, message);
  }

  const HttpServerOptions& options() const { return options_; }
  const Handler& handler() const { return handler_; }
  HttpServerStats& stats() { return stats_; }
  uint16_t port() const { return port_; }
  size_t open_connections() const { return sessions_.size(); }

 private:
  void OnAccept(const ErrorCode& ec, Tcp::socket socket);

  HttpServerOptions options_;
  Handler handler_;
  Tcp::acceptor acceptor_;
  asio::steady_timer accept_retry_timer_;
  bool accepting_ = false;
  uint16_t port_ = 0;
  uint64_t next_session_id_ = 0;
  // By connection id: deterministic order for CloseAll. shared: Asio completion handlers
  // co-own a session while its operations are pending (they outlive its removal from here).
  std::map<uint64_t, std::shared_ptr<Session>> sessions_;
  HttpServerStats stats_;
};

class ExchangeImpl;

// One accepted connection: reads requests one at a time (pipelined bytes wait in the buffer),
// calls the handler, writes the response from a queue (one async_write at a time) and keeps a
// read pending during the response to notice the client leaving. Single-threaded.
class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(ServerState* server, uint64_t id, Tcp::socket socket)
      : server_(server),
        server_alive_(server->weak_from_this()),
        id_(id),
        limits_(server->options()),
        socket_(std::move(socket)),
        deadline_(socket_.get_executor()),
        buffer_(
            SaturatingAdd(limits_.max_header_bytes + kMaxReadAheadBytes, limits_.max_body_bytes)) {}

  // reject: answer 503 and close (the server is at max_connections).
  void Start(bool reject);
  // Closes the socket now. notify: the pending exchange's OnClose runs (posted).
  void Close(bool notify);

  // The HttpExchange calls, forwarded by the current exchange.
  bool IsCurrent(const ExchangeImpl* exchange) const { return exchange_ == exchange; }
  void Respond(int status, std::string_view content_type, std::string body,
               const std::vector<Header>& extra_headers);
  void StartStream(int status, std::string_view content_type);
  void Write(std::string data);
  void Finish();
  size_t queued_bytes() const { return queued_bytes_; }
  void OnExchangeDropped(const ExchangeImpl* exchange);

 private:
  enum class Phase {
    kIdle,        // waiting for the first byte of a request (idle_timeout)
    kRequest,     // parsing a request (request_timeout)
    kHandling,    // the handler has the request; response not fully written
    kErrorWrite,  // writing a server error response, then kLingering
    kLingering,   // half-closed after the final response; draining until EOF
    kClosed,
  };
  enum class Response { kNone, kStreaming, kAllQueued };

  // Only the limits are copied: a session can outlive the server state.
  struct Limits {
    explicit Limits(const HttpServerOptions& o)
        : max_body_bytes(o.max_body_bytes),
          max_header_bytes(o.max_header_bytes),
          request_timeout(o.request_timeout),
          idle_timeout(o.idle_timeout) {}
    size_t max_body_bytes;
    size_t max_header_bytes;
    Duration request_timeout;
    Duration idle_timeout;
  };

  void EnterIdle();
  void StartReadSome();
  void OnReadSome(const ErrorCode& ec, size_t bytes);
  void StartParse();
  void OnHeaderRead(const ErrorCode& ec);
  void OnBodyRead(const ErrorCode& ec);
  void OnRequestError(const ErrorCode& ec);
  void Dispatch();
  void OnDrainRead(const ErrorCode& ec);
  void SendErrorAndClose(int status, std::string_view message);
  void Linger();
  void Queue(std::string bytes);
  void Flush();
  void OnWritten(const ErrorCode& ec, size_t buffers);
  void OnWritesDrained();
  void OnResponseComplete();
  void SetDeadline(Duration d);
  void ClearDeadline();
  void OnDeadline();
  // The client went away (or a write stalled) while a response was pending.
  void AbortExchange();

  ServerState* server_;  // null once closed
  std::weak_ptr<ServerState> server_alive_;
  const uint64_t id_;
  const Limits limits_;
  Tcp::socket socket_;
  asio::steady_timer deadline_;
  uint64_t deadline_generation_ = 0;  // stale timer completions compare unequal
  std::string remote_;
  beast::flat_buffer buffer_;  // bytes read and not yet parsed
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  Phase phase_ = Phase::kIdle;
  bool read_pending_ = false;
  bool read_cancelled_ = false;  // the pending read_some was cancelled to parse buffered bytes

  // The current request's response.
  ExchangeImpl* exchange_ = nullptr;  // not owned; cleared when it is dropped or completes
  Response response_ = Response::kNone;
  bool head_request_ = false;
  bool raw_stream_ = false;  // HTTP/1.0 stream: no chunk framing, ends with the connection
  bool close_after_response_ = false;
  bool keep_alive_header_ = false;  // an HTTP/1.0 client asked for keep-alive

  std::deque<std::string> write_queue_;  // front: the buffers being written when writing_
  size_t queued_bytes_ = 0;
  size_t writing_buffers_ = 0;
  bool writing_ = false;
};

// The HttpExchange given to the handler. Holds its session weakly: a closed connection goes away
// even while the handler still holds the exchange.
class ExchangeImpl final : public HttpExchange {
 public:
  ExchangeImpl(std::weak_ptr<Session> session, std::weak_ptr<ServerState> server_alive,
               asio::any_io_executor executor)
      : session_(std::move(session)),
        server_alive_(std::move(server_alive)),
        executor_(std::move(executor)) {}
  ~ExchangeImpl() override {
    if (auto session = session_.lock()) session->OnExchangeDropped(this);
  }

  void Respond(int status, std::string_view content_type, std::string body,
               std::vector<Header> extra_headers) override {
    if (auto s = Usable()) s->Respond(status, content_type, std::move(body), extra_headers);
  }
  void StartStream(int status, std::string_view content_type) override {
    if (auto s = Usable()) s->StartStream(status, content_type);
  }
  void Write(std::string data) override {
    if (auto s = Usable()) s->Write(std::move(data));
  }
  void Finish() override {
    if (auto s = Usable()) s->Finish();
  }
  bool closed() const override { return aborted_ || (!complete_ && session_.expired()); }
  void OnClose(std::function<void()> cb) override {
    if (complete_) return;
    on_close_ = std::move(cb);
    if (aborted_) PostOnClose();
  }
  size_t queued_bytes() const override {
    auto s = session_.lock();
    return s && s->IsCurrent(this) ? s->queued_bytes() : 0;
  }

  // Called by the session.
  void MarkComplete() { complete_ = true; }
  void MarkAborted(bool notify) {
    aborted_ = true;
    if (notify) PostOnClose();
  }

 private:
  // The session when this exchange may still respond; null when closed (calls are no-ops).
  std::shared_ptr<Session> Usable() const {
    if (closed()) return nullptr;
    DYNAMO_CHECK(!complete_);  // a call after the response was fully written
    auto s = session_.lock();
    return s && s->IsCurrent(this) ? s : nullptr;
  }
  void PostOnClose() {
    if (!on_close_) return;
    asio::post(executor_, [cb = std::move(on_close_), alive = server_alive_]() {
      if (!alive.expired()) cb();  // no callbacks once ~HttpServer ran
    });
    on_close_ = nullptr;
  }

  std::weak_ptr<Session> session_;
  std::weak_ptr<ServerState> server_alive_;
  asio::any_io_executor executor_;
  std::function<void()> on_close_;
  bool complete_ = false;  // the response was fully written
  bool aborted_ = false;   // the connection ended before that
};

// ---- ServerState ----

Status ServerState::Listen(const Tcp::endpoint& endpoint) {
  auto fail = [&](const ErrorCode& ec) {
    std::string fix = "pick another --port";
    if (ec == asio::error::access_denied) fix = "ports below 1024 need privileges; " + fix;
    if (ec == boost::system::errc::address_not_available) {
      fix = "use an address of this machine, 127.0.0.1 or 0.0.0.0";
    }
    return IoError("cannot listen on " + HostPort(options_.host, options_.port) + ": " +
                   ec.message() + "; " + fix);
  };
  ErrorCode ec;
  if (acceptor_.open(endpoint.protocol(), ec); ec) return fail(ec);
  if (acceptor_.set_option(asio::socket_base::reuse_address(true), ec); ec) return fail(ec);
  if (acceptor_.bind(endpoint, ec); ec) return fail(ec);
  if (acceptor_.listen(asio::socket_base::max_listen_connections, ec); ec) return fail(ec);
  const Tcp::endpoint local = acceptor_.local_endpoint(ec);
  if (ec) return fail(ec);
  port_ = local.port();
  accepting_ = true;
  return Status::Ok();
}

void ServerState::Accept() {
  if (!accepting_) return;
  acceptor_.async_accept([weak = weak_from_this()](const ErrorCode& ec, Tcp::socket socket) {
    if (auto self = weak.lock()) self->OnAccept(ec, std::move(socket));
  });
}

void ServerState::OnAccept(const ErrorCode& ec, Tcp::socket socket) {
  if (!accepting_) return;
  if (ec) {
    if (ec == asio::error::operation_aborted) return;
    // Out of descriptors and the like: retry later instead of spinning.
    accept_retry_timer_.expires_after(ToChrono(kAcceptRetryDelay));
    accept_retry_timer_.async_wait([weak = weak_from_this()](const ErrorCode& wait_ec) {
      if (auto self = weak.lock(); self && !wait_ec) self->Accept();
    });
    return;
  }
  ++stats_.connections_accepted;
  ErrorCode ignored;
  socket.set_option(Tcp::no_delay(true), ignored);
  const bool reject = sessions_.size() >= options_.max_connections;
  if (reject) ++stats_.rejected_connections;
  const uint64_t id = next_session_id_++;
  auto session = std::make_shared<Session>(this, id, std::move(socket));
  sessions_.emplace(id, session);
  stats_.connections_open = sessions_.size();
  session->Start(reject);
  Accept();
}

void ServerState::StopAccepting() {
  accepting_ = false;
  ErrorCode ignored;
  acceptor_.close(ignored);
  accept_retry_timer_.cancel();
}

void ServerState::CloseSessions(bool notify) {
  std::map<uint64_t, std::shared_ptr<Session>> sessions = std::move(sessions_);
  sessions_.clear();
  stats_.connections_open = 0;
  for (auto& [id, session] : sessions) session->Close(notify);
}

// ---- Session: reading requests ----

void Session::Start(bool reject) {
  ErrorCode ec;
  const Tcp::endpoint peer = socket_.remote_endpoint(ec);
  if (!ec) remote_ = EndpointString(peer);
  if (reject) {
    SendErrorAndClose(503, "the server is at its connection limit (max_connections " +
                               std::to_string(server_->options().max_connections) +
                               "); retry later");
    return;
  }
  EnterIdle();
}

void Session::EnterIdle() {
  phase_ = Phase::kIdle;
  SetDeadline(limits_.idle_timeout);
  if (buffer_.size() == 0) {
    if (!read_pending_) StartReadSome();
  } else if (read_pending_) {
    // Pipelined bytes are buffered but a read is pending that may never complete: cancel it;
    // its completion starts the parse.
    read_cancelled_ = true;
    ErrorCode ignored;
    socket_.cancel(ignored);
  } else {
    StartParse();
  }
}

void Session::StartReadSome() {
  const size_t room = buffer_.max_size() - buffer_.size();
  if (room == 0) return;
  read_pending_ = true;
  socket_.async_read_some(buffer_.prepare(std::min(kReadChunkBytes, room)),
                          [self = shared_from_this()](const ErrorCode& ec, size_t bytes) {
                            self->OnReadSome(ec, bytes);
                          });
}

void Session::OnReadSome(const ErrorCode& ec, size_t bytes) {
  read_pending_ = false;
  const bool cancelled = std::exchange(read_cancelled_, false);
  if (phase_ == Phase::kClosed) return;
  if (phase_ == Phase::kErrorWrite || phase_ == Phase::kLingering) {
    OnDrainRead(ec);
    return;
  }
  buffer_.commit(bytes);
  if (ec && !(cancelled && ec == asio::error::operation_aborted)) {
    // EOF or an error. While idle that is a normal close of a keep-alive connection.
    if (phase_ == Phase::kHandling) {
      ++server_->stats().client_disconnects;
      AbortExchange();
    } else {
      Close(false);
    }
    return;
  }
  if (phase_ == Phase::kIdle) {
    if (buffer_.size() > 0) {
      StartParse();
    } else {
      StartReadSome();
    }
  } else if (phase_ == Phase::kHandling && buffer_.size() < kMaxReadAheadBytes) {
    StartReadSome();  // keep watching for the client leaving
  }
}

void Session::StartParse() {
  phase_ = Phase::kRequest;
  parser_.emplace();
  parser_->header_limit(static_cast<uint32_t>(limits_.max_header_bytes));
  parser_->body_limit(static_cast<uint64_t>(limits_.max_body_bytes));
  SetDeadline(limits_.request_timeout);
  read_pending_ = true;
  bhttp::async_read_header(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](const ErrorCode& ec, size_t) { self->OnHeaderRead(ec); });
}

void Session::OnHeaderRead(const ErrorCode& ec) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ != Phase::kRequest) {
    OnDrainRead(ec);
    return;
  }
  if (ec) {
    OnRequestError(ec);
    return;
  }
  if (parser_->is_done()) {
    Dispatch();
    return;
  }
  const auto& head = parser_->get();
  if (head.version() >= 11 && EqualsIgnoreCase(Sv(head[bhttp::field::expect]), "100-continue")) {
    Queue("HTTP/1.1 100 Continue\r\n\r\n");
    Flush();
  }
  read_pending_ = true;
  bhttp::async_read(
      socket_, buffer_, *parser_,
      [self = shared_from_this()](const ErrorCode& read_ec, size_t) { self->OnBodyRead(read_ec); });
}

void Session::OnBodyRead(const ErrorCode& ec) {
  read_pending_ = false;
  if (phase_ == Phase::kClosed) return;
  if (phase_ != Phase::kRequest) {
    OnDrainRead(ec);
    return;
  }
  if (ec) {
    OnRequestError(ec);
    return;
  }
  Dispatch();
}

void Session::OnRequestError(const ErrorCode& ec) {
  HttpServerStats& stats = server_->stats();
  if (ec == bhttp::error::body_limit ||
      (ec == bhttp::error::buffer_overflow && parser_->is_header_done())) {
    ++stats.too_large;
    SendErrorAndClose(413, "request body exceeds the limit of " +
                               std::to_string(limits_.max_body_bytes) +
                               " bytes (max_body_bytes); send a smaller body");
  } else if (ec == bhttp::error::header_limit || ec == bhttp::error::buffer_overflow) {
    ++stats.too_large;
    SendErrorAndClose(431, "request line and headers exceed the limit of " +
                               std::to_string(limits_.max_header_bytes) +
                               " bytes (max_header_bytes); send fewer or shorter headers");
  } else if (IsParseError(ec)) {
    ++stats.malformed;
    SendErrorAndClose(400, "malformed HTTP request: " + ec.message());
  } else {
    // EOF in the middle of a request, or a reset: nobody to answer.
    ++stats.client_disconnects;
    Close(false);
  }
}

void Session::Dispatch() {
  ClearDeadline();
  auto& message = parser_->get();
  HttpRequest request;
  request.method = std::string(Sv(message.method_string()));
  request.target = std::string(Sv(message.target()));
  request.path = request.target.substr(0, request.target.find('?'));
  request.content_type = ToLower(Sv(message[bhttp::field::content_type]));
  request.headers.reserve(static_cast<size_t>(std::distance(message.begin(), message.end())));
  for (const auto& field : message) {
    request.headers.push_back(
        Header{ToLower(Sv(field.name_string())), std::string(Sv(field.value()))});
  }
  request.body = std::move(message.body());
  request.remote = remote_;

  head_request_ = message.method() == bhttp::verb::head;
  close_after_response_ = !message.keep_alive();
  keep_alive_header_ = message.version() < 11 && message.keep_alive();
  raw_stream_ = false;
  response_ = Response::kNone;
  phase_ = Phase::kHandling;
  ++server_->stats().requests;

  auto exchange =
      std::make_shared<ExchangeImpl>(weak_from_this(), server_alive_, socket_.get_executor());
  exchange_ = exchange.get();
  if (!read_pending_ && buffer_.size() < kMaxReadAheadBytes) StartReadSome();
  // The handler may respond inline, keep the exchange or drop it (-> 500).
  server_->handler()(request, std::move(exchange));
}

void Session::OnDrainRead(const ErrorCode& ec) {
  // A final response is being written or was written: discard what the client still sends
  // until it closes (or the linger deadline).
  if (ec && !IsParseError(ec)) {
    Close(false);
    return;
  }
  buffer_.consume(buffer_.size());
  StartReadSome();
}

// ---- Session: writing responses ----

void Session::Respond(int status, std::string_view content_type, std::string body,
                      const std::vector<Header>& extra_headers) {
  DYNAMO_CHECK(response_ == Response::kNone);  // Respond or StartStream was called already
  DYNAMO_CHECK(status >= 200 && status <= 599);
  const bool no_body = status == 204 || status == 304;
  ResponseHead head{.status = status,
                    .content_type = content_type,
                    .framing = no_body ? Framing::kNoBody : Framing::kContentLength,
                    .content_length = body.size(),
                    .close = close_after_response_,
                    .keep_alive_header = keep_alive_header_,
                    .extra_headers = &extra_headers};
  Queue(FormatHead(head));
  if (!no_body && !head_request_) Queue(std::move(body));
  response_ = Response::kAllQueued;
  Flush();
}

void Session::StartStream(int status, std::string_view content_type) {
  DYNAMO_CHECK(response_ == Response::kNone);  // Respond or StartStream was called already
  DYNAMO_CHECK(status >= 200 && status <= 599);
  raw_stream_ =
      parser_->get().version() < 11;  // HTTP/1.0 has no chunked encoding: the close ends the body
  if (raw_stream_) close_after_response_ = true;
  std::vector<Header> extra;
  constexpr std::string_view kEventStream = "text/event-stream";
  if (EqualsIgnoreCase(content_type.substr(0, kEventStream.size()), kEventStream)) {
    extra.push_back(Header{"Cache-Control", "no-cache"});
  }
  ResponseHead head{.status = status,
                    .content_type = content_type,
                    .framing = raw_stream_ ? Framing::kUntilClose : Framing::kChunked,
                    .close = close_after_response_,
                    .extra_headers = &extra};
  Queue(FormatHead(head));
  response_ = Response::kStreaming;
  Flush();
}

void Session::Write(std::string data) {
  DYNAMO_CHECK(response_ == Response::kStreaming);  // Write needs StartStream, before Finish
  if (data.empty() || head_request_) return;
  Queue(raw_stream_ ? std::move(data) : ChunkFrame(data));
  Flush();
}

void Session::Finish() {
  DYNAMO_CHECK(response_ == Response::kStreaming);  // Finish needs StartStream, once
  response_ = Response::kAllQueued;
  if (!raw_stream_ && !head_request_) Queue("0\r\n\r\n");
  Flush();
}

void Session::OnExchangeDropped(const ExchangeImpl* exchange) {
  if (exchange_ != exchange) return;
  exchange_ = nullptr;
  if (phase_ != Phase::kHandling) return;
  switch (response_) {
    case Response::kNone:
      Respond(500, "application/json",
              server_->ErrorBody(500, "the server dropped the request without answering it"), {});
      break;
    case Response::kStreaming:
      Close(false);  // the client sees a truncated response, not a clean end
      break;
    case Response::kAllQueued:
      break;  // the response completes without the exchange
  }
}

void Session::SendErrorAndClose(int status, std::string_view message) {
  phase_ = Phase::kErrorWrite;
  SetDeadline(kLingerTimeout);
  const std::string body = server_->ErrorBody(status, message);
  ResponseHead head{.status = status,
                    .content_type = "application/json",
                    .framing = Framing::kContentLength,
                    .content_length = body.size(),
                    .close = true};
  Queue(FormatHead(head));
  Queue(body);
  Flush();
  if (!read_pending_) StartReadSome();  // drains; see kLingerTimeout
}

void Session::Linger() {
  phase_ = Phase::kLingering;
  ErrorCode ignored;
  socket_.shutdown(Tcp::socket::shutdown_send, ignored);
  SetDeadline(kLingerTimeout);
  if (!read_pending_) StartReadSome();
}

void Session::Queue(std::string bytes) {
  if (bytes.empty()) return;
  queued_bytes_ += bytes.size();
  write_queue_.push_back(std::move(bytes));
}

void Session::Flush() {
  if (writing_ || phase_ == Phase::kClosed) return;
  if (write_queue_.empty()) {
    OnWritesDrained();
    return;
  }
  std::vector<asio::const_buffer> buffers;
  const size_t count = std::min(write_queue_.size(), kMaxGatherBuffers);
  buffers.reserve(count);
  for (size_t i = 0; i < count; ++i) buffers.push_back(asio::buffer(write_queue_[i]));
  writing_ = true;
  writing_buffers_ = count;
  // A write that makes no progress for idle_timeout means the client stopped reading.
  if (phase_ == Phase::kHandling) SetDeadline(limits_.idle_timeout);
  asio::async_write(socket_, buffers, [self = shared_from_this()](const ErrorCode& ec, size_t) {
    self->OnWritten(ec, self->writing_buffers_);
  });
}

void Session::OnWritten(const ErrorCode& ec, size_t buffers) {
  writing_ = false;
  if (phase_ == Phase::kClosed) return;
  if (ec) {
    if (phase_ == Phase::kHandling) {
      ++server_->stats().client_disconnects;
      AbortExchange();
    } else {
      Close(false);
    }
    return;
  }
  for (size_t i = 0; i < buffers; ++i) {
    queued_bytes_ -= write_queue_.front().size();
    write_queue_.pop_front();
  }
  Flush();
}

void Session::OnWritesDrained() {
  switch (phase_) {
    case Phase::kHandling:
      if (response_ == Response::kAllQueued) {
        OnResponseComplete();
      } else {
        ClearDeadline();  // a stream waiting for the next Write has no deadline
      }
      break;
    case Phase::kErrorWrite:
      Linger();
      break;
    case Phase::kRequest:  // 100 Continue written
    case Phase::kIdle:
    case Phase::kLingering:
    case Phase::kClosed:
      break;
  }
}

void Session::OnResponseComplete() {
  if (exchange_ != nullptr) std::exchange(exchange_, nullptr)->MarkComplete();
  response_ = Response::kNone;
  if (close_after_response_) {
    Linger();
  } else {
    EnterIdle();
  }
}

void Session::AbortExchange() { Close(true); }

void Session::Close(bool notify) {
  if (phase_ == Phase::kClosed) return;
  auto self = shared_from_this();  // Remove() below may drop the server's reference
  phase_ = Phase::kClosed;
  ClearDeadline();
  ErrorCode ignored;
  socket_.shutdown(Tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);
  queued_bytes_ = 0;  // the queue itself stays until destruction: a cancelled write may hold it
  if (exchange_ != nullptr) std::exchange(exchange_, nullptr)->MarkAborted(notify);
  if (server_ != nullptr) std::exchange(server_, nullptr)->Remove(id_);
}

// ---- Session: deadlines ----

void Session::SetDeadline(Duration d) {
  const uint64_t generation = ++deadline_generation_;
  deadline_.expires_after(ToChrono(d));
  deadline_.async_wait([self = shared_from_this(), generation](const ErrorCode& ec) {
    if (!ec && generation == self->deadline_generation_) self->OnDeadline();
  });
}

void Session::ClearDeadline() {
  ++deadline_generation_;
  deadline_.cancel();
}

void Session::OnDeadline() {
  switch (phase_) {
    case Phase::kIdle:
      Close(false);
      break;
    case Phase::kRequest:
      ++server_->stats().timeouts;
      SendErrorAndClose(408, "the request head and body did not arrive within " +
                                 FormatMillis(limits_.request_timeout) +
                                 " (request_timeout); send the whole request at once");
      break;
    case Phase::kHandling:
      if (writing_) {
        ++server_->stats().timeouts;
        AbortExchange();
      }
      break;
    case Phase::kErrorWrite:
    case Phase::kLingering:
      Close(false);
      break;
    case Phase::kClosed:
      break;
  }
}

}  // namespace internal

// ---- public API ----

std::string_view HttpRequest::header(std::string_view name) const {
  for (const Header& h : headers) {
    if (EqualsIgnoreCase(h.name, name)) return h.value;
  }
  return {};
}

StatusOr<std::unique_ptr<HttpServer>> HttpServer::Create(boost::asio::io_context& io,
                                                         HttpServerOptions options,
                                                         Handler handler) {
  if (!handler) return InvalidArgument("HttpServer::Create: the handler is empty");
  RETURN_IF_ERROR(ValidateOptions(options));
  ASSIGN_OR_RETURN(const asio::ip::address address, ParseHost(options.host));
  const Tcp::endpoint endpoint(address, options.port);
  auto state = std::make_shared<internal::ServerState>(io, std::move(options), std::move(handler));
  RETURN_IF_ERROR(state->Listen(endpoint));
  state->Accept();
  return std::make_unique<HttpServer>(PrivateKey{}, std::move(state));
}

HttpServer::HttpServer(PrivateKey, std::shared_ptr<internal::ServerState> state)
    : state_(std::move(state)) {}

HttpServer::~HttpServer() {
  state_->StopAccepting();
  state_->CloseSessions(/*notify=*/false);
}

uint16_t HttpServer::port() const { return state_->port(); }
const std::string& HttpServer::host() const { return state_->options().host; }
void HttpServer::StopAccepting() { state_->StopAccepting(); }
void HttpServer::CloseAll() { state_->CloseSessions(/*notify=*/true); }
size_t HttpServer::open_connections() const { return state_->open_connections(); }
const HttpServerStats& HttpServer::stats() const { return state_->stats(); }

}  // namespace dynamo::http
