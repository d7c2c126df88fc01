// Union-find and survivor choice shared by exact, near and semantic deduplication.
//
// Survivors are deterministic: within a cluster the row with the best key wins, ties go to the
// smallest row index. Nothing depends on thread count or input partitioning.
#pragma once

#include <cstdint>
#include <numeric>
#include <span>
#include <string>
#include <vector>

namespace airtune::dedup {

/// Disjoint sets over [0, n) with path halving and union by size. Not thread-safe.
class UnionFind {
 public:
  explicit UnionFind(size_t n) : parent_(n), size_(n, 1) { std::iota(parent_.begin(), parent_.end(), 0); }
  int64_t find(int64_t x) {
    while (parent_[x] != x) {
      parent_[x] = parent_[parent_[x]];
      x = parent_[x];
    }
    return x;
  }
  /// Joins the sets of a and b; returns true when they were separate.
  bool unite(int64_t a, int64_t b) {
    a = find(a);
    b = find(b);
    if (a == b) return false;
    if (size_[a] < size_[b] || (size_[a] == size_[b] && b < a)) std::swap(a, b);
    parent_[b] = a;
    size_[a] += size_[b];
    return true;
  }
  size_t size() const { return parent_.size(); }

 private:
  std::vector<int64_t> parent_;
  std::vector<int64_t> size_;
};

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

}  // namespace airtune::dedup
