#include <gtest/gtest.h>

#include <atomic>
#include <stdexcept>
#include <vector>

#include "core/error.h"
#include "cpu/thread_pool.h"

namespace a48 {
namespace {

TEST(CpuThreadPool, RunsEveryTaskExactlyOnce) {
  for (int threads : {1, 2, 3, 5}) {
    cpu::ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int64_t n_tasks : {0, 1, 2, 7, 1000}) {
      std::vector<std::atomic<int>> runs(static_cast<std::size_t>(n_tasks));
      pool.run(n_tasks, [&](int64_t task) { runs[static_cast<std::size_t>(task)].fetch_add(1); });
      for (int64_t t = 0; t < n_tasks; ++t) EXPECT_EQ(runs[t].load(), 1) << threads << " " << t;
    }
  }
}

TEST(CpuThreadPool, ManyShortJobsInARow) {
  // A decode step issues hundreds of small jobs: each must see only its own tasks.
  cpu::ThreadPool pool(3);
  std::atomic<int64_t> total{0};
  for (int job = 0; job < 2000; ++job) {
    pool.run(job % 5, [&](int64_t task) { total.fetch_add(task + 1); });
  }
  int64_t expected = 0;
  for (int job = 0; job < 2000; ++job) expected += (job % 5) * (job % 5 + 1) / 2;
  EXPECT_EQ(total.load(), expected);
}

TEST(CpuThreadPool, RethrowsATaskExceptionAndStaysUsable) {
  cpu::ThreadPool pool(2);
  EXPECT_THROW(pool.run(50,
                        [](int64_t task) {
                          if (task == 17) throw std::runtime_error("task 17");
                        }),
               std::runtime_error);
  std::atomic<int> count{0};
  pool.run(10, [&](int64_t) { count.fetch_add(1); });
  EXPECT_EQ(count.load(), 10);
}

TEST(CpuThreadPool, RejectsBadSizes) {
  EXPECT_THROW(cpu::ThreadPool(0), Error);
  EXPECT_THROW(cpu::ThreadPool(-3), Error);
}

}  // namespace
}  // namespace a48
