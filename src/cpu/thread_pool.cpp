#include "cpu/thread_pool.h"

#include <chrono>

#include "core/error.h"
#include "cpu/cpu_relax.h"

namespace a48::cpu {

namespace {

// How long a waiting thread spins before it sleeps: longer than the gap between two projections
// of one decode step (a futex wake-up costs tens of microseconds in a VM), short enough not to hold
// a core for long once the work stops. Timed by the clock: `pause` lasts 11 ns on one CPU and
// 140 cycles on another.
constexpr auto kSpinTime = std::chrono::microseconds(100);

// Spins until ready() or kSpinTime has passed; returns ready().
template <class Ready>
bool spin_until(Ready ready) {
  if (ready()) return true;
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 16; ++i) {
      cpu_relax();
      if (ready()) return true;
    }
    if (std::chrono::steady_clock::now() > deadline) return ready();
  }
}

}  // namespace

ThreadPool::ThreadPool(int n_threads) {
  check(n_threads >= 1 && n_threads <= 1024, "thread pool: {} threads (expected 1 to 1024)",
        n_threads);
  shares_ = std::make_unique<Share[]>(static_cast<std::size_t>(n_threads));
  workers_.reserve(static_cast<std::size_t>(n_threads - 1));
  for (int i = 1; i < n_threads; ++i) workers_.emplace_back([this, i] { worker_loop(i); });
}

ThreadPool::~ThreadPool() {
  stop_.store(true, std::memory_order_release);
  generation_.fetch_add(1, std::memory_order_acq_rel);
  generation_.notify_all();
  for (std::thread& t : workers_) t.join();
}

void ThreadPool::work_on_current_job(int self) {
  const int n = size();
  for (int k = 0; k < n; ++k) {  // own share first, then steal from the others in turn
    Share& share = shares_[static_cast<std::size_t>((self + k) % n)];
    for (;;) {
      const int64_t task = share.next.fetch_add(1, std::memory_order_relaxed);
      if (task >= share.end) break;
      try {
        call_(fn_, task);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex_);
        if (!error_) error_ = std::current_exception();
      }
    }
  }
}

void ThreadPool::worker_loop(int self) {
  uint32_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      generation_.wait(seen, std::memory_order_acquire);
      continue;
    }
    seen = generation_.load(std::memory_order_acquire);
    if (stop_.load(std::memory_order_acquire)) return;
    work_on_current_job(self);
    if (busy_workers_.fetch_sub(1, std::memory_order_acq_rel) == 1) busy_workers_.notify_one();
  }
}

void ThreadPool::run_tasks(int64_t n_tasks, Trampoline call, void* fn) {
  if (n_tasks <= 0) return;
  if (workers_.empty() || n_tasks == 1) {
    for (int64_t task = 0; task < n_tasks; ++task) call(fn, task);
    return;
  }
  call_ = call;
  fn_ = fn;
  error_ = nullptr;
  const int n = size();
  for (int i = 0; i < n; ++i) {
    Share& share = shares_[static_cast<std::size_t>(i)];
    share.next.store(n_tasks * i / n, std::memory_order_relaxed);
    share.end = n_tasks * (i + 1) / n;
  }
  busy_workers_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
  generation_.fetch_add(1, std::memory_order_acq_rel);  // publishes the job
  generation_.notify_all();
  work_on_current_job(0);
  // Every worker passes through the job (possibly finding no task left) before it can see the
  // next generation, so the job's fields stay valid until busy_workers_ reaches 0.
  spin_until([&] { return busy_workers_.load(std::memory_order_acquire) == 0; });
  for (int busy = busy_workers_.load(std::memory_order_acquire); busy != 0;
       busy = busy_workers_.load(std::memory_order_acquire)) {
    busy_workers_.wait(busy, std::memory_order_acquire);
  }
  if (error_) std::rethrow_exception(error_);
}

}  // namespace a48::cpu
