#include "core/prefault.h"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23  // Linux 5.14 (older headers lack the name)
#endif

namespace airtune::core {

void prefault_for_write(const void* p, size_t bytes) noexcept {
  constexpr size_t kMinBytes = size_t{64} << 10;  // below this the faults cost less than the call
  if (bytes < kMinBytes) return;
  static const uintptr_t page = static_cast<uintptr_t>(sysconf(_SC_PAGESIZE));
  const auto begin = (reinterpret_cast<uintptr_t>(p) + page - 1) & ~(page - 1);
  const auto end = (reinterpret_cast<uintptr_t>(p) + bytes) & ~(page - 1);
  if (end <= begin) return;
  // EINVAL on kernels without it: ignored, like every other failure (the faults happen as before)
  (void)madvise(reinterpret_cast<void*>(begin), end - begin, MADV_POPULATE_WRITE);
}

}  // namespace airtune::core
