// BLAS sgemm for blocks computed inside oneTBB tasks, and OpenBLAS's thread count.
//
// airtune parallelises over blocks with oneTBB and calls sgemm on each block with BLAS at one
// thread (BlasSingleThreaded), so the only threads are the arena's. Nothing here is expected to be
// reproducible: OpenBLAS rounds an element differently by kernel (the CPU it picks at run time,
// OPENBLAS_CORETYPE), by its position in a register tile and by thread count. Callers use BLAS
// scores only to find candidates and decide with the fixed-order kernel of dot.h (see topk.h).
//
// Thread safety: gemm_abt is reentrant (each call single-threaded while a BlasSingleThreaded is
// alive anywhere). BlasSingleThreaded is reference counted: the first one alive sets OpenBLAS to one
// thread, the last one restores the count found then.
#pragma once

#include <cstdint>
#include <string>

namespace airtune::vectors {

/// c[i * m + j] = a_i . b_j for row-major a (n x d) and b (m x d); c is n x m, row-major.
/// n, m, d must each be below 2^31 (InvalidArgument otherwise). Float32 arithmetic, BLAS rounding.
void gemm_abt(const float* a, int64_t n, const float* b, int64_t m, int64_t d, float* c);

/// Address of `name` in the libraries this code is linked with (nullptr if absent). Looked up
/// through this object's own handle first: Python loads extension modules with RTLD_LOCAL.
void* linked_symbol(const char* name);

/// OpenBLAS's thread count (1 when the linked BLAS is not OpenBLAS).
int blas_threads();

/// Sets OpenBLAS's thread count (no effect when the linked BLAS is not OpenBLAS).
void set_blas_threads(int n);

/// openblas_get_config() ("" when the linked BLAS is not OpenBLAS).
std::string blas_config();

/// openblas_get_corename(): the kernel OpenBLAS selected for this CPU, e.g. "Zen", "SkylakeX"
/// (OPENBLAS_CORETYPE overrides it); "" when the linked BLAS is not OpenBLAS.
std::string blas_core();

/// While alive, OpenBLAS runs every call on the calling thread.
class BlasSingleThreaded {
 public:
  BlasSingleThreaded();
  ~BlasSingleThreaded();
  BlasSingleThreaded(const BlasSingleThreaded&) = delete;
  BlasSingleThreaded& operator=(const BlasSingleThreaded&) = delete;
};

}  // namespace airtune::vectors
