#include "dedup/kmeans.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "core/errors.h"
#include "core/hash.h"

extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc);

namespace airtune::dedup {
namespace {

// Seeded Fisher-Yates over [0, n): the first `take` entries of a random permutation.
std::vector<int64_t> sample_rows(int64_t n, int64_t take, uint64_t seed) {
  std::vector<int64_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  uint64_t state = seed;
  for (int64_t i = 0; i < take && i < n - 1; ++i) {
    state = core::mix64(state + 0x9E3779B97F4A7C15ULL);
    const int64_t j = i + static_cast<int64_t>(state % static_cast<uint64_t>(n - i));
    std::swap(idx[i], idx[j]);
  }
  idx.resize(std::min(take, n));
  return idx;
}

void normalize_rows(float* c, int k, int64_t d) {
  for (int j = 0; j < k; ++j) {
    double s = 0;
    for (int64_t t = 0; t < d; ++t) s += double(c[j * d + t]) * c[j * d + t];
    if (s > 0) {
      const auto inv = static_cast<float>(1.0 / std::sqrt(s));
      for (int64_t t = 0; t < d; ++t) c[j * d + t] *= inv;
    }
  }
}

}  // namespace

void assign_to_centroids(const float* x, int64_t n, int64_t d, const float* centroids, int k, int32_t* assign,
                         float* similarity) {
  constexpr int64_t kBlock = 4096;
  std::vector<float> gram(static_cast<size_t>(std::min(kBlock, n)) * k);
  const int di = static_cast<int>(d);
  for (int64_t r0 = 0; r0 < n; r0 += kBlock) {
    const int rows = static_cast<int>(std::min(kBlock, n - r0));
    const float one = 1.f, zero = 0.f;
    sgemm_("T", "N", &k, &rows, &di, &one, centroids, &di, x + r0 * d, &di, &zero, gram.data(), &k);
    for (int r = 0; r < rows; ++r) {
      const float* g = gram.data() + static_cast<size_t>(r) * k;
      int best = 0;
      for (int j = 1; j < k; ++j)
        if (g[j] > g[best]) best = j;
      assign[r0 + r] = best;
      similarity[r0 + r] = g[best];
    }
  }
}

KMeansResult spherical_kmeans(const float* x, int64_t n, int64_t d, int k, int niter, uint64_t seed,
                              int64_t max_points_per_centroid) {
  if (n < 1 || d < 1) throw InvalidArgument("kmeans: needs at least one row");
  if (k < 1) throw InvalidArgument("kmeans: n_clusters must be >= 1");
  if (niter < 0) throw InvalidArgument("kmeans: niter must be >= 0");
  KMeansResult res;
  res.k = static_cast<int>(std::min<int64_t>(k, n));
  const int kk = res.k;
  // Training sample.
  std::vector<float> sample;
  const float* xt = x;
  int64_t nt = n;
  const int64_t cap = std::max<int64_t>(kk, max_points_per_centroid * kk);
  if (max_points_per_centroid > 0 && n > cap) {
    auto rows = sample_rows(n, cap, seed ^ 0x5A3F);
    std::sort(rows.begin(), rows.end());
    sample.resize(static_cast<size_t>(cap) * d);
    for (int64_t i = 0; i < cap; ++i) std::copy_n(x + rows[i] * d, d, sample.data() + i * d);
    xt = sample.data();
    nt = cap;
  }
  // Init: k distinct training rows.
  res.centroids.resize(static_cast<size_t>(kk) * d);
  const auto init = sample_rows(nt, kk, seed);
  for (int j = 0; j < kk; ++j) std::copy_n(xt + init[j] * d, d, res.centroids.data() + static_cast<size_t>(j) * d);
  std::vector<int32_t> a(nt);
  std::vector<float> s(nt);
  std::vector<double> sum(static_cast<size_t>(kk) * d);
  std::vector<int64_t> count(kk);
  double previous = -std::numeric_limits<double>::infinity();
  for (int it = 0; it < niter && kk > 1; ++it) {
    assign_to_centroids(xt, nt, d, res.centroids.data(), kk, a.data(), s.data());
    double objective = 0;
    for (int64_t i = 0; i < nt; ++i) objective += s[i];
    if (objective - previous <= 1e-4 * std::abs(objective)) break;  // converged
    previous = objective;
    std::fill(sum.begin(), sum.end(), 0.0);
    std::fill(count.begin(), count.end(), 0);
    for (int64_t i = 0; i < nt; ++i) {
      ++count[a[i]];
      double* dst = sum.data() + static_cast<size_t>(a[i]) * d;
      const float* src = xt + i * d;
      for (int64_t t = 0; t < d; ++t) dst[t] += src[t];
    }
    std::vector<uint8_t> taken(nt, 0);
    for (int j = 0; j < kk; ++j) {
      float* c = res.centroids.data() + static_cast<size_t>(j) * d;
      if (count[j] > 0) {
        for (int64_t t = 0; t < d; ++t) c[t] = static_cast<float>(sum[static_cast<size_t>(j) * d + t]);
        continue;
      }
      // Empty cluster: re-seed with the worst-fitting row not yet used for this purpose.
      int64_t worst = -1;
      for (int64_t i = 0; i < nt; ++i)
        if (!taken[i] && (worst < 0 || s[i] < s[worst])) worst = i;
      if (worst >= 0) {
        taken[worst] = 1;
        std::copy_n(xt + worst * d, d, c);
      }
    }
    normalize_rows(res.centroids.data(), kk, d);
  }
  if (kk == 1) {
    std::vector<double> c(d, 0.0);
    for (int64_t i = 0; i < n; ++i)
      for (int64_t t = 0; t < d; ++t) c[t] += x[i * d + t];
    for (int64_t t = 0; t < d; ++t) res.centroids[t] = static_cast<float>(c[t]);
    normalize_rows(res.centroids.data(), 1, d);
  }
  res.assign.resize(n);
  res.similarity.resize(n);
  assign_to_centroids(x, n, d, res.centroids.data(), kk, res.assign.data(), res.similarity.data());
  return res;
}

}  // namespace airtune::dedup
