#pragma once
// Connection: one framed TCP connection of the request plane (wire.h), either side. Reads frames
// and hands decoded messages to a callback; queues outgoing frames and writes them in order,
// coalescing whatever accumulated while the previous write was in flight (one syscall for a
// whole step's tokens).
//
// Single-threaded: every method and callback runs on the io_context's thread. Owned through a
// shared_ptr because Asio completion handlers must keep it alive while an operation is pending;
// callers keep their own shared_ptr while they use it.
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "core/status.h"
#include "runtime/net/wire.h"

namespace dynamo::net {

class Connection : public std::enable_shared_from_this<Connection> {
 public:
  using MessageHandler = std::function<void(Message&& message)>;
  // Called once when the connection ends: Ok for a clean EOF or Close(), else the error
  // (reset, a protocol violation).
  using CloseHandler = std::function<void(const Status& why)>;

  // Takes over a connected socket (TCP_NODELAY is set).
  static std::shared_ptr<Connection> Adopt(boost::asio::ip::tcp::socket socket);
  ~Connection();

  // Starts reading. Precondition: called once.
  void Start(MessageHandler on_message, CloseHandler on_close);
  // Queues one message; ignored once closed.
  void Send(const Message& message);
  // Closes now; queued writes are dropped. The close handler runs (posted) with Ok.
  void Close();
  // Closes now without calling the close handler (the owner is going away; pending operations
  // complete as no-ops).
  void Abort();
  bool open() const { return open_; }
  const std::string& peer() const { return peer_; }
  size_t queued_bytes() const { return pending_.size() + writing_.size(); }

 private:
  explicit Connection(boost::asio::ip::tcp::socket socket);
  void ReadHeader();
  void ReadBody(uint32_t length);
  void Flush();
  void Fail(const Status& why);

  boost::asio::ip::tcp::socket socket_;
  std::string peer_;
  MessageHandler on_message_;
  CloseHandler on_close_;
  bool open_ = true;
  bool started_ = false;
  uint8_t header_[4] = {};
  std::vector<uint8_t> body_;
  std::string pending_;  // frames queued while a write is in flight
  std::string writing_;  // the frames being written
};

// Connects to host:port asynchronously; `done` gets the connection (not started) or an IoError
// naming the address.
void Connect(boost::asio::io_context& io, const std::string& host, uint16_t port,
             std::function<void(StatusOr<std::shared_ptr<Connection>>)> done);

}  // namespace dynamo::net
