#include <gtest/gtest.h>

#include <atomic>
#include <numeric>
#include <stdexcept>
#include <vector>

#include "core/errors.h"
#include "core/threading.h"

namespace core = airtune::core;

TEST(Threading, ParallelForCoversEveryItemOnce) {
  for (int threads : {1, 2, 3}) {
    core::set_num_threads(threads);
    std::vector<int> hits(10007, 0);
    core::parallel_for(hits.size(), 64, [&](size_t b, size_t e) {
      ASSERT_LE(e - b, 64u);
      for (size_t i = b; i < e; ++i) hits[i] += 1;
    });
    for (int h : hits) ASSERT_EQ(h, 1);
  }
}

TEST(Threading, RejectsZeroThreads) { EXPECT_THROW(core::set_num_threads(0), airtune::InvalidArgument); }

TEST(Threading, HooksSeeTheNewSize) {
  // Hooks live as long as the process (later tests call set_num_threads too): what the hook
  // writes must outlive this test, or those calls write into a dead stack frame.
  static std::atomic<int> seen{0};
  core::on_num_threads_changed([&](int n) { seen = n; });
  core::set_num_threads(3);
  EXPECT_EQ(seen.load(), 3);
  EXPECT_EQ(core::num_threads(), 3);
}

TEST(Threading, ExceptionsPropagate) {
  core::set_num_threads(2);
  EXPECT_THROW(core::parallel_for(1000, 10,
                                  [](size_t b, size_t) {
                                    if (b >= 500) throw std::runtime_error("boom");
                                  }),
               std::runtime_error);
}
