#pragma once
// NCCL collectives in one process: communicators over devices 0..gpus-1 (ncclCommInitAll),
// one stream per device, each collective issued for all ranks inside one group call. Built
// without NCCL, CollectivesAvailable() is false and Create fails with the reason.

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/perf/op_shape.h"
#include "core/status.h"
#include "profiler/cuda/cuda_plan.h"
#include "profiler/cuda/device_buffer.h"

namespace dynamo::profiler::gpu {

// Whether this build links NCCL.
bool CollectivesAvailable();
// "2.28.9", or "none" without NCCL.
std::string NcclVersion();

// Communicators of one group size, created on first use and kept (ncclCommInitAll is slow).
// Not thread-safe.
class NcclComms {
 public:
  NcclComms();
  ~NcclComms();
  NcclComms(const NcclComms&) = delete;
  NcclComms& operator=(const NcclComms&) = delete;

  struct Group;
  // Communicators over devices [0, gpus). Valid until this object is destroyed.
  StatusOr<Group*> Get(int gpus);

 private:
  std::map<int, std::unique_ptr<Group>> groups_;
};

class CollectiveOp {
 public:
  // `streams[i]` is a stream of device i, i < shape.gpus; `comms` must outlive the op.
  static StatusOr<std::unique_ptr<CollectiveOp>> Create(const perf::CollectiveShape& shape,
                                                        const CollectiveCounts& counts,
                                                        NcclComms& comms,
                                                        std::vector<DeviceStream> streams,
                                                        uint64_t seed);
  ~CollectiveOp();
  CollectiveOp(const CollectiveOp&) = delete;
  CollectiveOp& operator=(const CollectiveOp&) = delete;

  Status Enqueue();
  std::vector<DeviceStream> streams() const { return streams_; }

 private:
  CollectiveOp() = default;

  perf::CollectiveShape shape_;
  CollectiveCounts counts_;
  NcclComms::Group* group_ = nullptr;
  std::vector<DeviceStream> streams_;
  std::vector<DeviceBuffer> send_;  // [rank]
  std::vector<DeviceBuffer> recv_;  // [rank]
};

}  // namespace dynamo::profiler::gpu
