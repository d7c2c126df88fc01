#include "vectors/blas.h"

#include <dlfcn.h>

#include <climits>
#include <mutex>

#include "core/errors.h"

extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc);

namespace airtune::vectors {
namespace {

using set_fn = void (*)(int);
using get_fn = int (*)();
using config_fn = char* (*)();

int checked_int(int64_t v, const char* what) {
  if (v < 0 || v > INT_MAX) throw InvalidArgument(std::string("gemm: ") + what + " out of BLAS range");
  return static_cast<int>(v);
}

struct SingleThreadState {
  std::mutex mutex;
  int holders = 0;
  int saved = 1;
};

SingleThreadState& single_thread_state() {
  static SingleThreadState s;
  return s;
}

}  // namespace

void* linked_symbol(const char* name) {
  // This object's own scope first (the extension module's dependencies, not whatever else the
  // process loaded globally), then the global scope (executables such as the C++ tests).
  Dl_info self{};
  if (dladdr(reinterpret_cast<void*>(&linked_symbol), &self) && self.dli_fname) {
    if (void* handle = dlopen(self.dli_fname, RTLD_LAZY | RTLD_NOLOAD)) {
      void* sym = dlsym(handle, name);
      dlclose(handle);
      if (sym) return sym;
    }
  }
  return dlsym(RTLD_DEFAULT, name);
}

void gemm_abt(const float* a, int64_t n, const float* b, int64_t m, int64_t d, float* c) {
  if (n == 0 || m == 0) return;
  const int ni = checked_int(n, "rows"), mi = checked_int(m, "columns"), di = checked_int(d, "dimension");
  const float one = 1.f, zero = 0.f;
  // Column-major view: C^T (m x n) = B (m x d) * A^T (d x n).
  sgemm_("T", "N", &mi, &ni, &di, &one, b, &di, a, &di, &zero, c, &mi);
}

int blas_threads() {
  static const auto fn = reinterpret_cast<get_fn>(linked_symbol("openblas_get_num_threads"));
  return fn ? fn() : 1;
}

void set_blas_threads(int n) {
  static const auto fn = reinterpret_cast<set_fn>(linked_symbol("openblas_set_num_threads"));
  if (fn) fn(n);
}

std::string blas_config() {
  static const auto fn = reinterpret_cast<config_fn>(linked_symbol("openblas_get_config"));
  return fn ? std::string(fn()) : std::string();
}

std::string blas_core() {
  static const auto fn = reinterpret_cast<config_fn>(linked_symbol("openblas_get_corename"));
  return fn ? std::string(fn()) : std::string();
}

BlasSingleThreaded::BlasSingleThreaded() {
  auto& s = single_thread_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (s.holders++ == 0) {
    s.saved = blas_threads();
    if (s.saved != 1) set_blas_threads(1);
  }
}

BlasSingleThreaded::~BlasSingleThreaded() {
  auto& s = single_thread_state();
  std::lock_guard<std::mutex> lock(s.mutex);
  if (--s.holders == 0 && s.saved != 1) set_blas_threads(s.saved);
}

}  // namespace airtune::vectors
