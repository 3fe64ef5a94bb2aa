#pragma once
// Per-repetition GPU times of enqueued work: the CUPTI Activity API when it can be enabled
// (kernel and memcpy records, GPU timestamps, the union of a repetition's intervals), else CUDA
// events around each repetition on every stream (the longest stream counts).

#include <string>
#include <string_view>
#include <vector>

#include "core/status.h"
#include "profiler/cuda/device_buffer.h"
#include "profiler/cuda/kernel_timeline.h"

namespace dynamo::profiler::gpu {

enum class TimerKind { kCupti, kEvents };
std::string_view TimerKindName(TimerKind kind);  // "cupti" | "events"

// The process-wide CUPTI activity store. CUPTI's buffer callbacks carry no user pointer, so
// the records of the process land in one store behind a mutex (CUPTI may complete buffers on
// its own thread); the CUDA backend is its only client and uses it from one thread.
class CuptiActivity {
 public:
  // Registers the buffer callbacks (once per process) and checks that the activity kinds can
  // be enabled. An error (e.g. CUPTI_ERROR_INSUFFICIENT_PRIVILEGES, a CUPTI/driver mismatch)
  // means: use CUDA events.
  static Status Initialize();
  // Enables kernel, memcpy, runtime/driver API and external-correlation records.
  static Status Enable();
  static Status Disable();
  // Delivers every completed record (forced flush); call after the work has finished.
  static Status Flush();
  // Moves the records received so far out of the store.
  static ActivityBatch Take();
  static Status PushRepetition(int rep);
  static Status PopRepetition();
  // "13.0.1": the CUPTI API version, or "unknown".
  static std::string Version();
};

// Times `repetitions` repetitions enqueued on `streams`. Use: Begin, then per repetition
// BeginRepetition / enqueue / EndRepetition, then Finish. Work enqueued between repetitions
// (cache flushes) is not counted. Destruction restores CUPTI's state after an error.
class RepetitionTimer {
 public:
  RepetitionTimer(TimerKind kind, std::vector<DeviceStream> streams);
  ~RepetitionTimer();
  RepetitionTimer(const RepetitionTimer&) = delete;
  RepetitionTimer& operator=(const RepetitionTimer&) = delete;

  Status Begin(int repetitions);
  Status BeginRepetition(int rep);
  Status EndRepetition(int rep);
  // Waits for the streams; per-repetition GPU time in microseconds.
  StatusOr<std::vector<double>> Finish();
  // After a failed CUPTI Finish: whether CUPTI delivered no record at all (then it does not
  // trace this device and the caller should switch to events for good).
  bool saw_no_records() const { return saw_no_records_; }

 private:
  Status SyncStreams();
  void AbandonCupti();

  TimerKind kind_;
  std::vector<DeviceStream> streams_;
  int repetitions_ = 0;
  bool cupti_enabled_ = false;
  bool pushed_ = false;
  bool saw_no_records_ = false;
  std::vector<Event> starts_;  // [rep][stream]
  std::vector<Event> ends_;    // [rep][stream]
};

}  // namespace dynamo::profiler::gpu
