// A small persistent thread pool for the CPU kernels: `run(n_tasks, fn)` calls fn(task) for every
// task in [0, n_tasks) on the pool's threads and the caller, and returns when all are done.
// Thread i owns the i-th contiguous share of the tasks and takes them from its own counter (its own
// cache line, so taking a task costs no cross-core traffic: a shared counter cost ~125 ns a task
// here); a thread that runs out steals from the others' counters, so a thread slowed by another
// process on the machine simply does fewer tasks. Workers spin briefly after a job (the next
// projection of a decode step usually follows within microseconds), then sleep on a futex.
#pragma once

#include <atomic>
#include <cstdint>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <type_traits>
#include <vector>

namespace a48::cpu {

class ThreadPool {
 public:
  // n_threads >= 1 counts the caller: n_threads - 1 workers are started.
  explicit ThreadPool(int n_threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Runs fn(task) for task in [0, n_tasks); rethrows the first exception a task threw. Not
  // reentrant: one run at a time, from one thread (the pool is one model's forward's).
  template <class F>
  void run(int64_t n_tasks, F&& fn) {
    using Fn = std::remove_reference_t<F>;
    run_tasks(
        n_tasks, [](void* f, int64_t task) { (*static_cast<Fn*>(f))(task); },
        const_cast<void*>(static_cast<const void*>(&fn)));
  }

 private:
  using Trampoline = void (*)(void*, int64_t);
  void run_tasks(int64_t n_tasks, Trampoline call, void* fn);
  void work_on_current_job(int self);
  void worker_loop(int self);

  // Thread i's share of the current job: tasks [next, end), taken with fetch_add on `next`.
  struct alignas(64) Share {
    std::atomic<int64_t> next{0};
    int64_t end = 0;
  };

  std::vector<std::thread> workers_;
  // The current job; written by the caller before `generation_` is bumped.
  Trampoline call_ = nullptr;
  void* fn_ = nullptr;
  std::unique_ptr<Share[]> shares_;      // [size()], index 0 is the caller
  std::atomic<int> busy_workers_{0};     // workers still inside the current job
  std::atomic<uint32_t> generation_{0};  // bumped once per job (and at shutdown)
  std::atomic<bool> stop_{false};
  std::mutex error_mutex_;
  std::exception_ptr error_;
};

}  // namespace a48::cpu
