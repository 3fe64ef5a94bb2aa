#pragma once
// UcxKvTransport: moves a disaggregated request's KV bytes from the prefill worker that computed
// them to the decode worker the router chose, over UCX (docs/runtime.md, "KV transfer").
//
// Every worker process owns one transport: a UCP context + worker driven by the process's Asio
// io_context (the UCP worker's event fd is watched; progress runs on the io thread), and a UCP
// listener on host:port (a TCP socket address UCX uses to connect; the data then moves on
// whatever transport UCX picks between the two processes: shared memory/CMA on one host, TCP or
// RDMA across hosts).
//
// Protocol: the receiver (decode worker) pulls. Pull() connects to the holder's address (one
// endpoint per peer, cached), sends a pull active message {key, bytes}; the holder's `accept`
// callback says whether it holds that KV; if so the holder sends `bytes` bytes as one active
// message (UCX rendezvous for large sizes: zero-copy where the transport allows) and reports
// `on_sent`; if not, it replies with a refusal. The receiver checks the size (and a pattern) and
// completes the pull. The mock engine has no real KV: the bytes are a pattern from one shared,
// registered buffer on each side; the sizes and the transport are real.
//
// Failure: a refused pull, an unreachable or lost peer (UCX endpoint error), a size mismatch or
// a timeout completes the pull with an error Status (the decode worker then prefills locally).
// Each pull completes exactly once. A late reply after a timeout is received and discarded.
//
// Single-threaded: every method and callback runs on the io_context's thread.
#include <boost/asio/io_context.hpp>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include "core/status.h"
#include "core/time.h"

namespace dynamo::kvtransfer {

struct UcxKvOptions {
  std::string host = "127.0.0.1";  // listener address, advertised to peers
  uint16_t port = 0;               // 0: ephemeral
  // While a pull, a send or a receive is in flight, the io thread polls the UCP worker (between
  // the io_context's other handlers) instead of sleeping until the worker's fd wakes it, and
  // keeps polling until nothing has progressed for this long. A pull is several one-way
  // messages (request, rendezvous handshake, data); waking a sleeping thread for each costs tens
  // of microseconds on a VM. A poller the kernel preempts (a loaded host) goes back to the fd
  // for 100 ms. Zero: never poll (every step waits for the fd).
  Duration poll_idle = Duration::Micros(200);
};

struct UcxKvStats {
  int64_t pulls_ok = 0, pulls_failed = 0;               // receiver side
  int64_t sends_ok = 0, sends_failed = 0, refused = 0;  // holder side
  int64_t bytes_received = 0, bytes_sent = 0;
  int64_t malformed_messages = 0;  // active messages ignored: bad header or size (either side)
  int64_t poll_backoffs = 0;       // polling stopped because the kernel preempted the thread
};

class UcxKvTransport {
 public:
  // Error (IoError / InvalidArgument): UCX cannot be initialised, the listener cannot bind
  // host:port (the message names them).
  static StatusOr<std::unique_ptr<UcxKvTransport>> Create(boost::asio::io_context& io,
                                                          UcxKvOptions options);
  // Fails pulls still pending (their callbacks do not run), closes endpoints. No callback runs
  // after the destructor, not even a `done` or `on_sent` already posted to the io_context.
  ~UcxKvTransport();
  UcxKvTransport(const UcxKvTransport&) = delete;
  UcxKvTransport& operator=(const UcxKvTransport&) = delete;

  // "host:port" of the listener, for the registration file.
  std::string address() const;

  // Holder side. `accept(key, bytes)`: true -> send `bytes` bytes for `key` to the puller; false
  // -> refuse. `on_sent(key, status)`: the send completed (ok) or failed; runs only for accepted
  // pulls. Set before the first peer connects; replaces earlier callbacks. `accept` runs inside
  // UCX's progress (it must not destroy the transport); `on_sent` is posted to the io_context.
  void Serve(std::function<bool(uint64_t key, int64_t bytes)> accept,
             std::function<void(uint64_t key, Status status)> on_sent);

  // Receiver side: pulls `bytes` (>= 0) bytes of `key` from the transport at `peer` ("host:port").
  // `done` runs exactly once on the io thread (never inside Pull itself): Ok when all bytes
  // arrived; IoError (peer unreachable or lost, or `timeout` passed: the message says which),
  // NotFound (refused), Internal (size mismatch) otherwise, naming the peer and the key.
  void Pull(const std::string& peer, uint64_t key, int64_t bytes, Duration timeout,
            std::function<void(Status status)> done);

  // Pulls started whose `done` has not run yet.
  size_t pending() const;
  const UcxKvStats& stats() const;

 private:
  class Impl;
  explicit UcxKvTransport(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dynamo::kvtransfer
