// SemDeDup (Abbas et al. 2023, as in Meta's code and NeMo Curator): spherical k-means
// (vectors/kmeans.h) over L2-normalised embeddings, then inside each cluster the rows are ordered
// (hard: farthest from the centroid first; easy: nearest first; random: a seeded shuffle; score:
// highest score first; ties by row index) and row j gets max_sim[j] = the largest cosine to any
// row before it in that order (the earliest such row on ties). Rows with max_sim >= threshold are
// removed (greedy, as in the reference: the comparison is with all earlier rows, removed or not),
// so one pass yields the removal count for every threshold.
//
// Pairwise similarities: blocks of 256 x 4096 by BLAS sgemm, offered to the exact top-1 of
// vectors/topk.h, so max_sim is a vectors::dot_exact value and the result is the same bits
// whatever the thread count, the CPU or its BLAS kernel. Memory O(d * m + 1M floats) per cluster
// being processed (a cluster of m rows), never m x m.
//
// Threads: the oneTBB arena (clusters and row blocks in parallel, BLAS at one thread); call from
// outside oneTBB tasks.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace airtune::dedup {

enum class SemDedupKeep { kHard, kEasy, kRandom, kScore };

/// "hard" | "easy" | "random" | "score"; InvalidArgument otherwise.
SemDedupKeep parse_semdedup_keep(const std::string& name);

struct SemDedupOptions {
  int n_clusters = 0;  ///< 0 = max(1, round(sqrt(n)))
  int niter = 20;
  uint64_t seed = 1234;
  SemDedupKeep keep = SemDedupKeep::kHard;
};

struct SemDedupResult {
  std::vector<int32_t> cluster;          ///< k-means cluster of each row
  std::vector<float> centroid_distance;  ///< 1 - cosine to its centroid
  std::vector<float> max_similarity;     ///< max cosine to an earlier row of its cluster (-1 for the first)
  std::vector<int64_t> max_id;           ///< that earlier row (-1 for the first)
  int n_clusters = 0;
};

/// Runs SemDeDup on n x d float32 rows (used in place when every row has unit length, else
/// normalised into a copy; zero/NaN rows rejected).
/// `scores` (n entries) is read only for SemDedupKeep::kScore.
SemDedupResult semdedup(const float* x, int64_t n, int64_t d, const SemDedupOptions& options,
                        std::span<const double> scores);

}  // namespace airtune::dedup
