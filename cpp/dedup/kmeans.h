// Spherical k-means on unit-length rows, with the assignment step done by BLAS sgemm.
//
// Initialisation: k distinct rows drawn by a seeded shuffle (FAISS's default "random" init).
// Each of `niter` rounds assigns every training row to the centroid of largest inner product
// (sgemm in blocks of 4096 rows, ties to the lower centroid), then sets each centroid to the
// normalised mean of its rows; a centroid left empty is re-seeded with the training row farthest
// from its own centroid (the lowest such row), so k clusters stay non-empty. Iteration stops early
// when the objective (sum of row-centroid inner products) improves by <= 1e-4 relative. Training
// uses at most
// `max_points_per_centroid * k` rows (a seeded sample, as FAISS does); every row is assigned at the
// end.
//
// Why not faiss::Clustering: on Debian's generic FAISS build its OpenMP loops dominate and degrade
// badly when the machine is shared; this version spends its time in BLAS. Deterministic for a given
// seed (BLAS computes each product element by one thread).
//
// Memory: the centroids, one 4096 x k block of products, the sample when n is large.
// Threads: BLAS threads on the calling thread; call from outside oneTBB tasks.
#pragma once

#include <cstdint>
#include <vector>

namespace airtune::dedup {

struct KMeansResult {
  int k = 0;
  std::vector<float> centroids;   ///< k x d, unit rows (a zero row only if its cluster's mean is 0)
  std::vector<int32_t> assign;    ///< per row: its centroid
  std::vector<float> similarity;  ///< per row: inner product with its centroid
};

/// Clusters n x d unit rows `x` into k = min(k, n) clusters (k >= 1).
KMeansResult spherical_kmeans(const float* x, int64_t n, int64_t d, int k, int niter, uint64_t seed,
                              int64_t max_points_per_centroid = 256);

/// For each of n rows, the index and inner product of its best centroid among k (sgemm blocks).
void assign_to_centroids(const float* x, int64_t n, int64_t d, const float* centroids, int k, int32_t* assign,
                         float* similarity);

}  // namespace airtune::dedup
