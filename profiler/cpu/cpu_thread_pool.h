#pragma once
// ThreadPool: the CPU backend's own fork-join pool (std::thread; no OpenMP). `threads` counts
// the calling thread: a pool of N runs N - 1 workers and the caller joins every ParallelFor, so
// a pool of 1 runs everything inline. Kernels split their output into tasks and each task calls
// single-threaded code (Eigen's product, the attention loops).
//
// Ownership: the pool owns its workers and joins them in the destructor. Thread-safety: one
// caller at a time; ParallelFor must not be called from inside a task (no nesting).

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dynamo::profiler {

class ThreadPool {
 public:
  // Precondition: threads >= 1.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  // Threads that run tasks, the caller included.
  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(i) for every i in [0, n) and returns when all calls have finished. Indices are
  // handed out in increasing order to whichever thread is free (dynamic scheduling), so put
  // the most expensive tasks first. `fn` must not throw.
  void ParallelFor(int64_t n, const std::function<void(int64_t)>& fn);

  // Hands `fn` to one worker and waits for it without the caller running any of it: the CPU
  // analogue of launching a kernel and waiting for it. Runs inline on a pool of 1.
  void RunOnWorker(const std::function<void()>& fn);

  // 0 means every hardware thread (at least 1).
  static int ResolveThreads(int requested);

 private:
  void WorkerLoop();
  // Runs tasks of the current job until none is left.
  void Drain(const std::function<void(int64_t)>& fn, int64_t n);
  void Run(int64_t n, const std::function<void(int64_t)>& fn, bool caller_helps);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable work_cv_;  // workers wait for a new generation or stop
  std::condition_variable done_cv_;  // the caller waits for busy_workers_ == 0
  uint64_t generation_ = 0;          // bumped once per job; guarded by mu_
  bool stop_ = false;
  int busy_workers_ = 0;
  const std::function<void(int64_t)>* job_ = nullptr;  // valid while a job runs
  int64_t job_size_ = 0;
  std::atomic<int64_t> next_index_{0};  // next task index to hand out
};

}  // namespace dynamo::profiler
