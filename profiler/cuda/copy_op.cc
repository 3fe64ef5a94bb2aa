#include "profiler/cuda/copy_op.h"

#include <cuda_runtime_api.h>

#include <cstring>

#include "profiler/cuda/cuda_status.h"

namespace dynamo::profiler::gpu {
namespace {

// Enables access from `from` to `to` when the pair supports it; already enabled is fine.
Status EnablePeerAccess(int from, int to) {
  int can = 0;
  RETURN_IF_ERROR(CudaCall(cudaDeviceCanAccessPeer(&can, from, to), "cudaDeviceCanAccessPeer"));
  if (can == 0) return Status::Ok();
  ScopedDevice scoped(from);
  RETURN_IF_ERROR(scoped.status());
  const cudaError_t err = cudaDeviceEnablePeerAccess(to, 0);
  if (err == cudaErrorPeerAccessAlreadyEnabled) {
    (void)cudaGetLastError();
    return Status::Ok();
  }
  return CudaCall(err, "cudaDeviceEnablePeerAccess");
}

}  // namespace

StatusOr<std::unique_ptr<CopyOp>> CopyOp::Create(const perf::TransferShape& shape,
                                                 DeviceStream stream, int peer_device) {
  std::unique_ptr<CopyOp> op(new CopyOp());
  op->shape_ = shape;
  op->stream_ = stream;
  op->peer_device_ = peer_device;
  const int device = stream.device;
  switch (shape.kind) {
    case perf::TransferKind::kH2D: {
      ASSIGN_OR_RETURN(op->host_, PinnedHostBuffer::Allocate(shape.bytes));
      std::memset(op->host_.data(), 1, static_cast<size_t>(shape.bytes));  // touch every page
      ASSIGN_OR_RETURN(op->dst_, DeviceBuffer::Allocate(device, shape.bytes));
      break;
    }
    case perf::TransferKind::kD2H: {
      ASSIGN_OR_RETURN(op->host_, PinnedHostBuffer::Allocate(shape.bytes));
      std::memset(op->host_.data(), 1, static_cast<size_t>(shape.bytes));
      ASSIGN_OR_RETURN(op->src_, DeviceBuffer::Allocate(device, shape.bytes));
      break;
    }
    case perf::TransferKind::kD2D: {
      ASSIGN_OR_RETURN(op->src_, DeviceBuffer::Allocate(device, shape.bytes));
      ASSIGN_OR_RETURN(op->dst_, DeviceBuffer::Allocate(device, shape.bytes));
      break;
    }
    case perf::TransferKind::kPeer: {
      if (peer_device < 0 || peer_device == device) {
        return FailedPrecondition("a peer copy needs a second CUDA device");
      }
      RETURN_IF_ERROR(EnablePeerAccess(device, peer_device));
      RETURN_IF_ERROR(EnablePeerAccess(peer_device, device));
      ASSIGN_OR_RETURN(op->src_, DeviceBuffer::Allocate(device, shape.bytes));
      ASSIGN_OR_RETURN(op->dst_, DeviceBuffer::Allocate(peer_device, shape.bytes));
      break;
    }
    case perf::TransferKind::kUcx:
      return Status(StatusCode::kUnimplemented,
                    "UCX transfers are measured by the UCX transport, not the CUDA backend");
  }
  return op;
}

Status CopyOp::Enqueue() {
  const auto bytes = static_cast<size_t>(shape_.bytes);
  switch (shape_.kind) {
    case perf::TransferKind::kH2D:
      return CudaCall(
          cudaMemcpyAsync(dst_.data(), host_.data(), bytes, cudaMemcpyHostToDevice, stream_.stream),
          "cudaMemcpyAsync(h2d)");
    case perf::TransferKind::kD2H:
      return CudaCall(
          cudaMemcpyAsync(host_.data(), src_.data(), bytes, cudaMemcpyDeviceToHost, stream_.stream),
          "cudaMemcpyAsync(d2h)");
    case perf::TransferKind::kD2D:
      return CudaCall(cudaMemcpyAsync(dst_.data(), src_.data(), bytes, cudaMemcpyDeviceToDevice,
                                      stream_.stream),
                      "cudaMemcpyAsync(d2d)");
    case perf::TransferKind::kPeer:
      return CudaCall(cudaMemcpyPeerAsync(dst_.data(), peer_device_, src_.data(), stream_.device,
                                          bytes, stream_.stream),
                      "cudaMemcpyPeerAsync");
    case perf::TransferKind::kUcx:
      break;
  }
  return Status(StatusCode::kUnimplemented, "UCX transfers are not measured by the CUDA backend");
}

}  // namespace dynamo::profiler::gpu
