#include "runtime/net/connection.h"

#include <cstring>
#include <utility>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

namespace dynamo::net {

namespace asio = boost::asio;
using asio::ip::tcp;

std::shared_ptr<Connection> Connection::Adopt(tcp::socket socket) {
  // make_shared cannot reach the private constructor.
  return std::shared_ptr<Connection>(new Connection(std::move(socket)));  // NOLINT
}

Connection::Connection(tcp::socket socket) : socket_(std::move(socket)) {
  boost::system::error_code ec;
  socket_.set_option(tcp::no_delay(true), ec);
  const tcp::endpoint ep = socket_.remote_endpoint(ec);
  peer_ = ec ? "?" : ep.address().to_string() + ":" + std::to_string(ep.port());
}

Connection::~Connection() = default;

void Connection::Start(MessageHandler on_message, CloseHandler on_close) {
  DYNAMO_CHECK(!started_);
  started_ = true;
  on_message_ = std::move(on_message);
  on_close_ = std::move(on_close);
  ReadHeader();
}

void Connection::ReadHeader() {
  asio::async_read(socket_, asio::buffer(header_),
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     if (!self->open_) return;
                     if (ec) {
                       self->Fail(ec == asio::error::eof ? Status::Ok()
                                                         : IoError("connection to " + self->peer_ +
                                                                   ": " + ec.message()));
                       return;
                     }
                     uint32_t length = 0;
                     std::memcpy(&length, self->header_, 4);
                     if (length == 0 || length > kMaxFrameBytes) {
                       self->Fail(InvalidArgument("connection to " + self->peer_ +
                                                  ": bad frame length " + std::to_string(length)));
                       return;
                     }
                     self->ReadBody(length);
                   });
}

void Connection::ReadBody(uint32_t length) {
  body_.resize(length);
  asio::async_read(socket_, asio::buffer(body_),
                   [self = shared_from_this()](boost::system::error_code ec, size_t) {
                     if (!self->open_) return;
                     if (ec) {
                       self->Fail(IoError("connection to " + self->peer_ + ": " + ec.message()));
                       return;
                     }
                     StatusOr<Message> m = DecodePayload(self->body_);
                     if (!m.ok()) {
                       self->Fail(m.status().WithContext("connection to " + self->peer_));
                       return;
                     }
                     self->on_message_(std::move(*m));
                     if (self->open_) self->ReadHeader();
                   });
}

void Connection::Send(const Message& message) {
  if (!open_) return;
  EncodeFrame(message, pending_);
  if (writing_.empty()) Flush();
}

void Connection::Flush() {
  if (pending_.empty() || !open_) return;
  writing_.swap(pending_);
  pending_.clear();
  asio::async_write(socket_, asio::buffer(writing_),
                    [self = shared_from_this()](boost::system::error_code ec, size_t) {
                      self->writing_.clear();
                      if (!self->open_) return;
                      if (ec) {
                        self->Fail(IoError("connection to " + self->peer_ + ": " + ec.message()));
                        return;
                      }
                      self->Flush();
                    });
}

void Connection::Fail(const Status& why) {
  if (!open_) return;
  open_ = false;
  boost::system::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
  pending_.clear();
  if (on_close_) {
    CloseHandler cb = std::move(on_close_);
    on_close_ = nullptr;
    cb(why);
  }
}

void Connection::Close() {
  if (!open_) return;
  asio::post(socket_.get_executor(), [self = shared_from_this()] { self->Fail(Status::Ok()); });
  // Stop delivering messages at once; the handler runs from the posted Fail.
  on_message_ = [](Message&&) {};
}

void Connection::Abort() {
  on_close_ = nullptr;
  on_message_ = nullptr;
  if (!open_) return;
  open_ = false;
  boost::system::error_code ec;
  socket_.close(ec);
  pending_.clear();
}

void Connect(asio::io_context& io, const std::string& host, uint16_t port,
             std::function<void(StatusOr<std::shared_ptr<Connection>>)> done) {
  boost::system::error_code ec;
  const asio::ip::address addr =
      asio::ip::make_address(host == "localhost" ? "127.0.0.1" : host, ec);
  const std::string where = host + ":" + std::to_string(port);
  if (ec) {
    asio::post(io, [done = std::move(done), where] {
      done(InvalidArgument("bad address " + where + ": not an IP address"));
    });
    return;
  }
  auto socket = std::make_unique<tcp::socket>(io);
  tcp::socket* s = socket.get();
  s->async_connect(tcp::endpoint(addr, port), [socket = std::move(socket), done = std::move(done),
                                               where](boost::system::error_code cec) mutable {
    if (cec) {
      done(IoError("cannot connect to " + where + ": " + cec.message()));
      return;
    }
    done(Connection::Adopt(std::move(*socket)));
  });
}

}  // namespace dynamo::net
