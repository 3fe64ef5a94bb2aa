#include "profiler/cuda/cupti_timer.h"

#include <cupti.h>

#include <algorithm>
#include <cstdlib>
#include <mutex>
#include <utility>

#include "profiler/cuda/cuda_plan.h"
#include "profiler/cuda/cuda_status.h"

namespace dynamo::profiler::gpu {
namespace {

constexpr size_t kBufferBytes = size_t{4} << 20;
constexpr size_t kBufferAlign = 8;  // CUPTI requires 8-byte aligned activity buffers
constexpr double kUsPerMs = 1e3;
constexpr double kNsPerUs = 1e3;

// The kinds a measurement enables. RUNTIME and DRIVER API records are what CUPTI attaches the
// external-correlation records to; their own contents are ignored.
constexpr CUpti_ActivityKind kKinds[] = {
    CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL,
    CUPTI_ACTIVITY_KIND_MEMCPY,
    CUPTI_ACTIVITY_KIND_MEMCPY2,
    CUPTI_ACTIVITY_KIND_RUNTIME,
    CUPTI_ACTIVITY_KIND_DRIVER,
    CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION,
};

struct Store {
  std::mutex mu;
  ActivityBatch batch;  // guarded by mu
  bool initialized = false;
  Status init_status;
};

// Intentionally never destroyed: CUPTI may still deliver buffers while the process exits.
Store& GetStore() {
  static Store* const store = new Store();  // NOLINT: leaked on purpose (see above)
  return *store;
}

void CUPTIAPI BufferRequested(uint8_t** buffer, size_t* size, size_t* max_records) {
  *buffer = static_cast<uint8_t*>(std::aligned_alloc(kBufferAlign, kBufferBytes));
  *size = *buffer != nullptr ? kBufferBytes : 0;
  *max_records = 0;  // as many as fit
}

void CUPTIAPI BufferCompleted(CUcontext context, uint32_t stream_id, uint8_t* buffer,
                              size_t /*size*/, size_t valid_size) {
  ActivityBatch local;
  CUpti_Activity* record = nullptr;
  while (buffer != nullptr &&
         cuptiActivityGetNextRecord(buffer, valid_size, &record) == CUPTI_SUCCESS) {
    switch (record->kind) {
      case CUPTI_ACTIVITY_KIND_KERNEL:
      case CUPTI_ACTIVITY_KIND_CONCURRENT_KERNEL: {
        const auto* k = reinterpret_cast<const CUpti_ActivityKernel10*>(record);
        local.intervals.push_back({k->start, k->end, k->correlationId});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY: {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemcpy6*>(record);
        local.intervals.push_back({m->start, m->end, m->correlationId});
        break;
      }
      case CUPTI_ACTIVITY_KIND_MEMCPY2: {
        const auto* m = reinterpret_cast<const CUpti_ActivityMemcpyPtoP4*>(record);
        local.intervals.push_back({m->start, m->end, m->correlationId});
        break;
      }
      case CUPTI_ACTIVITY_KIND_EXTERNAL_CORRELATION: {
        const auto* e = reinterpret_cast<const CUpti_ActivityExternalCorrelation*>(record);
        if (e->externalKind == CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0) {
          local.tags.push_back({e->correlationId, e->externalId});
        }
        break;
      }
      default:
        break;
    }
  }
  size_t dropped = 0;
  if (cuptiActivityGetNumDroppedRecords(context, stream_id, &dropped) == CUPTI_SUCCESS) {
    local.dropped_records = dropped;
  }
  std::free(buffer);
  Store& store = GetStore();
  std::lock_guard<std::mutex> lock(store.mu);
  store.batch.intervals.insert(store.batch.intervals.end(), local.intervals.begin(),
                               local.intervals.end());
  store.batch.tags.insert(store.batch.tags.end(), local.tags.begin(), local.tags.end());
  store.batch.dropped_records += local.dropped_records;
}

}  // namespace

std::string_view TimerKindName(TimerKind kind) {
  return kind == TimerKind::kCupti ? "cupti" : "events";
}

Status CuptiActivity::Initialize() {
  Store& store = GetStore();
  if (store.initialized) return store.init_status;
  store.initialized = true;
  store.init_status = [] {
    RETURN_IF_ERROR(CuptiCall(cuptiActivityRegisterCallbacks(BufferRequested, BufferCompleted),
                              "cuptiActivityRegisterCallbacks"));
    const Status enabled = Enable();
    const Status disabled = Disable();
    RETURN_IF_ERROR(enabled);
    return disabled;
  }();
  return store.init_status;
}

Status CuptiActivity::Enable() {
  for (CUpti_ActivityKind kind : kKinds) {
    RETURN_IF_ERROR(CuptiCall(cuptiActivityEnable(kind),
                              "cuptiActivityEnable(kind " + std::to_string(kind) + ")"));
  }
  return Status::Ok();
}

Status CuptiActivity::Disable() {
  Status first;
  for (CUpti_ActivityKind kind : kKinds) {
    Status s = CuptiCall(cuptiActivityDisable(kind),
                         "cuptiActivityDisable(kind " + std::to_string(kind) + ")");
    if (first.ok() && !s.ok()) first = s;
  }
  return first;
}

Status CuptiActivity::Flush() {
  return CuptiCall(cuptiActivityFlushAll(CUPTI_ACTIVITY_FLAG_FLUSH_FORCED),
                   "cuptiActivityFlushAll");
}

ActivityBatch CuptiActivity::Take() {
  Store& store = GetStore();
  std::lock_guard<std::mutex> lock(store.mu);
  return std::exchange(store.batch, ActivityBatch{});
}

Status CuptiActivity::PushRepetition(int rep) {
  return CuptiCall(cuptiActivityPushExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0,
                                                          RepetitionExternalId(rep)),
                   "cuptiActivityPushExternalCorrelationId");
}

Status CuptiActivity::PopRepetition() {
  uint64_t last = 0;
  return CuptiCall(
      cuptiActivityPopExternalCorrelationId(CUPTI_EXTERNAL_CORRELATION_KIND_CUSTOM0, &last),
      "cuptiActivityPopExternalCorrelationId");
}

std::string CuptiActivity::Version() {
  uint32_t version = 0;
  if (cuptiGetVersion(&version) != CUPTI_SUCCESS) return "unknown";
  return FormatLibraryVersion(version);
}

RepetitionTimer::RepetitionTimer(TimerKind kind, std::vector<DeviceStream> streams)
    : kind_(kind), streams_(std::move(streams)) {}

RepetitionTimer::~RepetitionTimer() { AbandonCupti(); }

void RepetitionTimer::AbandonCupti() {
  if (pushed_) (void)CuptiActivity::PopRepetition();
  pushed_ = false;
  if (cupti_enabled_) {
    (void)SyncStreams();
    (void)CuptiActivity::Flush();
    (void)CuptiActivity::Disable();
    (void)CuptiActivity::Take();
  }
  cupti_enabled_ = false;
}

Status RepetitionTimer::SyncStreams() {
  for (const DeviceStream& s : streams_) {
    RETURN_IF_ERROR(CudaCall(cudaStreamSynchronize(s.stream), "cudaStreamSynchronize"));
  }
  return Status::Ok();
}

Status RepetitionTimer::Begin(int repetitions) {
  DYNAMO_CHECK(repetitions > 0 && !streams_.empty());
  repetitions_ = repetitions;
  if (kind_ == TimerKind::kCupti) {
    RETURN_IF_ERROR(SyncStreams());
    RETURN_IF_ERROR(CuptiActivity::Flush());
    (void)CuptiActivity::Take();  // stale records of earlier work
    cupti_enabled_ = true;
    return CuptiActivity::Enable();
  }
  const size_t n = static_cast<size_t>(repetitions) * streams_.size();
  starts_.clear();
  ends_.clear();
  starts_.reserve(n);
  ends_.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const int device = streams_[i % streams_.size()].device;
    ASSIGN_OR_RETURN(Event start, Event::Create(device));
    ASSIGN_OR_RETURN(Event end, Event::Create(device));
    starts_.push_back(std::move(start));
    ends_.push_back(std::move(end));
  }
  return Status::Ok();
}

Status RepetitionTimer::BeginRepetition(int rep) {
  if (kind_ == TimerKind::kCupti) {
    RETURN_IF_ERROR(CuptiActivity::PushRepetition(rep));
    pushed_ = true;
    return Status::Ok();
  }
  for (size_t i = 0; i < streams_.size(); ++i) {
    const size_t idx = static_cast<size_t>(rep) * streams_.size() + i;
    RETURN_IF_ERROR(
        CudaCall(cudaEventRecord(starts_[idx].get(), streams_[i].stream), "cudaEventRecord"));
  }
  return Status::Ok();
}

Status RepetitionTimer::EndRepetition(int rep) {
  if (kind_ == TimerKind::kCupti) {
    pushed_ = false;
    return CuptiActivity::PopRepetition();
  }
  for (size_t i = 0; i < streams_.size(); ++i) {
    const size_t idx = static_cast<size_t>(rep) * streams_.size() + i;
    RETURN_IF_ERROR(
        CudaCall(cudaEventRecord(ends_[idx].get(), streams_[i].stream), "cudaEventRecord"));
  }
  return Status::Ok();
}

StatusOr<std::vector<double>> RepetitionTimer::Finish() {
  RETURN_IF_ERROR(SyncStreams());
  std::vector<double> samples_us;
  samples_us.reserve(static_cast<size_t>(repetitions_));
  if (kind_ == TimerKind::kCupti) {
    const Status flushed = CuptiActivity::Flush();
    const Status disabled = CuptiActivity::Disable();
    cupti_enabled_ = false;
    RETURN_IF_ERROR(flushed);
    RETURN_IF_ERROR(disabled);
    const ActivityBatch batch = CuptiActivity::Take();
    saw_no_records_ = batch.intervals.empty();
    ASSIGN_OR_RETURN(std::vector<int64_t> ns, RepetitionDurations(batch, repetitions_));
    for (int64_t d : ns) samples_us.push_back(static_cast<double>(d) / kNsPerUs);
    return samples_us;
  }
  for (int rep = 0; rep < repetitions_; ++rep) {
    double longest_us = 0;
    for (size_t i = 0; i < streams_.size(); ++i) {
      const size_t idx = static_cast<size_t>(rep) * streams_.size() + i;
      float ms = 0;
      RETURN_IF_ERROR(CudaCall(cudaEventElapsedTime(&ms, starts_[idx].get(), ends_[idx].get()),
                               "cudaEventElapsedTime"));
      longest_us = std::max(longest_us, static_cast<double>(ms) * kUsPerMs);
    }
    samples_us.push_back(longest_us);
  }
  return samples_us;
}

}  // namespace dynamo::profiler::gpu
