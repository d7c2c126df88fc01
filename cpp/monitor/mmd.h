// Two-sample test of embedding drift: maximum mean discrepancy (MMD) with a permutation p-value.
//
// x (n1 x d) and y (n2 x d) are float32, row-major, not modified. The kernel is Gaussian,
// k(a, b) = exp(-||a - b||^2 / (2 bandwidth^2)); bandwidth <= 0 picks the median heuristic
// (bandwidth^2 = median of ||a - b||^2 over all pairs of the pooled rows / 2; Gretton et al. 2012).
// The statistic is the biased estimate MMD^2 = mean k(x, x') + mean k(y, y') - 2 mean k(x, y)
// (diagonal included, so it is >= 0); its null distribution comes from `permutations` random
// relabellings of the pooled rows, and p = (1 + #{null >= observed}) / (1 + permutations).
//
// Deterministic whatever the thread count and CPU: distances come from the exact dot kernel
// (cpp/vectors/dot.h, no BLAS), permutation i draws from a generator seeded by (seed, i), and each
// permutation's sum runs in a fixed order on one thread.
//
// Cost: (n1 + n2)^2 d / 2 multiply-adds for the kernel matrix, (n1 + n2)^2 per permutation.
// Memory: the pooled kernel matrix, (n1 + n2)^2 floats (callers subsample: n1, n2 <= a few
// thousand). Threads: the airtune arena (parallel over rows, then over permutations).
#pragma once

#include <cstdint>
#include <vector>

namespace airtune::monitor {

struct MmdResult {
  double mmd2 = 0;           ///< observed biased MMD^2
  double p_value = 1;        ///< permutation p-value (1 when permutations == 0)
  double bandwidth = 0;      ///< the kernel bandwidth used
  std::vector<double> null;  ///< MMD^2 of each permutation, in permutation order
};

/// InvalidArgument when n1 < 2, n2 < 2, d < 1, a value is not finite or permutations < 0.
MmdResult mmd_test(const float* x, int64_t n1, const float* y, int64_t n2, int64_t d, double bandwidth,
                   int permutations, uint64_t seed);

}  // namespace airtune::monitor
