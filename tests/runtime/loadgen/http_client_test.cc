#include "runtime/loadgen/http_client.h"

#include <gtest/gtest.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <string>

namespace dynamo::loadgen {
namespace {

using tcp = boost::asio::ip::tcp;

TEST(HttpClientTest, ParsesHttpUrls) {
  auto a = ParseHttpUrl("http://127.0.0.1:8000");
  ASSERT_TRUE(a.ok()) << a.status().ToString();
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 8000);
  EXPECT_EQ(a->base_path, "");
  EXPECT_EQ(a->origin, "http://127.0.0.1:8000");
  EXPECT_EQ(a->HostHeader(), "127.0.0.1:8000");

  auto b = ParseHttpUrl("http://localhost/prefix/");
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->port, 80);
  EXPECT_EQ(b->base_path, "/prefix");
  EXPECT_EQ(b->origin, "http://localhost");

  auto c = ParseHttpUrl("http://[::1]:9000/");
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->host, "::1");
  EXPECT_EQ(c->port, 9000);
  EXPECT_EQ(c->HostHeader(), "[::1]:9000");
}

TEST(HttpClientTest, RejectsBadUrlsNamingThem) {
  auto https = ParseHttpUrl("https://h:1");
  ASSERT_FALSE(https.ok());
  EXPECT_EQ(https.status().message(),
            "url 'https://h:1': https is not supported (dynamo-run serves plain HTTP); expected "
            "http://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8000");
  auto port = ParseHttpUrl("http://h:70000");
  ASSERT_FALSE(port.ok());
  EXPECT_EQ(port.status().message(),
            "url 'http://h:70000': port '70000' is not a number in 1..65535");
  for (const char* bad : {"127.0.0.1:8000", "http://", "http://:80", "http://h:", "http://h:x",
                          "http://h:0", "http://h/a?b=1", "http://u@h", "http://[::1"}) {
    auto r = ParseHttpUrl(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
    EXPECT_NE(r.status().message().find(bad), std::string::npos) << r.status().message();
  }
}

// A port nobody listens on: bound, then released.
uint16_t ClosedPort() {
  boost::asio::io_context io;
  tcp::acceptor acceptor(io, tcp::endpoint(boost::asio::ip::make_address("127.0.0.1"), 0));
  return acceptor.local_endpoint().port();
}

TEST(HttpClientTest, FetchFromAClosedPortSaysCannotReach) {
  const uint16_t port = ClosedPort();
  auto url = ParseHttpUrl("http://127.0.0.1:" + std::to_string(port));
  ASSERT_TRUE(url.ok());
  auto endpoints = ResolveHttpUrl(*url);
  ASSERT_TRUE(endpoints.ok()) << endpoints.status().ToString();
  HttpRequest request;
  request.target = "/v1/models";
  request.host = url->HostHeader();
  auto response = Fetch(*url, *endpoints, request, Duration::Seconds(5));
  ASSERT_FALSE(response.ok());
  EXPECT_EQ(response.status().message(), "cannot reach http://127.0.0.1:" + std::to_string(port) +
                                             ": Connection refused; is dynamo-run running?");
}

}  // namespace
}  // namespace dynamo::loadgen
