// Outlier scores on embeddings: mean kNN distance with an IQR fence (cleanlab's rule), local
// outlier factor (the definition of scikit-learn's LocalOutlierFactor, exact Euclidean kNN), and
// distance to the centroid or to the nearest reference row.
//
// Deterministic: every kNN is the exact top-k of knn.h (same bits at any thread count and BLAS
// kernel; exact copies tie at distance 0 and rank by id).
// Thread safety: pure functions over their inputs; kNN searches use the oneTBB arena (knn.h).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "dedup/knn.h"

namespace airtune::dedup {

struct OutlierScores {
  std::vector<double> score;  ///< higher = more outlying
  std::vector<uint8_t> flag;  ///< 1 = outlier
  double fence = 0;           ///< score above which a row is flagged
};

/// Q3 + factor * (Q3 - Q1) of `values` (quartiles by linear interpolation, numpy's default).
double iqr_fence(std::span<const double> values, double factor);

/// Score = mean cosine distance (1 - similarity) to the k neighbours of a cosine kNN graph;
/// flagged above iqr_fence(scores, factor).
OutlierScores knn_distance_outliers(const KnnGraph& graph, double factor);

/// Local outlier factor with k neighbours on raw vectors (Euclidean): lrd(p) = 1 / (mean over
/// neighbours o of max(k-dist(o), d(p, o)) + 1e-10), LOF(p) = mean lrd(neighbours) / lrd(p).
/// Flagged when LOF > `threshold` (1.5 = scikit-learn's contamination="auto" offset).
OutlierScores lof_outliers(const float* x, int64_t n, int64_t d, int64_t k, double threshold);

/// Score = 1 - cosine to the normalised mean of the normalised rows; IQR fence.
OutlierScores centroid_outliers(const float* x, int64_t n, int64_t d, double factor);

/// Score = 1 - cosine to the nearest reference row; the fence is iqr_fence of the reference rows'
/// own distances to their nearest other reference row (needs >= 2 reference rows).
OutlierScores reference_outliers(const float* x, int64_t n, const float* ref, int64_t nr, int64_t d, double factor,
                                 const SearchOptions& options);

}  // namespace airtune::dedup
