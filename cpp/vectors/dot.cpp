#include "vectors/dot.h"

#include <cmath>
#include <limits>

// Wider vectors on CPUs that have them compute the same lane-wise IEEE operations (and an FMA of
// an exact product rounds like the add), so every clone returns the same bits.
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define AIRTUNE_DOT_CLONES __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define AIRTUNE_DOT_CLONES
#endif

namespace airtune::vectors {

AIRTUNE_DOT_CLONES double dot_exact(const float* a, const float* b, int64_t d) {
  constexpr int kLanes = 16;  // independent sums: the adds do not wait on each other
  double s[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= d; i += kLanes)
    for (int l = 0; l < kLanes; ++l) s[l] += static_cast<double>(a[i + l]) * static_cast<double>(b[i + l]);
  for (int l = 0; i + l < d; ++l) s[l] += static_cast<double>(a[i + l]) * static_cast<double>(b[i + l]);
  for (int width = kLanes / 2; width > 0; width /= 2)  // pairwise: lane l += lane l + width
    for (int l = 0; l < width; ++l) s[l] += s[l + width];
  return s[0];
}

double dot_error_bound(int64_t d, double norm_a, double norm_b) {
  const double n = static_cast<double>(d < 1 ? 1 : d);
  const double uf = std::ldexp(1.0, -24), ud = std::ldexp(1.0, -53);
  if (n * uf >= 0.5) return std::numeric_limits<double>::infinity();
  const double gamma_f = n * uf / (1 - n * uf), gamma_d = n * ud / (1 - n * ud);
  const double margin = 1 + std::ldexp(1.0, -20);
  return (gamma_f + gamma_d) * norm_a * norm_b * margin + n * std::ldexp(1.0, -100) * (norm_a + 1) * (norm_b + 1);
}

}  // namespace airtune::vectors
