#include "dedup/semdedup.h"

#include <omp.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "dedup/kmeans.h"
#include "dedup/knn.h"

extern "C" int sgemm_(const char* transa, const char* transb, const int* m, const int* n, const int* k,
                      const float* alpha, const float* a, const int* lda, const float* b, const int* ldb,
                      const float* beta, float* c, const int* ldc);

namespace airtune::dedup {

SemDedupKeep parse_semdedup_keep(const std::string& name) {
  if (name == "hard") return SemDedupKeep::kHard;
  if (name == "easy") return SemDedupKeep::kEasy;
  if (name == "random") return SemDedupKeep::kRandom;
  if (name == "score") return SemDedupKeep::kScore;
  throw InvalidArgument("keep: expected 'hard', 'easy', 'random' or 'score', got '" + name + "'");
}

SemDedupResult semdedup(const float* x, int64_t n, int64_t d, const SemDedupOptions& o,
                        std::span<const double> scores) {
  if (n < 0 || d < 1) throw InvalidArgument("embeddings: expected a (rows x dims) matrix");
  if (o.keep == SemDedupKeep::kScore && static_cast<int64_t>(scores.size()) != n)
    throw InvalidArgument("keep='score': scores has " + std::to_string(scores.size()) + " entries, expected " +
                          std::to_string(n));
  SemDedupResult r;
  r.cluster.assign(n, 0);
  r.centroid_distance.assign(n, 0.f);
  r.max_similarity.assign(n, -1.f);
  r.max_id.assign(n, -1);
  if (n == 0) return r;
  // Unit rows are used in place; others are normalised into a copy (which also rejects zero/NaN rows).
  std::vector<float> copy;
  const float* xn = x;
  if (!rows_are_unit(x, n, d)) {
    copy = l2_normalized(x, n, d);
    xn = copy.data();
  }
  int k = o.n_clusters > 0 ? o.n_clusters : std::max(1, static_cast<int>(std::lround(std::sqrt(double(n)))));
  k = static_cast<int>(std::min<int64_t>(k, n));
  r.n_clusters = k;
  omp_set_num_threads(core::num_threads());
  {
    KMeansResult km = spherical_kmeans(xn, n, d, k, o.niter, o.seed);
    for (int64_t i = 0; i < n; ++i) {
      r.cluster[i] = km.assign[i];
      r.centroid_distance[i] = 1.f - km.similarity[i];
    }
  }
  std::vector<std::vector<int64_t>> members(k);
  for (int64_t i = 0; i < n; ++i) members[r.cluster[i]].push_back(i);
  constexpr int kRowBlock = 256, kColBlock = 4096;
  std::vector<float> mat, gram(static_cast<size_t>(kRowBlock) * kColBlock);
  const int di = static_cast<int>(d);
  for (int c = 0; c < k; ++c) {
    auto& m = members[c];
    auto order_key = [&](int64_t i) -> double {
      switch (o.keep) {
        case SemDedupKeep::kHard:
          return -r.centroid_distance[i];
        case SemDedupKeep::kEasy:
          return r.centroid_distance[i];
        case SemDedupKeep::kRandom:
          return static_cast<double>(core::mix64(o.seed ^ static_cast<uint64_t>(i)) >> 11);
        case SemDedupKeep::kScore:
          return -scores[i];
      }
      return 0.0;
    };
    std::stable_sort(m.begin(), m.end(), [&](int64_t a, int64_t b) {
      const double ka = order_key(a), kb = order_key(b);
      return ka < kb || (ka == kb && a < b);
    });
    const int64_t sz = static_cast<int64_t>(m.size());
    if (sz < 2) continue;
    mat.resize(static_cast<size_t>(sz * d));
    for (int64_t t = 0; t < sz; ++t) std::copy_n(xn + m[t] * d, d, mat.data() + t * d);
    for (int64_t r0 = 1; r0 < sz; r0 += kRowBlock) {
      const int rows = static_cast<int>(std::min<int64_t>(kRowBlock, sz - r0));
      std::vector<float> best(rows, -2.f);
      std::vector<int64_t> best_at(rows, -1);
      const int64_t col_end = r0 + rows - 1;  // columns [0, col_end) can precede some row of the block
      for (int64_t c0 = 0; c0 < col_end; c0 += kColBlock) {
        const int cols = static_cast<int>(std::min<int64_t>(kColBlock, col_end - c0));
        const float one = 1.f, zero = 0.f;
        sgemm_("T", "N", &cols, &rows, &di, &one, mat.data() + c0 * d, &di, mat.data() + r0 * d, &di, &zero,
               gram.data(), &cols);
        for (int rr = 0; rr < rows; ++rr) {
          const int64_t j = r0 + rr;
          const int64_t limit = std::min<int64_t>(cols, j - c0);
          const float* g = gram.data() + static_cast<size_t>(rr) * cols;
          for (int64_t cc = 0; cc < limit; ++cc)
            if (g[cc] > best[rr]) {
              best[rr] = g[cc];
              best_at[rr] = c0 + cc;
            }
        }
      }
      for (int rr = 0; rr < rows; ++rr) {
        const int64_t row = m[r0 + rr];
        r.max_similarity[row] = best[rr];
        r.max_id[row] = best_at[rr] >= 0 ? m[best_at[rr]] : -1;
      }
    }
  }
  return r;
}

}  // namespace airtune::dedup
