// K-means for distribution-gap analysis (FAISS Clustering over an exact L2 index).
//
// x is n x d float32, row-major, not modified. Returns k x d centroids, each row's nearest
// centroid and its squared L2 distance. FAISS seeds its initial centroids from `seed`; the result
// does not depend on airtune's thread count (FAISS's per-centroid sums are in a fixed order).
// Thread safety: reentrant. Memory: O((n + k) d).
#pragma once

#include <cstdint>
#include <vector>

namespace airtune::prompts {

struct KMeansResult {
  std::vector<float> centroids;  ///< k x d
  std::vector<int64_t> assign;   ///< n
  std::vector<float> distance;   ///< n, squared L2 to the assigned centroid
  double inertia = 0;            ///< sum of distance
  int64_t k = 0, d = 0;
};

/// nredo runs from different seeds keep the lowest objective. 1 <= k <= n, d >= 1, niter >= 1, nredo >= 1; else
/// InvalidArgument. Non-finite values throw InvalidArgument naming the row.
KMeansResult kmeans(const float* x, int64_t n, int64_t d, int64_t k, int niter, uint64_t seed, int nredo = 1);

}  // namespace airtune::prompts
