#pragma once
// Owning handles for device memory, pinned host memory and CUDA streams/events. Each frees its
// resource on the device it was made on; destruction never fails loudly (errors at teardown
// have no one to report to). Move-only; not thread-safe.

#include <cuda_runtime_api.h>

#include <cstdint>
#include <memory>

#include "core/status.h"

namespace dynamo::profiler::gpu {

class DeviceBuffer {
 public:
  DeviceBuffer() = default;
  // cudaMalloc of `bytes` on `device` (the current device is restored).
  static StatusOr<DeviceBuffer> Allocate(int device, int64_t bytes);

  DeviceBuffer(DeviceBuffer&& other) noexcept { *this = std::move(other); }
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept;
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { Reset(); }

  void* data() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }
  int64_t bytes() const { return bytes_; }
  int device() const { return device_; }

 private:
  void Reset();
  void* data_ = nullptr;
  int64_t bytes_ = 0;
  int device_ = -1;
};

// Page-locked host memory (cudaHostAlloc), so that copies run at full PCIe/C2C speed.
class PinnedHostBuffer {
 public:
  PinnedHostBuffer() = default;
  static StatusOr<PinnedHostBuffer> Allocate(int64_t bytes);

  PinnedHostBuffer(PinnedHostBuffer&& other) noexcept { *this = std::move(other); }
  PinnedHostBuffer& operator=(PinnedHostBuffer&& other) noexcept;
  PinnedHostBuffer(const PinnedHostBuffer&) = delete;
  PinnedHostBuffer& operator=(const PinnedHostBuffer&) = delete;
  ~PinnedHostBuffer() { Reset(); }

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }

 private:
  void Reset();
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// A non-blocking stream on one device.
class Stream {
 public:
  Stream() = default;
  static StatusOr<Stream> Create(int device);

  Stream(Stream&& other) noexcept { *this = std::move(other); }
  Stream& operator=(Stream&& other) noexcept;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream() { Reset(); }

  cudaStream_t get() const { return stream_; }
  int device() const { return device_; }

 private:
  void Reset();
  cudaStream_t stream_ = nullptr;
  int device_ = -1;
};

// A timing event on one device.
class Event {
 public:
  Event() = default;
  static StatusOr<Event> Create(int device);

  Event(Event&& other) noexcept { *this = std::move(other); }
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event() { Reset(); }

  cudaEvent_t get() const { return event_; }

 private:
  void Reset();
  cudaEvent_t event_ = nullptr;
  int device_ = -1;
};

// Makes `device` current for the scope and restores the previous device.
class ScopedDevice {
 public:
  explicit ScopedDevice(int device);
  ~ScopedDevice();
  ScopedDevice(const ScopedDevice&) = delete;
  ScopedDevice& operator=(const ScopedDevice&) = delete;
  // The cudaSetDevice result of the constructor.
  const Status& status() const { return status_; }

 private:
  int previous_ = -1;
  Status status_;
};

// A device stream as the timing code sees it (not owning).
struct DeviceStream {
  int device = 0;
  cudaStream_t stream = nullptr;
};

}  // namespace dynamo::profiler::gpu
