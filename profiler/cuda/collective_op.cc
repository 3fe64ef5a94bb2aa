#include "profiler/cuda/collective_op.h"

#include <cuda_runtime_api.h>

#include <utility>

#include "profiler/cuda/cuda_status.h"
#include "profiler/cuda/fill_format.h"

#if defined(DYNAMO_HAVE_NCCL)
#include <nccl.h>
#endif

namespace dynamo::profiler::gpu {

#if defined(DYNAMO_HAVE_NCCL)

namespace {

Status NcclCall(ncclResult_t result, std::string_view api) {
  if (result == ncclSuccess) return Status::Ok();
  return Internal(std::string(api) + ": " + ncclGetErrorString(result));
}

ncclDataType_t NcclType(DType d) {
  switch (d) {
    case DType::kFp16:
      return ncclFloat16;
    case DType::kFp32:
      return ncclFloat32;
#if NCCL_VERSION_CODE >= NCCL_VERSION(2, 24, 0)
    case DType::kFp8:
      return ncclFloat8e4m3;
#endif
    default:
      return ncclBfloat16;
  }
}

}  // namespace

struct NcclComms::Group {
  std::vector<ncclComm_t> comms;  // [rank]; rank i runs on device i
  ~Group() {
    for (ncclComm_t c : comms) {
      if (c != nullptr) (void)ncclCommDestroy(c);
    }
  }
};

bool CollectivesAvailable() { return true; }

std::string NcclVersion() {
  int version = 0;
  if (ncclGetVersion(&version) != ncclSuccess) return "unknown";
  return FormatLibraryVersion(version);
}

NcclComms::NcclComms() = default;
NcclComms::~NcclComms() = default;

StatusOr<NcclComms::Group*> NcclComms::Get(int gpus) {
  auto it = groups_.find(gpus);
  if (it != groups_.end()) return it->second.get();
  auto group = std::make_unique<Group>();
  group->comms.assign(static_cast<size_t>(gpus), nullptr);
  std::vector<int> devices(static_cast<size_t>(gpus));
  for (int i = 0; i < gpus; ++i) devices[static_cast<size_t>(i)] = i;
  RETURN_IF_ERROR(NcclCall(ncclCommInitAll(group->comms.data(), gpus, devices.data()),
                           "ncclCommInitAll(" + std::to_string(gpus) + " GPUs)"));
  Group* raw = group.get();
  groups_[gpus] = std::move(group);
  return raw;
}

StatusOr<std::unique_ptr<CollectiveOp>> CollectiveOp::Create(const perf::CollectiveShape& shape,
                                                             const CollectiveCounts& counts,
                                                             NcclComms& comms,
                                                             std::vector<DeviceStream> streams,
                                                             uint64_t seed) {
  DYNAMO_CHECK(static_cast<int64_t>(streams.size()) == shape.gpus);
  std::unique_ptr<CollectiveOp> op(new CollectiveOp());
  op->shape_ = shape;
  op->counts_ = counts;
  op->streams_ = std::move(streams);
  ASSIGN_OR_RETURN(op->group_, comms.Get(static_cast<int>(shape.gpus)));
  for (const DeviceStream& s : op->streams_) {
    ASSIGN_OR_RETURN(DeviceBuffer send,
                     DeviceBuffer::Allocate(s.device, counts.send_bytes_per_rank));
    ASSIGN_OR_RETURN(DeviceBuffer recv,
                     DeviceBuffer::Allocate(s.device, counts.recv_bytes_per_rank));
    ScopedDevice scoped(s.device);
    RETURN_IF_ERROR(scoped.status());
    RETURN_IF_ERROR(
        CudaCall(LaunchFillRandom(send.data(), counts.send_bytes_per_rank / counts.elem_bytes,
                                  FillElemFor(shape.dtype), seed + static_cast<uint64_t>(s.device),
                                  1.f, s.stream),
                 "fill collective input"));
    RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize"));
    op->send_.push_back(std::move(send));
    op->recv_.push_back(std::move(recv));
  }
  return op;
}

CollectiveOp::~CollectiveOp() = default;

Status CollectiveOp::Enqueue() {
  const ncclDataType_t type = NcclType(shape_.dtype);
  const auto ranks = static_cast<int>(streams_.size());
  RETURN_IF_ERROR(NcclCall(ncclGroupStart(), "ncclGroupStart"));
  Status issued;
  for (int i = 0; i < ranks && issued.ok(); ++i) {
    const auto r = static_cast<size_t>(i);
    ncclComm_t comm = group_->comms[r];
    cudaStream_t stream = streams_[r].stream;
    void* send = send_[r].data();
    void* recv = recv_[r].data();
    const auto send_count = static_cast<size_t>(counts_.send_count);
    const auto recv_count = static_cast<size_t>(counts_.recv_count);
    switch (shape_.op) {
      case perf::Collective::kAllReduce:
        issued = NcclCall(ncclAllReduce(send, recv, send_count, type, ncclSum, comm, stream),
                          "ncclAllReduce");
        break;
      case perf::Collective::kAllGather:
        issued =
            NcclCall(ncclAllGather(send, recv, send_count, type, comm, stream), "ncclAllGather");
        break;
      case perf::Collective::kReduceScatter:
        issued = NcclCall(ncclReduceScatter(send, recv, recv_count, type, ncclSum, comm, stream),
                          "ncclReduceScatter");
        break;
      case perf::Collective::kAllToAll: {
        const int64_t chunk = counts_.send_count * counts_.elem_bytes;
        for (int peer = 0; peer < ranks && issued.ok(); ++peer) {
          issued = NcclCall(ncclSend(static_cast<char*>(send) + peer * chunk, send_count, type,
                                     peer, comm, stream),
                            "ncclSend");
          if (issued.ok()) {
            issued = NcclCall(ncclRecv(static_cast<char*>(recv) + peer * chunk, recv_count, type,
                                       peer, comm, stream),
                              "ncclRecv");
          }
        }
        break;
      }
    }
  }
  const Status ended = NcclCall(ncclGroupEnd(), "ncclGroupEnd");
  RETURN_IF_ERROR(issued);
  return ended;
}

#else  // !DYNAMO_HAVE_NCCL

struct NcclComms::Group {};

bool CollectivesAvailable() { return false; }
std::string NcclVersion() { return "none"; }

NcclComms::NcclComms() = default;
NcclComms::~NcclComms() = default;

StatusOr<NcclComms::Group*> NcclComms::Get(int) {
  return FailedPrecondition("this build has no NCCL; collectives are unavailable");
}

StatusOr<std::unique_ptr<CollectiveOp>> CollectiveOp::Create(const perf::CollectiveShape&,
                                                             const CollectiveCounts&, NcclComms&,
                                                             std::vector<DeviceStream>, uint64_t) {
  return FailedPrecondition("this build has no NCCL; collectives are unavailable");
}

CollectiveOp::~CollectiveOp() = default;

Status CollectiveOp::Enqueue() { return FailedPrecondition("this build has no NCCL"); }

#endif

}  // namespace dynamo::profiler::gpu
