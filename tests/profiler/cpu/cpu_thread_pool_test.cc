#include "profiler/cpu/cpu_thread_pool.h"

#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

namespace dynamo::profiler {
namespace {

TEST(CpuThreadPoolTest, ParallelForRunsEveryIndexOnce) {
  for (int threads : {1, 2, 4}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    // Many small jobs back to back: each must see all of its indices exactly once, and none
    // may leak into the next job.
    for (int64_t n : {0, 1, 2, 3, 7, 100, 1000}) {
      std::vector<std::atomic<int>> hits(static_cast<size_t>(n));
      pool.ParallelFor(n, [&](int64_t i) { hits[static_cast<size_t>(i)].fetch_add(1); });
      for (int64_t i = 0; i < n; ++i) {
        ASSERT_EQ(hits[static_cast<size_t>(i)].load(), 1) << "n " << n << " i " << i;
      }
    }
  }
}

TEST(CpuThreadPoolTest, RunOnWorkerRunsOffTheCallingThread) {
  ThreadPool pool(2);
  std::thread::id ran_on;
  pool.RunOnWorker([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_NE(ran_on, std::this_thread::get_id());
  ThreadPool inline_pool(1);
  inline_pool.RunOnWorker([&] { ran_on = std::this_thread::get_id(); });
  EXPECT_EQ(ran_on, std::this_thread::get_id());
}

TEST(CpuThreadPoolTest, ResolveThreads) {
  EXPECT_EQ(ThreadPool::ResolveThreads(3), 3);
  EXPECT_GE(ThreadPool::ResolveThreads(0), 1);
}

}  // namespace
}  // namespace dynamo::profiler
