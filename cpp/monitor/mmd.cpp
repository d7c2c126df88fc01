#include "monitor/mmd.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "vectors/dot.h"

namespace airtune::monitor {
namespace {

// SplitMix64 stream: the permutation of draw i is seeded by (seed, i), independent of threads.
struct SplitMix {
  uint64_t state;
  uint64_t next() { return core::mix64(state += 0x9E3779B97F4A7C15ULL); }
  uint64_t below(uint64_t n) {  // Lemire's nearly-divisionless bounded draw without bias
    while (true) {
      const uint64_t x = next();
      const __uint128_t m = static_cast<__uint128_t>(x) * n;
      const uint64_t low = static_cast<uint64_t>(m);
      if (low >= n || low >= (-n) % n) return static_cast<uint64_t>(m >> 64);
    }
  }
};

// sum_i w_i sum_j w_j K_ij, w = +1/n1 on the first group and -1/n2 on the second, in a fixed order.
double statistic(const std::vector<float>& K, int64_t n, const std::vector<double>& w) {
  double total = 0;
  for (int64_t i = 0; i < n; ++i) {
    const float* row = K.data() + i * n;
    double inner = 0;
    for (int64_t j = 0; j < n; ++j) inner += w[j] * row[j];
    total += w[i] * inner;
  }
  return total;
}

}  // namespace

MmdResult mmd_test(const float* x, int64_t n1, const float* y, int64_t n2, int64_t d, double bandwidth,
                   int permutations, uint64_t seed) {
  if (n1 < 2 || n2 < 2) throw InvalidArgument("mmd: each sample needs at least 2 rows");
  if (d < 1) throw InvalidArgument("mmd: embeddings need at least one dimension");
  if (permutations < 0) throw InvalidArgument("mmd: permutations must be >= 0");
  const int64_t n = n1 + n2;
  auto row = [&](int64_t i) { return i < n1 ? x + i * d : y + (i - n1) * d; };
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < d; ++j)
      if (!std::isfinite(row(i)[j]))
        throw InvalidArgument(std::string("mmd: ") + (i < n1 ? "first" : "second") + " sample, row " +
                              std::to_string(i < n1 ? i : i - n1) + " has a NaN or infinite value");

  std::vector<float> K(static_cast<size_t>(n * n));
  // ||a - b||^2 = |a|^2 + |b|^2 - 2 a.b with the one exact dot kernel (cpp/vectors/dot.h): the same
  // bits on every CPU. Upper triangle and its mirror: row i writes K[i][j >= i] and K[j][i], entries
  // no other row writes.
  std::vector<double> sq(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) sq[i] = vectors::squared_norm(row(i), d);
  core::parallel_for(static_cast<size_t>(n), 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i)
      for (int64_t j = static_cast<int64_t>(i); j < n; ++j) {
        const double d2 = std::max(0.0, sq[i] + sq[j] - 2.0 * vectors::dot_exact(row(i), row(j), d));
        K[j * n + i] = K[i * n + j] = static_cast<float>(d2);
      }
  });
  MmdResult r;
  if (bandwidth <= 0) {
    std::vector<float> upper;
    upper.reserve(static_cast<size_t>(n * (n - 1) / 2));
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = i + 1; j < n; ++j) upper.push_back(K[i * n + j]);
    auto mid = upper.begin() + static_cast<std::ptrdiff_t>(upper.size() / 2);
    std::nth_element(upper.begin(), mid, upper.end());
    const double med = *mid;
    bandwidth = med > 0 ? std::sqrt(med / 2.0) : 1.0;
  }
  r.bandwidth = bandwidth;
  const double inv = 1.0 / (2.0 * bandwidth * bandwidth);
  core::parallel_for(static_cast<size_t>(n), 64, [&](size_t b, size_t e) {
    for (size_t i = b * n; i < e * n; ++i) K[i] = static_cast<float>(std::exp(-double(K[i]) * inv));
  });

  const double wx = 1.0 / double(n1), wy = -1.0 / double(n2);
  std::vector<double> observed(static_cast<size_t>(n), wy);
  std::fill(observed.begin(), observed.begin() + n1, wx);
  r.mmd2 = std::max(0.0, statistic(K, n, observed));
  r.null.assign(static_cast<size_t>(permutations), 0.0);
  core::parallel_for(static_cast<size_t>(permutations), 1, [&](size_t b, size_t e) {
    std::vector<int64_t> order(static_cast<size_t>(n));
    std::vector<double> w(static_cast<size_t>(n));
    for (size_t p = b; p < e; ++p) {
      SplitMix rng{core::mix64(seed ^ core::mix64(p + 1))};
      std::iota(order.begin(), order.end(), 0);
      for (int64_t i = n - 1; i > 0; --i) std::swap(order[i], order[rng.below(static_cast<uint64_t>(i + 1))]);
      std::fill(w.begin(), w.end(), wy);
      for (int64_t i = 0; i < n1; ++i) w[order[i]] = wx;
      r.null[p] = std::max(0.0, statistic(K, n, w));
    }
  });
  // A permuted statistic within rounding of the observed one counts as at least as large.
  const double tol = 1e-12 * std::max(1.0, r.mmd2);
  int64_t ge = 0;
  for (double v : r.null) ge += v >= r.mmd2 - tol;
  r.p_value = (1.0 + double(ge)) / (1.0 + double(permutations));
  return r;
}

}  // namespace airtune::monitor
