#include "core/threading.h"

#include <oneapi/tbb/blocked_range.h>
#include <oneapi/tbb/parallel_for.h>
#include <oneapi/tbb/task_arena.h>

#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "core/errors.h"

namespace airtune::core {

namespace {

int default_threads() {
  if (const char* env = std::getenv("AIRTUNE_NUM_THREADS")) {
    char* end = nullptr;
    long v = std::strtol(env, &end, 10);
    if (end != env && *end == '\0' && v >= 1 && v <= 4096) return static_cast<int>(v);
  }
  unsigned hw = std::thread::hardware_concurrency();
  return hw == 0 ? 1 : static_cast<int>(hw);
}

struct ArenaState {
  std::mutex mutex;
  int threads = default_threads();
  std::unique_ptr<oneapi::tbb::task_arena> arena;
  std::vector<std::function<void(int)>> hooks;

  oneapi::tbb::task_arena& get() {
    std::lock_guard<std::mutex> lock(mutex);
    if (!arena) arena = std::make_unique<oneapi::tbb::task_arena>(threads);
    return *arena;
  }
};

ArenaState& state() {
  static ArenaState s;
  return s;
}

}  // namespace

void set_num_threads(int n) {
  if (n < 1) throw InvalidArgument("set_num_threads: n must be >= 1, got " + std::to_string(n));
  auto& s = state();
  std::vector<std::function<void(int)>> hooks;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.threads = n;
    s.arena = std::make_unique<oneapi::tbb::task_arena>(n);
    hooks = s.hooks;
  }
  for (auto& hook : hooks) hook(n);
}

int num_threads() {
  auto& s = state();
  std::lock_guard<std::mutex> lock(s.mutex);
  return s.threads;
}

void on_num_threads_changed(std::function<void(int)> hook) {
  auto& s = state();
  int n;
  {
    std::lock_guard<std::mutex> lock(s.mutex);
    s.hooks.push_back(hook);
    n = s.threads;
  }
  hook(n);
}

void run_in_arena(const std::function<void()>& fn) { state().get().execute(fn); }

void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn) {
  if (n == 0) return;
  if (grain == 0) grain = 1;
  if (n <= grain) {
    fn(0, n);
    return;
  }
  run_in_arena([&] {
    oneapi::tbb::parallel_for(
        oneapi::tbb::blocked_range<size_t>(0, n, grain),
        [&](const oneapi::tbb::blocked_range<size_t>& r) { fn(r.begin(), r.end()); },
        oneapi::tbb::simple_partitioner());
  });
}

}  // namespace airtune::core
