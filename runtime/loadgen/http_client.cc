#include "runtime/loadgen/http_client.h"

#include <boost/asio/error.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/error.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/field.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/verb.hpp>
#include <boost/beast/http/write.hpp>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <limits>

namespace dynamo::loadgen {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = boost::beast::http;
using tcp = boost::asio::ip::tcp;

constexpr size_t kMaxFetchBody = 16 << 20;

Status BadUrl(std::string_view url, const std::string& why) {
  return InvalidArgument("url '" + std::string(url) + "': " + why);
}

std::string MethodName(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet:
      return "GET";
    case HttpMethod::kPost:
      return "POST";
    case HttpMethod::kPatch:
      return "PATCH";
  }
  return "GET";
}

http::verb MethodVerb(HttpMethod m) {
  switch (m) {
    case HttpMethod::kGet:
      return http::verb::get;
    case HttpMethod::kPost:
      return http::verb::post;
    case HttpMethod::kPatch:
      return http::verb::patch;
  }
  return http::verb::get;
}

std::string SecondsText(Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g s", d.seconds());
  return buf;
}

}  // namespace

std::string HttpUrl::HostHeader() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

StatusOr<HttpUrl> ParseHttpUrl(std::string_view url) {
  constexpr std::string_view kScheme = "http://";
  const std::string form = "expected http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8000";
  if (url.starts_with("https://")) {
    return BadUrl(url, "https is not supported (dynamo-run serves plain HTTP); " + form);
  }
  if (!url.starts_with(kScheme)) return BadUrl(url, form);
  const std::string_view rest = url.substr(kScheme.size());
  const size_t slash = rest.find('/');
  const std::string_view authority = rest.substr(0, slash);
  std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
  if (path.find_first_of("?#") != std::string_view::npos) {
    return BadUrl(url, "query strings and fragments are not supported; " + form);
  }
  if (authority.find('@') != std::string_view::npos) {
    return BadUrl(url, "user info is not supported; " + form);
  }
  HttpUrl out;
  std::string_view host = authority, port;
  if (authority.starts_with("[")) {  // [v6]:port
    const size_t close = authority.find(']');
    if (close == std::string_view::npos) return BadUrl(url, "unterminated '[' in the host");
    host = authority.substr(1, close - 1);
    const std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return BadUrl(url, form);
      port = after.substr(1);
      if (port.empty()) return BadUrl(url, "empty port; " + form);
    }
  } else if (const size_t colon = authority.rfind(':'); colon != std::string_view::npos) {
    host = authority.substr(0, colon);
    port = authority.substr(colon + 1);
    if (port.empty()) return BadUrl(url, "empty port; " + form);
  }
  if (host.empty()) return BadUrl(url, "no host; " + form);
  if (!port.empty()) {
    unsigned value = 0;
    const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || end != port.data() + port.size() || value < 1 || value > 65535) {
      return BadUrl(url, "port '" + std::string(port) + "' is not a number in 1..65535");
    }
    out.port = static_cast<uint16_t>(value);
  }
  while (!path.empty() && path.back() == '/') path.remove_suffix(1);
  out.host = std::string(host);
  out.base_path = std::string(path);
  out.origin = std::string(kScheme) + std::string(authority);
  return out;
}

StatusOr<TcpEndpoints> ResolveHttpUrl(const HttpUrl& url) {
  asio::io_context io;
  tcp::resolver resolver(io);
  boost::system::error_code ec;
  const auto results = resolver.resolve(url.host, std::to_string(url.port), ec);
  if (ec || results.empty()) {
    return IoError("cannot resolve host '" + url.host + "' of " + url.origin + ": " +
                   (ec ? ec.message() : std::string("no addresses")));
  }
  TcpEndpoints endpoints;
  for (const auto& entry : results) endpoints.push_back(entry.endpoint());
  return endpoints;
}

std::string CannotReachMessage(const HttpUrl& url, std::string_view reason) {
  return "cannot reach " + url.origin + ": " + std::string(reason) + "; is dynamo-run running?";
}

HttpCall::HttpCall(Passkey, asio::io_context& io, TcpEndpoints endpoints, HttpRequest request,
                   HttpCallbacks callbacks)
    : stream_(io), endpoints_(std::move(endpoints)), callbacks_(std::move(callbacks)) {
  request_.method(MethodVerb(request.method));
  request_.target(request.target);
  request_.version(11);
  request_.set(http::field::host, request.host);
  request_.set(http::field::user_agent, "dynamo-load");
  for (const auto& [name, value] : request.headers) request_.set(name, value);
  request_.keep_alive(false);  // one request per connection
  if (request.method != HttpMethod::kGet) request_.body() = std::move(request.body);
  request_.prepare_payload();
  // Streams may run long: no cap on the body beyond the caller's own. (Not boost::none: Beast
  // 1.74 compares Content-Length against the optional and then rejects every sized body.)
  parser_.body_limit(std::numeric_limits<std::uint64_t>::max());
}

std::shared_ptr<HttpCall> HttpCall::Start(asio::io_context& io, TcpEndpoints endpoints,
                                          HttpRequest request, HttpCallbacks callbacks,
                                          Duration timeout) {
  auto call = std::make_shared<HttpCall>(Passkey{}, io, std::move(endpoints), std::move(request),
                                         std::move(callbacks));
  // A deadline for everything that follows (tcp_stream's timer spans operations).
  call->stream_.expires_after(std::chrono::nanoseconds(timeout.nanos()));
  call->stream_.async_connect(
      call->endpoints_, [self = call](const boost::system::error_code& ec, const tcp::endpoint&) {
        self->OnConnect(ec);
      });
  return call;
}

void HttpCall::Abort() {
  if (done_ || aborted_) return;
  aborted_ = true;
  stream_.close();  // pending operations complete with operation_aborted
}

void HttpCall::OnConnect(const boost::system::error_code& ec) {
  if (ec) return Fail(HttpFailure::kConnect, ec);
  boost::system::error_code ignored;
  stream_.socket().set_option(tcp::no_delay(true), ignored);
  if (callbacks_.on_write_start) callbacks_.on_write_start();
  if (aborted_) return Finish(HttpFailure::kAborted, "aborted");
  http::async_write(stream_, request_,
                    [self = shared_from_this()](const boost::system::error_code& e, size_t) {
                      self->OnWrite(e);
                    });
}

void HttpCall::OnWrite(const boost::system::error_code& ec) {
  if (ec) return Fail(HttpFailure::kIo, ec);
  http::async_read_header(stream_, buffer_, parser_,
                          [self = shared_from_this()](const boost::system::error_code& e, size_t) {
                            self->OnHeader(e);
                          });
}

void HttpCall::OnHeader(const boost::system::error_code& ec) {
  if (ec) return Fail(HttpFailure::kIo, ec);
  if (callbacks_.on_head) callbacks_.on_head(static_cast<int>(parser_.get().result_int()));
  if (aborted_) return Finish(HttpFailure::kAborted, "aborted");
  ReadSome();
}

void HttpCall::ReadSome() {
  if (parser_.is_done()) return Finish(HttpFailure::kNone, "");
  parser_.get().body().data = chunk_.data();
  parser_.get().body().size = chunk_.size();
  http::async_read_some(
      stream_, buffer_, parser_,
      [self = shared_from_this()](boost::system::error_code e, size_t) { self->OnRead(e); });
}

void HttpCall::OnRead(boost::system::error_code ec) {
  if (ec == http::error::need_buffer) ec = {};  // our chunk is full: not an error
  const size_t got = chunk_.size() - parser_.get().body().size;
  if (got > 0 && !aborted_ && callbacks_.on_body &&
      !callbacks_.on_body(std::string_view(chunk_.data(), got))) {
    return Finish(HttpFailure::kNone, "");
  }
  if (ec) return Fail(HttpFailure::kIo, ec);
  if (aborted_) return Finish(HttpFailure::kAborted, "aborted");
  ReadSome();
}

void HttpCall::Fail(HttpFailure stage_failure, const boost::system::error_code& ec) {
  if (aborted_) return Finish(HttpFailure::kAborted, "aborted");
  if (ec == beast::error::timeout) return Finish(HttpFailure::kTimeout, "timed out");
  Finish(stage_failure, ec.message());
}

void HttpCall::Finish(HttpFailure failure, std::string message) {
  if (done_) return;
  done_ = true;
  boost::system::error_code ignored;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ignored);
  stream_.close();
  // Drop the callbacks before running the last one: they may own the caller's state.
  auto on_done = std::move(callbacks_.on_done);
  callbacks_ = {};
  if (on_done) on_done(HttpOutcome{failure, std::move(message)});
}

StatusOr<HttpResponse> Fetch(const HttpUrl& url, const TcpEndpoints& endpoints,
                             const HttpRequest& request, Duration timeout) {
  asio::io_context io;
  HttpResponse response;
  HttpOutcome outcome;
  bool too_big = false;
  HttpCallbacks callbacks;
  callbacks.on_head = [&](int status) { response.status = status; };
  callbacks.on_body = [&](std::string_view bytes) {
    if (response.body.size() + bytes.size() > kMaxFetchBody) {
      too_big = true;
      return false;
    }
    response.body.append(bytes);
    return true;
  };
  callbacks.on_done = [&](const HttpOutcome& o) { outcome = o; };
  HttpCall::Start(io, endpoints, request, std::move(callbacks), timeout);
  io.run();
  const std::string what = MethodName(request.method) + " " + url.origin + request.target;
  switch (outcome.failure) {
    case HttpFailure::kNone:
      break;
    case HttpFailure::kConnect:
      return IoError(CannotReachMessage(url, outcome.message));
    case HttpFailure::kTimeout:
      return IoError(what + ": no complete response within " + SecondsText(timeout));
    case HttpFailure::kIo:
    case HttpFailure::kAborted:
      return IoError(what + ": " + outcome.message);
  }
  if (too_big) return IoError(what + ": response body over 16 MiB");
  return response;
}

}  // namespace dynamo::loadgen
