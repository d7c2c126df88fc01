// The one oneTBB arena that all parallel work of airtune runs in.
//
// Its size comes from set_num_threads(), else the AIRTUNE_NUM_THREADS environment variable, else
// the number of hardware threads. Results never depend on the size: parallel code writes each
// item's result to its own slot and combines slots in a fixed order.
//
// Thread safety: set_num_threads() must not be called while parallel work is running; everything
// else may be called from any thread.
#pragma once

#include <cstddef>
#include <functional>

namespace airtune::core {

/// Resizes the arena. n >= 1; throws InvalidArgument otherwise. Also applies the hooks registered
/// with on_num_threads_changed (used to keep OpenMP/BLAS thread counts in step).
void set_num_threads(int n);

/// The arena's current size (>= 1).
int num_threads();

/// Registers a callback run with the new size whenever set_num_threads() is called (and once now).
/// Hooks stay registered for the life of the process: whatever they capture must live as long.
void on_num_threads_changed(std::function<void(int)> hook);

/// Runs fn(begin, end) over [0, n) in chunks of at most `grain` items inside the arena.
/// Chunks may run in any order and on any thread; fn must only write per-item state.
/// Exceptions thrown by fn propagate to the caller (the first one oneTBB captures).
void parallel_for(size_t n, size_t grain, const std::function<void(size_t, size_t)>& fn);

/// Runs fn() inside the arena (for code that uses oneTBB algorithms directly).
void run_in_arena(const std::function<void()>& fn);

}  // namespace airtune::core
