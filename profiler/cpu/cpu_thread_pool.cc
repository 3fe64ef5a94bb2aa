#include "profiler/cpu/cpu_thread_pool.h"

#include <algorithm>

#include "core/check.h"

namespace dynamo::profiler {

ThreadPool::ThreadPool(int threads) {
  DYNAMO_CHECK(threads >= 1);
  workers_.reserve(static_cast<size_t>(threads - 1));
  for (int i = 0; i + 1 < threads; ++i) workers_.emplace_back([this] { WorkerLoop(); });
}

ThreadPool::~ThreadPool() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_ = true;
  }
  work_cv_.notify_all();
  for (std::thread& t : workers_) t.join();
}

int ThreadPool::ResolveThreads(int requested) {
  if (requested > 0) return requested;
  return std::max(1, static_cast<int>(std::thread::hardware_concurrency()));
}

void ThreadPool::Drain(const std::function<void(int64_t)>& fn, int64_t n) {
  for (int64_t i = next_index_.fetch_add(1); i < n; i = next_index_.fetch_add(1)) fn(i);
}

void ThreadPool::WorkerLoop() {
  uint64_t seen = 0;
  for (;;) {
    const std::function<void(int64_t)>* fn = nullptr;
    int64_t n = 0;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
      fn = job_;
      n = job_size_;
    }
    Drain(*fn, n);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_workers_ == 0) done_cv_.notify_one();
    }
  }
}

void ThreadPool::Run(int64_t n, const std::function<void(int64_t)>& fn, bool caller_helps) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    job_ = &fn;
    job_size_ = n;
    next_index_.store(0);
    // Every worker checks in once per generation, even when no task is left for it, so the
    // job (and `fn`) stays alive until the last worker has let go of it.
    busy_workers_ = static_cast<int>(workers_.size());
    ++generation_;
  }
  work_cv_.notify_all();
  if (caller_helps) Drain(fn, n);
  std::unique_lock<std::mutex> lock(mu_);
  done_cv_.wait(lock, [&] { return busy_workers_ == 0; });
  job_ = nullptr;
}

void ThreadPool::ParallelFor(int64_t n, const std::function<void(int64_t)>& fn) {
  if (n <= 0) return;
  if (workers_.empty() || n == 1) {
    for (int64_t i = 0; i < n; ++i) fn(i);
    return;
  }
  Run(n, fn, /*caller_helps=*/true);
}

void ThreadPool::RunOnWorker(const std::function<void()>& fn) {
  const std::function<void(int64_t)> task = [&fn](int64_t) { fn(); };
  if (workers_.empty()) {
    task(0);
    return;
  }
  Run(1, task, /*caller_helps=*/false);
}

}  // namespace dynamo::profiler
