#include "runtime/http/http_server.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

namespace dynamo::http {
namespace {

constexpr int kSocketTimeoutSeconds = 3;  // a client read that waits longer fails the test

struct Response {
  int status = 0;
  std::vector<Header> headers;  // names lower-case
  std::string body;
  bool chunked = false;
  std::vector<std::string> chunks;  // chunked responses: every data chunk in order

  std::string header(std::string_view name) const {
    for (const Header& h : headers) {
      if (h.name == name) return h.value;
    }
    return "";
  }
};

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

std::optional<size_t> ParseNumber(std::string_view s, int base) {
  size_t value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value, base);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty()) return std::nullopt;
  return value;
}

// A blocking loopback client that writes raw HTTP bytes and parses responses itself
// (independently of Beast), with socket timeouts so that a broken server fails a test instead of
// hanging it.
class RawClient {
 public:
  explicit RawClient(uint16_t port) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    timeval timeout{};
    timeout.tv_sec = kSocketTimeoutSeconds;
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &timeout, sizeof timeout);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof timeout);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = ::connect(fd_, reinterpret_cast<const sockaddr*>(&addr), sizeof addr) == 0;
  }
  ~RawClient() { Close(); }
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return connected_; }

  bool Send(std::string_view bytes) {
    while (!bytes.empty()) {
      const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
      if (n <= 0) return false;
      bytes.remove_prefix(static_cast<size_t>(n));
    }
    return true;
  }

  // Reads until `needle` is buffered; false on EOF, error or timeout.
  bool ReadUntil(std::string_view needle) {
    while (buffer_.find(needle) == std::string::npos) {
      if (!Fill()) return false;
    }
    return true;
  }

  // Reads until the server closes the connection: true on EOF or reset, false on a timeout.
  bool ReadUntilEof() {
    while (Fill()) {
    }
    return eof_;
  }

  // Reads one response; nullopt when the connection ended or timed out before it was complete
  // or it does not parse. head_request: the response has no body whatever its headers say.
  std::optional<Response> ReadResponse(bool head_request = false) {
    size_t end = 0;
    while ((end = buffer_.find("\r\n\r\n")) == std::string::npos) {
      if (!Fill()) return std::nullopt;
    }
    const std::string head = buffer_.substr(0, end);
    buffer_.erase(0, end + 4);
    Response r;
    size_t line_end = head.find("\r\n");
    const std::string status_line = head.substr(0, line_end);
    if (status_line.rfind("HTTP/1.1 ", 0) != 0 || status_line.size() < 12) return std::nullopt;
    const auto status = ParseNumber(std::string_view(status_line).substr(9, 3), 10);
    if (!status) return std::nullopt;
    r.status = static_cast<int>(*status);
    while (line_end != std::string::npos) {
      const size_t start = line_end + 2;
      line_end = head.find("\r\n", start);
      const std::string line = head.substr(start, line_end - start);
      const size_t colon = line.find(':');
      if (colon == std::string::npos) return std::nullopt;
      std::string value = line.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.erase(0, 1);
      r.headers.push_back(Header{Lower(line.substr(0, colon)), value});
    }
    if (head_request || r.status < 200 || r.status == 204 || r.status == 304) return r;
    if (Lower(r.header("transfer-encoding")) == "chunked") {
      r.chunked = true;
      return ReadChunks(std::move(r));
    }
    if (!r.header("content-length").empty()) {
      const auto length = ParseNumber(r.header("content-length"), 10);
      if (!length) return std::nullopt;
      while (buffer_.size() < *length) {
        if (!Fill()) return std::nullopt;
      }
      r.body = buffer_.substr(0, *length);
      buffer_.erase(0, *length);
      return r;
    }
    if (!ReadUntilEof()) return std::nullopt;  // the body ends with the connection
    r.body = std::move(buffer_);
    buffer_.clear();
    return r;
  }

  void Close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  std::optional<Response> ReadChunks(Response r) {
    for (;;) {
      size_t eol = 0;
      while ((eol = buffer_.find("\r\n")) == std::string::npos) {
        if (!Fill()) return std::nullopt;
      }
      const auto size = ParseNumber(std::string_view(buffer_).substr(0, eol), 16);
      if (!size) return std::nullopt;
      const size_t needed = eol + 2 + *size + 2;  // size line, data, CRLF
      while (buffer_.size() < needed) {
        if (!Fill()) return std::nullopt;
      }
      if (buffer_.compare(needed - 2, 2, "\r\n") != 0) return std::nullopt;
      if (*size == 0) {  // last chunk, no trailers
        buffer_.erase(0, needed);
        return r;
      }
      r.chunks.push_back(buffer_.substr(eol + 2, *size));
      r.body += r.chunks.back();
      buffer_.erase(0, needed);
    }
  }

  bool Fill() {
    char chunk[16384];
    const ssize_t n = ::recv(fd_, chunk, sizeof chunk, 0);
    if (n > 0) {
      buffer_.append(chunk, static_cast<size_t>(n));
      return true;
    }
    if (n == 0 || errno == ECONNRESET) eof_ = true;
    return false;
  }

  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string buffer_;  // received, not yet consumed
};

std::string Get(std::string_view target, std::string_view extra_headers = "") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: localhost\r\n" +
         std::string(extra_headers) + "\r\n";
}

std::string Post(std::string_view target, std::string_view body,
                 std::string_view content_type = "application/json") {
  return "POST " + std::string(target) +
         " HTTP/1.1\r\nHost: localhost\r\nContent-Type: " + std::string(content_type) +
         "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + std::string(body);
}

// A one-shot event between the io thread and the test thread.
class Signal {
 public:
  void Notify() {
    std::lock_guard<std::mutex> lock(mu_);
    notified_ = true;
    cv_.notify_all();
  }
  bool WaitFor(std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return notified_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool notified_ = false;
};

constexpr std::chrono::milliseconds kWait{3000};

class HttpServerTest : public ::testing::Test {
 protected:
  void TearDown() override { StopServer(); }

  // Creates the server before the io thread runs (Create allows that), then starts the thread.
  void StartServer(HttpServerOptions options, Handler handler) {
    auto server = HttpServer::Create(io_, std::move(options), std::move(handler));
    ASSERT_TRUE(server.ok()) << server.status().ToString();
    server_ = std::move(server).value();
    port_ = server_->port();
    thread_ = std::thread([this] { io_.run(); });
  }

  void StopServer() {
    if (!thread_.joinable()) return;
    OnIo([this] {
      server_.reset();
      held_.reset();
    });
    work_.reset();
    io_.stop();
    thread_.join();
  }

  // Runs fn on the io thread and returns its result.
  template <typename F>
  auto OnIo(F fn) -> decltype(fn()) {
    using Result = decltype(fn());
    // shared: the io thread may still hold the task if the wait below gives up.
    auto task = std::make_shared<std::packaged_task<Result()>>(std::move(fn));
    auto future = task->get_future();
    boost::asio::post(io_, [task] { (*task)(); });
    if (future.wait_for(std::chrono::seconds(10)) != std::future_status::ready) {
      std::fprintf(stderr, "the io thread is stuck\n");
      std::abort();
    }
    return future.get();
  }

  HttpServerStats Stats() {
    return OnIo([this] { return server_->stats(); });
  }

  // Polls `condition` on the io thread until it holds; false after kWait.
  bool Eventually(const std::function<bool()>& condition) {
    const auto deadline = std::chrono::steady_clock::now() + kWait;
    while (std::chrono::steady_clock::now() < deadline) {
      if (OnIo(condition)) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    return false;
  }

  bool WaitForOpenConnections(size_t want) {
    return Eventually([this, want] { return server_->open_connections() == want; });
  }

  // The handler's state: written on the io thread, read by the test after a Signal or OnIo.
  std::mutex mu_;
  std::vector<HttpRequest> requests_;
  std::shared_ptr<HttpExchange> held_;  // an exchange the handler keeps (used on the io thread)
  Signal handled_;
  Signal closed_;

  boost::asio::io_context io_;
  boost::asio::executor_work_guard<boost::asio::io_context::executor_type> work_ =
      boost::asio::make_work_guard(io_);
  std::unique_ptr<HttpServer> server_;  // used on the io thread once it runs
  uint16_t port_ = 0;
  std::thread thread_;
};

Handler EchoHandler() {
  return [](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    exchange->Respond(200, "text/plain",
                      request.method + " " + request.target + " " + request.body);
  };
}

TEST_F(HttpServerTest, GetWithContentLength) {
  StartServer({}, [this](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
    }
    exchange->Respond(200, "text/plain", "hello " + request.path, {{"x-trace", "abc"}});
  });
  RawClient client(port_);
  ASSERT_TRUE(client.connected());
  ASSERT_TRUE(client.Send(Get("/v1/models?x=1", "X-Custom: Some Value\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "hello /v1/models");
  EXPECT_EQ(response->header("content-length"), "16");
  EXPECT_EQ(response->header("content-type"), "text/plain");
  EXPECT_EQ(response->header("server"), "dynamo-run");
  EXPECT_EQ(response->header("x-trace"), "abc");
  EXPECT_FALSE(response->chunked);

  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(requests_.size(), 1u);
  const HttpRequest& request = requests_[0];
  EXPECT_EQ(request.method, "GET");
  EXPECT_EQ(request.target, "/v1/models?x=1");
  EXPECT_EQ(request.path, "/v1/models");
  EXPECT_EQ(request.content_type, "");
  EXPECT_EQ(request.header("x-custom"), "Some Value");
  EXPECT_EQ(request.header("host"), "localhost");
  EXPECT_EQ(request.header("absent"), "");
  ASSERT_EQ(request.headers.size(), 2u);
  EXPECT_EQ(request.headers[1].name, "x-custom");
  EXPECT_EQ(request.remote.rfind("127.0.0.1:", 0), 0u) << request.remote;
}

TEST_F(HttpServerTest, PostBodyIsEchoed) {
  StartServer({}, [this](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      requests_.push_back(request);
    }
    exchange->Respond(200, "application/json", request.body);
  });
  const std::string body = std::string("{\"prompt\":\"hi\",\"n\":1}") + '\0' + "\xff";
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Post("/v1/completions", body, "Application/JSON; charset=UTF-8")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, body);
  EXPECT_EQ(response->header("content-type"), "application/json");
  std::lock_guard<std::mutex> lock(mu_);
  ASSERT_EQ(requests_.size(), 1u);
  EXPECT_EQ(requests_[0].method, "POST");
  EXPECT_EQ(requests_[0].content_type, "application/json; charset=utf-8");
  EXPECT_EQ(requests_[0].body, body);
}

TEST_F(HttpServerTest, KeepAliveServesTwoRequestsOnOneConnection) {
  StartServer({}, EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/first")));
  auto first = client.ReadResponse();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->body, "GET /first ");
  EXPECT_EQ(first->header("connection"), "");
  ASSERT_TRUE(client.Send(Post("/second", "abc")));
  auto second = client.ReadResponse();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->body, "POST /second abc");
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.connections_accepted, 1u);
  EXPECT_EQ(stats.connections_open, 1u);
  EXPECT_EQ(stats.requests, 2u);
}

TEST_F(HttpServerTest, PipelinedRequestsAreAnsweredInOrder) {
  StartServer({}, EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/a") + Post("/b", "body") + Get("/c")));
  for (const char* want : {"GET /a ", "POST /b body", "GET /c "}) {
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << want;
    EXPECT_EQ(response->body, want);
  }
}

TEST_F(HttpServerTest, StreamsChunksInOrderThenServesTheNextRequest) {
  std::atomic<size_t> queued_after_write{0};
  StartServer({}, [&](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    if (request.path != "/stream") {
      exchange->Respond(200, "text/plain", "plain");
      return;
    }
    exchange->StartStream(200, "text/event-stream");
    exchange->Write("data: one\n\n");
    exchange->Write("");  // ignored: an empty chunk would end the stream
    exchange->Write("data: two\n\n");
    exchange->Write("data: three\n\n");
    queued_after_write = exchange->queued_bytes();
    exchange->Finish();
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Post("/stream", "{}")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(response->chunked);
  EXPECT_EQ(response->header("content-type"), "text/event-stream");
  EXPECT_EQ(response->header("cache-control"), "no-cache");
  EXPECT_EQ(response->header("content-length"), "");
  EXPECT_EQ(response->chunks,
            (std::vector<std::string>{"data: one\n\n", "data: two\n\n", "data: three\n\n"}));
  // Nothing is written inline: the head and the three framed chunks were still queued.
  EXPECT_GT(queued_after_write.load(), 11u + 11u + 13u);

  ASSERT_TRUE(client.Send(Get("/after")));
  auto after = client.ReadResponse();
  ASSERT_TRUE(after);
  EXPECT_EQ(after->body, "plain");
}

TEST_F(HttpServerTest, AsyncResponseFromATimer) {
  StartServer({}, [this](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    // shared: the timer must live until its handler ran.
    auto timer = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(20));
    timer->async_wait([timer, exchange](const boost::system::error_code& ec) {
      if (!ec) exchange->Respond(200, "text/plain", "late");
    });
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/slow")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_EQ(response->body, "late");
}

TEST_F(HttpServerTest, StreamWrittenFromTimersArrivesChunkByChunk) {
  StartServer({}, [this](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->StartStream(200, "text/event-stream");
    // shared: the timer must live until the last of its handlers ran.
    auto timer = std::make_shared<boost::asio::steady_timer>(io_);
    auto tick = std::make_shared<std::function<void(int)>>();
    *tick = [timer, exchange, weak_tick = std::weak_ptr<std::function<void(int)>>(tick)](int i) {
      if (i == 3) {
        exchange->Finish();
        return;
      }
      exchange->Write("data: " + std::to_string(i) + "\n\n");
      timer->expires_after(std::chrono::milliseconds(5));
      timer->async_wait([tick = weak_tick.lock(), i](const boost::system::error_code& ec) {
        if (!ec) (*tick)(i + 1);
      });
    };
    (*tick)(0);
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/stream")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->chunks,
            (std::vector<std::string>{"data: 0\n\n", "data: 1\n\n", "data: 2\n\n"}));
}

TEST_F(HttpServerTest, BodyOverTheLimitIs413AndCloses) {
  HttpServerOptions options;
  options.max_body_bytes = 1024;
  StartServer(std::move(options), EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Post("/v1/completions", std::string(4096, 'x'))));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 413);
  EXPECT_EQ(response->header("content-type"), "application/json");
  EXPECT_EQ(response->header("connection"), "close");
  EXPECT_NE(response->body.find("\"code\":413"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("\"type\":\"invalid_request_error\""), std::string::npos);
  EXPECT_NE(response->body.find("1024 bytes"), std::string::npos) << response->body;
  EXPECT_TRUE(client.ReadUntilEof());

  // A chunked body over the limit too.
  RawClient chunked(port_);
  std::string request =
      "POST /v1/completions HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int i = 0; i < 3; ++i) request += "200\r\n" + std::string(512, 'y') + "\r\n";
  ASSERT_TRUE(chunked.Send(request + "0\r\n\r\n"));
  auto second = chunked.ReadResponse();
  ASSERT_TRUE(second);
  EXPECT_EQ(second->status, 413);
  EXPECT_TRUE(chunked.ReadUntilEof());
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.too_large, 2u);
  EXPECT_EQ(stats.requests, 0u);
}

TEST_F(HttpServerTest, HugeHeaderIs431AndCloses) {
  HttpServerOptions options;
  options.max_header_bytes = 2048;
  StartServer(std::move(options), EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/", "X-Big: " + std::string(8192, 'h') + "\r\n")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 431);
  EXPECT_NE(response->body.find("\"code\":431"), std::string::npos) << response->body;
  EXPECT_TRUE(client.ReadUntilEof());
  EXPECT_EQ(Stats().too_large, 1u);
}

TEST_F(HttpServerTest, GarbageIs400NamingTheParserError) {
  StartServer({}, EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send("\x16\x03\x01\x02 this is not http\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_NE(response->body.find("malformed HTTP request: bad method"), std::string::npos)
      << response->body;
  EXPECT_NE(response->body.find("\"code\":400"), std::string::npos);
  EXPECT_TRUE(client.ReadUntilEof());
  client.Close();  // the server drains until the client's close (or kLingerTimeout)
  EXPECT_TRUE(WaitForOpenConnections(0));
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.malformed, 1u);
  EXPECT_EQ(stats.requests, 0u);
}

TEST_F(HttpServerTest, TruncatedRequestThenCloseIsHarmless) {
  StartServer({}, EchoHandler());
  {
    RawClient client(port_);
    ASSERT_TRUE(client.Send("POST /v1/completions HTTP/1.1\r\nContent-Length: 100\r\n\r\nabc"));
  }
  EXPECT_TRUE(Eventually([this] { return server_->stats().client_disconnects == 1; }));
  EXPECT_TRUE(WaitForOpenConnections(0));
  RawClient client(port_);  // still serving
  ASSERT_TRUE(client.Send(Get("/ok")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
}

TEST_F(HttpServerTest, CustomErrorBody) {
  HttpServerOptions options;
  options.error_body = [](int status, std::string_view message) {
    return "custom " + std::to_string(status) + ": " + std::string(message);
  };
  StartServer(std::move(options), EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send("NOT HTTP AT ALL\r\n\r\n"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 400);
  EXPECT_EQ(response->body.rfind("custom 400: malformed HTTP request", 0), 0u) << response->body;
}

TEST_F(HttpServerTest, SlowLorisGets408ThenClose) {
  HttpServerOptions options;
  options.request_timeout = Duration::Millis(200);
  StartServer(std::move(options), EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(client.Send("GET / HTTP/1.1\r\nHost: localhost\r\nX-Slow: "));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 408);
  EXPECT_NE(response->body.find("\"code\":408"), std::string::npos) << response->body;
  EXPECT_NE(response->body.find("200 ms"), std::string::npos) << response->body;
  EXPECT_TRUE(client.ReadUntilEof());
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.timeouts, 1u);
  EXPECT_EQ(stats.requests, 0u);
}

TEST_F(HttpServerTest, IdleConnectionsAreClosed) {
  HttpServerOptions options;
  options.idle_timeout = Duration::Millis(200);
  StartServer(std::move(options), EchoHandler());
  RawClient silent(port_);  // connects and sends nothing
  RawClient done(port_);    // one request, then keep-alive without a request
  ASSERT_TRUE(done.Send(Get("/once")));
  auto response = done.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(silent.ReadUntilEof());
  EXPECT_TRUE(done.ReadUntilEof());
  EXPECT_TRUE(WaitForOpenConnections(0));
  EXPECT_EQ(Stats().timeouts, 0u);  // idle closes are not errors
}

TEST_F(HttpServerTest, OnCloseFiresWhenTheClientLeavesMidStream) {
  StartServer({}, [this](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->StartStream(200, "text/event-stream");
    exchange->Write("data: first\n\n");
    exchange->OnClose([this] { closed_.Notify(); });
    held_ = std::move(exchange);
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Post("/v1/completions", "{\"stream\":true}")));
  ASSERT_TRUE(client.ReadUntil("data: first\n\n\r\n"));
  client.Close();
  ASSERT_TRUE(closed_.WaitFor(kWait));

  EXPECT_TRUE(OnIo([this] {
    const bool closed = held_->closed();
    held_->Write("data: late\n\n");  // no-ops once closed
    held_->Finish();
    return closed && held_->queued_bytes() == 0;
  }));
  // Setting OnClose after the close calls it (posted).
  Signal late;
  OnIo([&] { held_->OnClose([&late] { late.Notify(); }); });
  EXPECT_TRUE(late.WaitFor(kWait));
  EXPECT_EQ(Stats().client_disconnects, 1u);
  EXPECT_TRUE(WaitForOpenConnections(0));
  OnIo([this] { held_.reset(); });
}

TEST_F(HttpServerTest, StalledWriteTimesOutAndFiresOnClose) {
  HttpServerOptions options;
  options.idle_timeout = Duration::Millis(200);
  std::atomic<size_t> queued{0};
  StartServer(std::move(options), [&](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->StartStream(200, "application/octet-stream");
    // 32 MiB: more than the loopback socket buffers hold while the client reads nothing.
    for (int i = 0; i < 32; ++i) exchange->Write(std::string(1 << 20, 'z'));
    queued = exchange->queued_bytes();
    exchange->OnClose([this] { closed_.Notify(); });
    held_ = std::move(exchange);
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/big")));
  ASSERT_TRUE(closed_.WaitFor(kWait));  // the client never reads
  EXPECT_GE(queued.load(), 32u << 20);
  EXPECT_TRUE(OnIo([this] { return held_->closed() && held_->queued_bytes() == 0; }));
  EXPECT_EQ(Stats().timeouts, 1u);
  EXPECT_TRUE(WaitForOpenConnections(0));
}

TEST_F(HttpServerTest, OnCloseIsNotCalledAfterACompletedResponse) {
  std::atomic<bool> called{false};
  StartServer({}, [&](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClose([&called] { called = true; });
    exchange->Respond(200, "text/plain", "ok");
    held_ = std::move(exchange);
  });
  {
    RawClient client(port_);
    ASSERT_TRUE(client.Send(Get("/")));
    ASSERT_TRUE(client.ReadResponse());
  }
  EXPECT_TRUE(WaitForOpenConnections(0));
  EXPECT_FALSE(OnIo([this] { return held_->closed(); }));
  OnIo([] {});  // anything posted by the close has run by now
  EXPECT_FALSE(called.load());
}

TEST_F(HttpServerTest, DroppingTheExchangeAnswers500) {
  StartServer({}, [](const HttpRequest&, std::shared_ptr<HttpExchange>) {});
  RawClient client(port_);
  for (int i = 0; i < 2; ++i) {  // the connection stays usable
    ASSERT_TRUE(client.Send(Get("/v1/completions")));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->status, 500);
    EXPECT_NE(response->body.find("\"code\":500"), std::string::npos) << response->body;
    EXPECT_NE(response->body.find("\"type\":\"server_error\""), std::string::npos);
  }
}

TEST_F(HttpServerTest, DroppingTheExchangeMidStreamTruncatesTheResponse) {
  StartServer({}, [](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->StartStream(200, "text/event-stream");
    exchange->Write("data: partial\n\n");
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/")));
  EXPECT_FALSE(client.ReadResponse());  // no last chunk: the client sees a truncated body
  EXPECT_TRUE(WaitForOpenConnections(0));
}

TEST_F(HttpServerTest, StopAcceptingRefusesNewConnectionsButDrainsOpenOnes) {
  StartServer({}, EchoHandler());
  RawClient open(port_);
  ASSERT_TRUE(open.Send(Get("/before")));
  ASSERT_TRUE(open.ReadResponse());
  OnIo([this] {
    server_->StopAccepting();
    server_->StopAccepting();  // idempotent
  });
  RawClient late(port_);
  if (late.connected()) {  // refused, or closed without an answer
    late.Send(Get("/late"));
    EXPECT_FALSE(late.ReadResponse());
  }
  ASSERT_TRUE(open.Send(Get("/after")));
  auto response = open.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "GET /after ");
  EXPECT_EQ(Stats().connections_accepted, 1u);
}

TEST_F(HttpServerTest, CloseAllClosesPendingExchanges) {
  StartServer({}, [this](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClose([this] { closed_.Notify(); });
    held_ = std::move(exchange);
    handled_.Notify();
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/pending")));
  ASSERT_TRUE(handled_.WaitFor(kWait));
  OnIo([this] { server_->CloseAll(); });
  EXPECT_TRUE(closed_.WaitFor(kWait));
  EXPECT_TRUE(OnIo([this] { return held_->closed() && server_->open_connections() == 0; }));
  EXPECT_TRUE(client.ReadUntilEof());
}

TEST_F(HttpServerTest, DestroyingTheServerClosesExchangesWithoutCallbacks) {
  std::atomic<bool> called{false};
  StartServer({}, [&](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->OnClose([&called] { called = true; });
    held_ = std::move(exchange);
    handled_.Notify();
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/pending")));
  ASSERT_TRUE(handled_.WaitFor(kWait));
  EXPECT_TRUE(OnIo([this] {
    server_.reset();
    held_->Respond(200, "text/plain", "too late");  // ignored
    held_->OnClose([] { std::abort(); });           // never runs: the server is gone
    return held_->closed();
  }));
  OnIo([] {});
  EXPECT_FALSE(called.load());
  EXPECT_TRUE(client.ReadUntilEof());
}

TEST_F(HttpServerTest, MaxConnectionsAnswers503) {
  HttpServerOptions options;
  options.max_connections = 2;
  StartServer(std::move(options), EchoHandler());
  RawClient a(port_);
  RawClient b(port_);
  for (RawClient* client : {&a, &b}) {
    ASSERT_TRUE(client->Send(Get("/")));
    ASSERT_TRUE(client->ReadResponse());
  }
  RawClient c(port_);
  ASSERT_TRUE(c.Send(Get("/")));
  auto response = c.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->status, 503);
  EXPECT_NE(response->body.find("\"code\":503"), std::string::npos) << response->body;
  EXPECT_TRUE(c.ReadUntilEof());
  ASSERT_TRUE(a.Send(Get("/still")));
  auto still = a.ReadResponse();
  ASSERT_TRUE(still);
  EXPECT_EQ(still->status, 200);
  EXPECT_EQ(Stats().rejected_connections, 1u);
}

TEST_F(HttpServerTest, Http10) {
  StartServer({}, [](const HttpRequest& request, std::shared_ptr<HttpExchange> exchange) {
    if (request.path == "/stream") {
      exchange->StartStream(200, "text/event-stream");
      exchange->Write("data: a\n\n");
      exchange->Write("data: b\n\n");
      exchange->Finish();
    } else {
      exchange->Respond(200, "text/plain", "ten");
    }
  });
  {  // no keep-alive: closed after the response
    RawClient client(port_);
    ASSERT_TRUE(client.Send("GET / HTTP/1.0\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_EQ(response->body, "ten");
    EXPECT_EQ(response->header("connection"), "close");
    EXPECT_TRUE(client.ReadUntilEof());
  }
  {  // keep-alive asked for: granted
    RawClient client(port_);
    for (int i = 0; i < 2; ++i) {
      ASSERT_TRUE(client.Send("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
      auto response = client.ReadResponse();
      ASSERT_TRUE(response);
      EXPECT_EQ(response->header("connection"), "keep-alive");
    }
  }
  {  // a stream without chunked encoding, ended by the close
    RawClient client(port_);
    ASSERT_TRUE(client.Send("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"));
    auto response = client.ReadResponse();
    ASSERT_TRUE(response);
    EXPECT_FALSE(response->chunked);
    EXPECT_EQ(response->body, "data: a\n\ndata: b\n\n");
  }
}

TEST_F(HttpServerTest, HeadGetsHeadersOnly) {
  StartServer({}, [](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->Respond(200, "text/plain", "hello");
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send("HEAD / HTTP/1.1\r\nHost: x\r\n\r\n"));
  auto head = client.ReadResponse(/*head_request=*/true);
  ASSERT_TRUE(head);
  EXPECT_EQ(head->header("content-length"), "5");
  ASSERT_TRUE(client.Send(Get("/")));  // no stray body bytes before the next response
  auto get = client.ReadResponse();
  ASSERT_TRUE(get);
  EXPECT_EQ(get->body, "hello");
}

TEST_F(HttpServerTest, ExpectContinueGetsA100First) {
  StartServer({}, EchoHandler());
  RawClient client(port_);
  ASSERT_TRUE(
      client.Send("POST /v1/completions HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
                  "Content-Length: 5\r\n\r\n"));
  auto interim = client.ReadResponse();
  ASSERT_TRUE(interim);
  EXPECT_EQ(interim->status, 100);
  ASSERT_TRUE(client.Send("hello"));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "POST /v1/completions hello");
}

TEST_F(HttpServerTest, ExtraHeadersCannotBreakFraming) {
  StartServer({}, [](const HttpRequest&, std::shared_ptr<HttpExchange> exchange) {
    exchange->Respond(200, "text/plain", "body",
                      {{"content-length", "999"},
                       {"x-injected", "a\r\nx-evil: 1"},
                       {"bad name", "v"},
                       {"x-ok", "fine"}});
  });
  RawClient client(port_);
  ASSERT_TRUE(client.Send(Get("/")));
  auto response = client.ReadResponse();
  ASSERT_TRUE(response);
  EXPECT_EQ(response->body, "body");
  EXPECT_EQ(response->header("content-length"), "4");
  EXPECT_EQ(response->header("x-evil"), "");
  EXPECT_EQ(response->header("x-injected"), "");
  EXPECT_EQ(response->header("x-ok"), "fine");
}

TEST_F(HttpServerTest, CreateErrors) {
  boost::asio::io_context io;
  auto first = HttpServer::Create(io, {}, EchoHandler());
  ASSERT_TRUE(first.ok()) << first.status().ToString();
  const uint16_t port = (*first)->port();
  EXPECT_NE(port, 0);
  EXPECT_EQ((*first)->host(), "127.0.0.1");

  HttpServerOptions busy;
  busy.port = port;
  auto second = HttpServer::Create(io, busy, EchoHandler());
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), StatusCode::kIoError);
  EXPECT_EQ(second.status().message(), "cannot listen on 127.0.0.1:" + std::to_string(port) +
                                           ": Address already in use; pick another --port");

  HttpServerOptions bad_host;
  bad_host.host = "example.com";
  auto third = HttpServer::Create(io, bad_host, EchoHandler());
  ASSERT_FALSE(third.ok());
  EXPECT_EQ(third.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(third.status().message().find("'example.com'"), std::string::npos);

  HttpServerOptions localhost;
  localhost.host = "localhost";
  EXPECT_TRUE(HttpServer::Create(io, localhost, EchoHandler()).ok());
  EXPECT_FALSE(HttpServer::Create(io, {}, Handler()).ok());
}

TEST_F(HttpServerTest, TwoThousandSequentialRequestsOnOneConnection) {
  StartServer({}, EchoHandler());
  RawClient client(port_);
  for (int i = 0; i < 2000; ++i) {
    const std::string target = "/r" + std::to_string(i);
    ASSERT_TRUE(client.Send(Get(target))) << i;
    auto response = client.ReadResponse();
    ASSERT_TRUE(response) << i;
    ASSERT_EQ(response->status, 200) << i;
    ASSERT_EQ(response->body, "GET " + target + " ") << i;
  }
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.requests, 2000u);
  EXPECT_EQ(stats.connections_accepted, 1u);
}

TEST_F(HttpServerTest, TwoHundredConcurrentConnections) {
  StartServer({}, EchoHandler());
  constexpr int kThreads = 4;
  constexpr int kPerThread = 50;
  std::atomic<int> ok{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([this, t, &ok] {
      // Every connection of this thread is open at once; the four threads overlap.
      std::vector<std::unique_ptr<RawClient>> clients;
      for (int i = 0; i < kPerThread; ++i) {
        clients.push_back(std::make_unique<RawClient>(port_));
        clients.back()->Send(Get("/c" + std::to_string(t * kPerThread + i)));
      }
      for (int i = 0; i < kPerThread; ++i) {
        auto response = clients[i]->ReadResponse();
        if (response && response->status == 200 &&
            response->body == "GET /c" + std::to_string(t * kPerThread + i) + " ") {
          ++ok;
        }
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  EXPECT_EQ(ok.load(), kThreads * kPerThread);
  EXPECT_TRUE(WaitForOpenConnections(0));
  const HttpServerStats stats = Stats();
  EXPECT_EQ(stats.connections_accepted, 200u);
  EXPECT_EQ(stats.requests, 200u);
  EXPECT_EQ(stats.connections_open, 0u);
}

}  // namespace
}  // namespace dynamo::http
