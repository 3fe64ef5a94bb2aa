#pragma once
// HTTP/1.1 client calls on Boost.Beast for the load generator: one request per TCP connection
// (connect, write, read the response as it arrives, close), so a streamed body reaches the
// caller chunk by chunk, when the bytes land.

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"

namespace dynamo::loadgen {

using TcpEndpoints = std::vector<boost::asio::ip::tcp::endpoint>;

// A parsed "http://HOST[:PORT][/PATH]" (IPv6 hosts in brackets; port 80 by default).
struct HttpUrl {
  std::string host;  // without brackets
  uint16_t port = 80;
  std::string base_path;  // "" or "/prefix", no trailing '/': prepended to request targets
  std::string origin;     // "http://" + HOST[:PORT] as written, for messages

  std::string HostHeader() const;  // "host:port" ("[::1]:port" for IPv6)
};

// Errors (InvalidArgument) name the URL and say what form is accepted.
StatusOr<HttpUrl> ParseHttpUrl(std::string_view url);
// Resolves the host, blocking. Errors name the host and the URL.
StatusOr<TcpEndpoints> ResolveHttpUrl(const HttpUrl& url);
// "cannot reach http://127.0.0.1:1: Connection refused; is dynamo-run running?"
std::string CannotReachMessage(const HttpUrl& url, std::string_view reason);

enum class HttpMethod { kGet, kPost, kPatch };

struct HttpRequest {
  HttpMethod method = HttpMethod::kGet;
  std::string target;  // path and query: "/v1/models"
  std::string host;    // Host header
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent with Content-Length (POST, PATCH)
};

// How a call ended. kNone: the whole response was read, or on_body asked to stop.
enum class HttpFailure { kNone, kConnect, kTimeout, kIo, kAborted };

struct HttpOutcome {
  HttpFailure failure = HttpFailure::kNone;
  std::string message;  // the reason of a failure, e.g. "Connection refused"
};

// Run on the io_context's thread, in this order; every one may be empty but on_done.
struct HttpCallbacks {
  std::function<void()> on_write_start;     // connected; the request's bytes start now
  std::function<void(int status)> on_head;  // status line and headers are in
  // Body bytes as they arrive (chunked framing removed). Returning false stops reading: the
  // call closes and completes with kNone.
  std::function<bool(std::string_view bytes)> on_body;
  std::function<void(const HttpOutcome&)> on_done;  // exactly once, last
};

// One exchange on its own connection, with a deadline for the whole of it. Created by Start,
// owned by the pending Asio operations (and by whoever keeps the returned pointer); the socket
// closes when the call completes. Not thread-safe: use it on its io_context's thread only.
class HttpCall : public std::enable_shared_from_this<HttpCall> {
  struct Passkey {};

 public:
  // Starts connecting to `endpoints` (tried in order); callbacks never run inside Start.
  // `timeout` bounds connect + write + the whole response.
  // shared_ptr: Asio session lifetime (the pending handlers keep the call alive).
  static std::shared_ptr<HttpCall> Start(boost::asio::io_context& io, TcpEndpoints endpoints,
                                         HttpRequest request, HttpCallbacks callbacks,
                                         Duration timeout);

  // Closes the connection; on_done(kAborted) follows from the io_context unless the call has
  // completed already.
  void Abort();

  HttpCall(Passkey, boost::asio::io_context& io, TcpEndpoints endpoints, HttpRequest request,
           HttpCallbacks callbacks);

 private:
  void OnConnect(const boost::system::error_code& ec);
  void OnWrite(const boost::system::error_code& ec);
  void OnHeader(const boost::system::error_code& ec);
  void ReadSome();
  void OnRead(boost::system::error_code ec);
  void Fail(HttpFailure stage_failure, const boost::system::error_code& ec);
  void Finish(HttpFailure failure, std::string message);

  boost::beast::tcp_stream stream_;
  TcpEndpoints endpoints_;
  boost::beast::flat_buffer buffer_;
  boost::beast::http::request<boost::beast::http::string_body> request_;
  boost::beast::http::response_parser<boost::beast::http::buffer_body> parser_;
  HttpCallbacks callbacks_;
  std::array<char, 16384> chunk_{};  // body bytes of one read
  bool done_ = false;
  bool aborted_ = false;
};

struct HttpResponse {
  int status = 0;
  std::string body;
};

// A whole exchange on a private io_context, blocking; for small responses (bodies over 16 MiB
// fail). Errors (IoError): "cannot reach ..." (CannotReachMessage) when connecting fails,
// else "GET http://host:port/target: <reason>".
StatusOr<HttpResponse> Fetch(const HttpUrl& url, const TcpEndpoints& endpoints,
                             const HttpRequest& request, Duration timeout);

}  // namespace dynamo::loadgen
