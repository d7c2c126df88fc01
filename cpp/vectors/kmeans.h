// The one k-means of airtune (semantic dedup, IVF lists, SemDeDup, gap analysis), deterministic:
// the same bits for a seed whatever the thread count, the CPU or the BLAS kernel it selects.
//
// Metrics: kCosine (spherical k-means: rows must have unit length, a row's score is its inner
// product with the centroid, centroids are normalised means) and kL2 (rows as they are, the
// score is the squared Euclidean distance, centroids are plain means).
// Init: kRandom draws k distinct training rows by a seeded shuffle (FAISS's default, cheap at any
// k); kPlusPlus is k-means++ (D^2 sampling as scikit-learn, O(n k d) with the exact kernel: for
// small k). Each of at most `niter` rounds assigns every training row to its best centroid
// (exact_topk of topk.h: BLAS candidates, exact decision, ties to the lower centroid), stops when
// the objective improves by <= 1e-4 relative, then sets each centroid to the mean of its rows
// (summed in double in row order, per cluster in parallel). A centroid left empty is re-seeded
// with the worst-fitting training row not used so yet (the lowest such row). Training uses at most
// max_points_per_centroid * k rows (a seeded sample, as FAISS; 0 = every row); every row is
// assigned at the end. nredo runs (seeds seed, seed + 1, ...) keep the best objective (first on
// ties).
//
// Memory: the centroids, one block of products per task, the sample when n is large.
// Threads: the oneTBB arena, BLAS at one thread (blas.h).
#pragma once

#include <cstdint>
#include <vector>

namespace airtune::vectors {

enum class KMeansMetric { kCosine, kL2 };
enum class KMeansInit { kRandom, kPlusPlus };

struct KMeansOptions {
  int k = 1;  ///< clusters; clamped to n
  int niter = 20;
  uint64_t seed = 1234;
  int nredo = 1;
  int64_t max_points_per_centroid = 256;  ///< training sample cap per centroid; 0 = all rows
  KMeansMetric metric = KMeansMetric::kCosine;
  KMeansInit init = KMeansInit::kRandom;
};

struct KMeansResult {
  int k = 0;
  int64_t d = 0;
  std::vector<float> centroids;  ///< k x d (kCosine: unit rows, a zero row only if its cluster's mean is 0)
  std::vector<int32_t> assign;   ///< per row: its centroid
  std::vector<float> score;      ///< per row: kCosine inner product, kL2 squared distance to its centroid
  double objective = 0;          ///< kCosine: sum of inner products; kL2: sum of squared distances (inertia)
};

/// Clusters n x d rows. n >= 1, d >= 1, k >= 1, niter >= 0, nredo >= 1, finite values (kCosine:
/// unit rows); InvalidArgument (naming the row) otherwise.
KMeansResult kmeans(const float* x, int64_t n, int64_t d, const KMeansOptions& options);

/// Best centroid of each of n rows among k (ties to the lower centroid) and its score as in
/// KMeansResult::score.
void assign_to_centroids(const float* x, int64_t n, int64_t d, const float* centroids, int k, KMeansMetric metric,
                         int32_t* assign, float* score);

}  // namespace airtune::vectors
