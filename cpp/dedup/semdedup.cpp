#include "dedup/semdedup.h"

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/enum_names.h"
#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"
#include "dedup/knn.h"
#include "vectors/kmeans.h"
#include "vectors/topk.h"

namespace airtune::dedup {

SemDedupKeep parse_semdedup_keep(const std::string& name) {
  static constexpr core::EnumName<SemDedupKeep> kKeeps[] = {{"hard", SemDedupKeep::kHard},
                                                            {"easy", SemDedupKeep::kEasy},
                                                            {"random", SemDedupKeep::kRandom},
                                                            {"score", SemDedupKeep::kScore}};
  if (const auto keep = core::find_enum(name, kKeeps)) return *keep;
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
  {
    vectors::KMeansOptions ko;
    ko.k = k;
    ko.niter = o.niter;
    ko.seed = o.seed;
    const auto km = vectors::kmeans(xn, n, d, ko);
    for (int64_t i = 0; i < n; ++i) {
      r.cluster[i] = km.assign[i];
      r.centroid_distance[i] = 1.f - km.score[i];
    }
  }
  std::vector<std::vector<int64_t>> members(k);
  for (int64_t i = 0; i < n; ++i) members[r.cluster[i]].push_back(i);
  const double tol = vectors::candidate_tolerance(d, vectors::max_row_norm(xn, n, d), vectors::max_row_norm(xn, n, d));
  vectors::BlasSingleThreaded single;
  oneapi::tbb::enumerable_thread_specific<std::vector<float>> grams;  // reused across row blocks
  // Clusters in parallel, and the row blocks of each cluster in parallel (the arena nests them).
  core::parallel_for(k, 1, [&](size_t c_lo, size_t c_hi) {
    for (size_t c = c_lo; c < c_hi; ++c) {
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
      const auto sz = static_cast<int64_t>(m.size());
      if (sz < 2) continue;
      // Not a per-thread buffer: while this task waits for its row blocks, its thread may run
      // another cluster.
      std::vector<float> mat(static_cast<size_t>(sz * d));
      for (int64_t t = 0; t < sz; ++t) std::copy_n(xn + m[t] * d, d, mat.data() + t * d);
      // Row j (position in the order) gets the exact best of positions [0, j), ties to the earliest.
      constexpr int64_t kRowBlock = 256, kColBlock = 4096;
      const int64_t blocks = (sz - 1 + kRowBlock - 1) / kRowBlock;
      core::parallel_for(blocks, 1, [&](size_t b_lo, size_t b_hi) {
        std::vector<float>& gram = grams.local();
        for (size_t blk = b_lo; blk < b_hi; ++blk) {
          const int64_t r0 = 1 + static_cast<int64_t>(blk) * kRowBlock;
          const int64_t rows = std::min<int64_t>(kRowBlock, sz - r0);
          vectors::TopK best(rows, 1);
          const int64_t col_end = r0 + rows - 1;  // columns [0, col_end) precede some row of the block
          for (int64_t c0 = 0; c0 < col_end; c0 += kColBlock) {
            const int64_t cols = std::min<int64_t>(kColBlock, col_end - c0);
            vectors::offer_block(
                best, mat.data() + r0 * d, rows, mat.data() + c0 * d, cols, d, nullptr, tol,
                [](int64_t t) { return t; }, [c0](int64_t j) { return c0 + j; },
                [r0, c0](int64_t t, int64_t j) { return c0 + j < r0 + t; }, gram);
          }
          for (int64_t t = 0; t < rows; ++t) {
            const int64_t row = m[r0 + t];
            r.max_similarity[row] = static_cast<float>(best.scores(t)[0]);
            r.max_id[row] = best.ids(t)[0] >= 0 ? m[best.ids(t)[0]] : -1;
          }
        }
      });
    }
  });
  return r;
}

}  // namespace airtune::dedup
