#include "profiler/cuda/device_buffer.h"

#include <utility>

#include "profiler/cuda/cuda_status.h"

namespace dynamo::profiler::gpu {

ScopedDevice::ScopedDevice(int device) {
  if (cudaGetDevice(&previous_) != cudaSuccess) previous_ = -1;
  status_ = CudaCall(cudaSetDevice(device), "cudaSetDevice(" + std::to_string(device) + ")");
}

ScopedDevice::~ScopedDevice() {
  if (previous_ >= 0) (void)cudaSetDevice(previous_);
}

StatusOr<DeviceBuffer> DeviceBuffer::Allocate(int device, int64_t bytes) {
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  DeviceBuffer b;
  RETURN_IF_ERROR(CudaCall(cudaMalloc(&b.data_, static_cast<size_t>(bytes)),
                           "cudaMalloc(" + std::to_string(bytes) + " bytes)"));
  b.bytes_ = bytes;
  b.device_ = device;
  return b;
}

DeviceBuffer& DeviceBuffer::operator=(DeviceBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void DeviceBuffer::Reset() {
  if (data_ != nullptr) {
    ScopedDevice scoped(device_);
    (void)cudaFree(data_);
  }
  data_ = nullptr;
  bytes_ = 0;
}

StatusOr<PinnedHostBuffer> PinnedHostBuffer::Allocate(int64_t bytes) {
  PinnedHostBuffer b;
  RETURN_IF_ERROR(
      CudaCall(cudaHostAlloc(&b.data_, static_cast<size_t>(bytes), cudaHostAllocPortable),
               "cudaHostAlloc(" + std::to_string(bytes) + " bytes)"));
  b.bytes_ = bytes;
  return b;
}

PinnedHostBuffer& PinnedHostBuffer::operator=(PinnedHostBuffer&& other) noexcept {
  if (this != &other) {
    Reset();
    data_ = std::exchange(other.data_, nullptr);
    bytes_ = std::exchange(other.bytes_, 0);
  }
  return *this;
}

void PinnedHostBuffer::Reset() {
  if (data_ != nullptr) (void)cudaFreeHost(data_);
  data_ = nullptr;
  bytes_ = 0;
}

StatusOr<Stream> Stream::Create(int device) {
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  Stream s;
  RETURN_IF_ERROR(CudaCall(cudaStreamCreateWithFlags(&s.stream_, cudaStreamNonBlocking),
                           "cudaStreamCreateWithFlags"));
  s.device_ = device;
  return s;
}

Stream& Stream::operator=(Stream&& other) noexcept {
  if (this != &other) {
    Reset();
    stream_ = std::exchange(other.stream_, nullptr);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void Stream::Reset() {
  if (stream_ != nullptr) {
    ScopedDevice scoped(device_);
    (void)cudaStreamDestroy(stream_);
  }
  stream_ = nullptr;
}

StatusOr<Event> Event::Create(int device) {
  ScopedDevice scoped(device);
  RETURN_IF_ERROR(scoped.status());
  Event e;
  RETURN_IF_ERROR(CudaCall(cudaEventCreate(&e.event_), "cudaEventCreate"));
  e.device_ = device;
  return e;
}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    Reset();
    event_ = std::exchange(other.event_, nullptr);
    device_ = std::exchange(other.device_, -1);
  }
  return *this;
}

void Event::Reset() {
  if (event_ != nullptr) {
    ScopedDevice scoped(device_);
    (void)cudaEventDestroy(event_);
  }
  event_ = nullptr;
}

}  // namespace dynamo::profiler::gpu
