#pragma once
// HttpServer: a small HTTP/1.1 server on Boost.Beast for dynamo-run's OpenAI-compatible frontend
// (POST /v1/completions, SSE streaming, /metrics, /health). Generic: routing and JSON belong to
// the caller's Handler; the server owns sockets, parsing, limits, timeouts, keep-alive and the
// framing of complete (Content-Length) and streamed (chunked) responses.
//
// Single-threaded: accepts, reads, Handler calls, writes and OnClose callbacks all run on the one
// io_context the caller runs. HttpServer and HttpExchange methods may be called only on that
// thread (HttpServer::Create also before the io_context runs).
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/status.h"
#include "core/time.h"

// Forward declaration keeps Beast and Asio out of this header (io_context is a class in Boost
// 1.74).
namespace boost::asio {
class io_context;
}  // namespace boost::asio

namespace dynamo::http {

namespace internal {
class ServerState;  // the listener and its connections; defined in http_server.cc
}  // namespace internal

struct Header {
  std::string name;  // lower-case
  std::string value;
};

// One complete request. The Handler receives it by reference: copy what must outlive the call.
struct HttpRequest {
  std::string method;           // "GET", "POST", ... as sent
  std::string target;           // as sent: "/v1/models?x=1"
  std::string path;             // target without "?query"
  std::string content_type;     // "" when absent; lower-case, parameters kept
  std::vector<Header> headers;  // every header in arrival order, names lower-case
  std::string body;
  std::string remote;  // peer address: "127.0.0.1:53422", "[::1]:53422"

  // Value of the first header `name` (compared case-insensitively), "" when absent. The view
  // lives as long as this request.
  std::string_view header(std::string_view name) const;
};

// The response channel of one request. Either Respond() once, or StartStream() then any number
// of Write() then Finish(). Calls after the client went away (closed()) are ignored (no-ops);
// any other misuse (Respond twice, Write before StartStream, a call after the response was
// complete, a status outside 200..599) is a programmer error and aborts (CHECK).
//
// The Handler owns the exchange through a shared_ptr (reason: an asynchronous response outlives
// the Handler call). Dropping it without responding answers 500; dropping it mid-stream (after
// StartStream, before Finish) closes the connection so that the client sees a truncated
// response. An exchange does not keep the connection open; drop it before destroying the
// io_context.
class HttpExchange {
 public:
  virtual ~HttpExchange() = default;
  // Complete response with Content-Length. extra_headers are added as given, except
  // content-length, transfer-encoding and connection (the server frames the response) and any
  // header whose name or value holds CR, LF or NUL. A HEAD request gets the head only.
  virtual void Respond(int status, std::string_view content_type, std::string body,
                       std::vector<Header> extra_headers = {}) = 0;
  // Starts a chunked response (Transfer-Encoding: chunked) with these headers; for SSE the
  // caller passes "text/event-stream" and the server adds Cache-Control: no-cache. An HTTP/1.0
  // client gets the raw bytes and the connection closes after Finish().
  virtual void StartStream(int status, std::string_view content_type) = 0;
  // Queues `data` as one chunk; written in order, as soon as possible (TCP_NODELAY). Empty data
  // is ignored (a zero-length chunk would end the stream).
  virtual void Write(std::string data) = 0;
  // Queues the last (zero-length) chunk. After it is written the connection serves the next
  // request (keep-alive) or closes (Connection: close / HTTP/1.0).
  virtual void Finish() = 0;
  // True once the client disconnected or the connection failed (or was closed by the server:
  // CloseAll, ~HttpServer, a stalled write) before the response was fully written.
  virtual bool closed() const = 0;
  // `cb` runs once, on the io thread, when the client disconnects (EOF/reset/write error/timeout,
  // or CloseAll) before the response was fully written. Not called after a completed response,
  // nor for closes done by ~HttpServer. Setting it after the close already happened calls it
  // immediately (posted, not inline). A second call replaces a callback not yet run.
  virtual void OnClose(std::function<void()> cb) = 0;
  // Bytes of this response queued and not yet written (backpressure hint).
  virtual size_t queued_bytes() const = 0;
};

// Called once per complete, valid request. The handler keeps the shared_ptr as long as it needs
// the exchange (asynchronous responses); dropping it without responding answers 500. The handler
// must not destroy the HttpServer during the call (post that instead).
using Handler = std::function<void(const HttpRequest&, std::shared_ptr<HttpExchange>)>;

struct HttpServerOptions {
  std::string host = "127.0.0.1";      // an IP address literal or "localhost"; loopback default
  uint16_t port = 0;                   // 0: an ephemeral port (see HttpServer::port())
  size_t max_body_bytes = 1 << 20;     // larger -> 413, connection closed
  size_t max_header_bytes = 16 << 10;  // request line + headers; larger -> 431, connection closed
  // Head + body must arrive within this from the first byte (slow loris) -> 408, close.
  Duration request_timeout = Duration::Seconds(10);
  // A keep-alive connection without a request is closed after this. It also bounds a response
  // write that makes no progress (the client stopped reading): the connection is then closed.
  Duration idle_timeout = Duration::Seconds(60);
  size_t max_connections = 4096;  // more: accept then answer 503 and close
  // Body for the errors the server itself answers (400 malformed HTTP, 408, 413, 431, 503, 500),
  // always sent as application/json. Default: OpenAI-shaped JSON {"error":{"message":...,
  // "type":"invalid_request_error"|"server_error","param":null,"code":<status>}}.
  std::function<std::string(int status, std::string_view message)> error_body;
};

struct HttpServerStats {
  uint64_t connections_accepted = 0;  // every accepted socket, rejected ones included
  uint64_t connections_open = 0;      // == HttpServer::open_connections()
  uint64_t requests = 0;              // complete, valid requests handed to the Handler
  uint64_t timeouts = 0;              // 408s and stalled response writes
  uint64_t too_large = 0;             // 413s and 431s
  uint64_t malformed = 0;             // 400s
  uint64_t rejected_connections = 0;  // 503s at max_connections
  uint64_t client_disconnects = 0;    // clients gone mid-request or before a response completed
};

// The listening socket and its connections. Owns every connection: destroying the server closes
// them. Not thread-safe: use from the io_context's thread only (Create may be called before
// run()). The io_context must outlive the server.
class HttpServer {
  struct PrivateKey {};  // private: only Create() constructs (through std::make_unique)

 public:
  // Binds and listens (SO_REUSEADDR) and starts accepting. IoError names host:port and the OS
  // message, e.g. "cannot listen on 127.0.0.1:8000: Address already in use; pick another --port".
  // InvalidArgument for a host that is not an IP address literal or "localhost", an empty
  // handler, or zero limits/timeouts.
  static StatusOr<std::unique_ptr<HttpServer>> Create(boost::asio::io_context& io,
                                                      HttpServerOptions options, Handler handler);
  // Closes the acceptor and every connection (no callbacks after it returns: pending exchanges
  // see closed(), their OnClose callbacks never run).
  ~HttpServer();
  HttpServer(PrivateKey, std::shared_ptr<internal::ServerState> state);  // use Create()
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  uint16_t port() const;            // the bound port
  const std::string& host() const;  // as given in the options
  // Stops accepting new connections; open connections keep serving (drain). Idempotent.
  void StopAccepting();
  // Closes every connection now (pending exchanges see closed() and their OnClose fires).
  void CloseAll();
  size_t open_connections() const;
  const HttpServerStats& stats() const;

 private:
  // shared: a completion handler still queued after ~HttpServer (a pending accept, a posted
  // OnClose callback) holds a weak_ptr to the state and does nothing once it expired.
  std::shared_ptr<internal::ServerState> state_;
};

}  // namespace dynamo::http
