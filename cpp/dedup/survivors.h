// Clusters and survivor choice shared by exact, near and semantic deduplication.
//
// Survivors are deterministic: within a cluster the row with the best key wins, ties go to the
// smallest row index. Nothing depends on thread count or input partitioning.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/union_find.h"

namespace airtune::dedup {

using core::UnionFind;  // cpp/core/union_find.h

/// How the kept row of a cluster is chosen.
enum class SurvivorRule {
  kFirst,    ///< smallest row index
  kLongest,  ///< largest `lengths[i]`, ties to the smallest index
  kScore,    ///< largest `scores[i]`, ties to the smallest index (a priority p is passed as -p)
};

/// Parses "first" | "longest" | "score" | "priority" (priority maps to kScore); throws
/// InvalidArgument otherwise.
SurvivorRule parse_survivor_rule(const std::string& name);

/// Clusters of a set of rows and which row each keeps.
struct Clusters {
  std::vector<int64_t> cluster;  ///< per row: cluster id = the surviving row's index
  std::vector<int64_t> size;     ///< per row: size of its cluster (1 for singletons)
  std::vector<uint8_t> keep;     ///< per row: 1 for the survivor (and every singleton)
  int64_t n_clusters = 0;        ///< clusters with at least two rows
  int64_t n_removed = 0;         ///< rows with keep == 0
};

/// Resolves `uf` into clusters with survivors by `rule`. `lengths`/`scores` are read only for the
/// rules that need them and must then have uf.size() entries (InvalidArgument otherwise).
Clusters resolve_clusters(UnionFind& uf, SurvivorRule rule, std::span<const int64_t> lengths,
                          std::span<const double> scores);

/// Clusters of rows [0, n) joined by the pairs (a[k], b[k]), survivors by `rule` (as above).
/// InvalidArgument when a and b differ in length or a pair names a row outside [0, n) (the pair
/// is named).
Clusters clusters_from_pairs(int64_t n, std::span<const int64_t> a, std::span<const int64_t> b, SurvivorRule rule,
                             std::span<const int64_t> lengths, std::span<const double> scores);

/// The removal table of a threshold sweep: for each thresholds[t], the rows removed (every
/// cluster keeps one row) when only the pairs with similarity[k] >= thresholds[t] join rows.
/// One union-find pass over the pairs in decreasing similarity, whatever the number of
/// thresholds (O(p log p + t log t)); equal to clusters_from_pairs(...).n_removed at each
/// threshold. Same validation as clusters_from_pairs; similarity has one entry per pair.
std::vector<int64_t> removed_at_thresholds(int64_t n, std::span<const int64_t> a, std::span<const int64_t> b,
                                           std::span<const double> similarity, std::span<const double> thresholds);

}  // namespace airtune::dedup
