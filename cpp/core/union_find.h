// Disjoint sets over [0, n): the one union-find of airtune (dedup clusters, prompt groups).
//
// Path halving and union by size; on equal sizes the smaller root wins, so the roots, like
// everything built on them, depend only on the order of the unions, never on threads.
// Memory: 16 bytes per element. Thread safety: not thread-safe (one owner).
#pragma once

#include <cstdint>
#include <numeric>
#include <utility>
#include <vector>

namespace airtune::core {

class UnionFind {
 public:
  explicit UnionFind(size_t n) : parent_(n), size_(n, 1) { std::iota(parent_.begin(), parent_.end(), 0); }

  /// The root of x's set (x in [0, size())).
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

}  // namespace airtune::core
