// Backing a buffer's pages before it is written, in one system call.
//
// A large output buffer (a reserved std::string or vector) gets its physical pages one 4 KiB page
// fault at a time as it is first written: for read_jsonl's ~270 MB of records that is ~70k faults,
// each a trap into the kernel (and, in a virtual machine, often a second one into the host).
// Linux 5.14's MADV_POPULATE_WRITE backs a whole range in one call, the same zeroed pages without
// the traps. (Asking for 2 MiB pages as well, MADV_HUGEPAGE, was faster alone and erratic beside
// other work: direct compaction on a fragmented machine, up to 0.35 s of kernel time per read of a
// 268 MB file; left out.) The range must be memory the process owns and is about to write (e.g.
// between a container's size and its reserved capacity); nothing in it is read or changed.
#pragma once

#include <cstddef>

namespace airtune::core {

/// Backs the whole pages inside [p, p + bytes) with writable memory now. Best effort: a no-op
/// below 64 KiB, where the kernel lacks MADV_POPULATE_WRITE, or on any error (the writes then fault
/// page by page as usual). Thread-safe.
void prefault_for_write(const void* p, size_t bytes) noexcept;

/// The same for the part of `c` (a std::string or vector) that growing it to `new_size` elements
/// will write: [c.data() + c.size(), c.data() + new_size), which must lie within c.capacity().
template <typename Container>
void prefault_tail(const Container& c, size_t new_size) noexcept {
  if (new_size > c.size() && new_size <= c.capacity())
    prefault_for_write(c.data() + c.size(), (new_size - c.size()) * sizeof(typename Container::value_type));
}

}  // namespace airtune::core
