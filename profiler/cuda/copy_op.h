#pragma once
// One memory copy ready to enqueue: host to device and device to host through pinned host
// memory, within one device, or to a peer device (peer access enabled when the pair allows
// it; otherwise the runtime stages through the host, which is what the measurement then shows).

#include <memory>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/cuda/device_buffer.h"

namespace dynamo::profiler::gpu {

class CopyOp {
 public:
  // `peer_device`: the destination device of kPeer, ignored otherwise. UCX kinds are rejected.
  static StatusOr<std::unique_ptr<CopyOp>> Create(const perf::TransferShape& shape,
                                                  DeviceStream stream, int peer_device);
  Status Enqueue();
  std::vector<DeviceStream> streams() const { return {stream_}; }

 private:
  CopyOp() = default;
  perf::TransferShape shape_;
  DeviceStream stream_;
  int peer_device_ = -1;
  DeviceBuffer src_, dst_;  // device sides (dst_ on the peer for kPeer)
  PinnedHostBuffer host_;   // kH2D source / kD2H destination
};

}  // namespace dynamo::profiler::gpu
