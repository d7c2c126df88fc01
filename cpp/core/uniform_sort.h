// Sorting by 64-bit keys that are uniform by construction (hash values).
//
// One stable pass scatters the elements into ~n buckets by the keys' top bits, then one insertion
// sort runs over the whole, nearly sorted, array: each element moves only inside its bucket (a few
// moves per element, and no per-bucket loop whose trip counts mispredict). When the moves pass 8
// per element (crowded buckets: keys chosen to collide), std::stable_sort finishes, so the worst
// case stays O(n log n). Several times faster than std::sort on hash keys (MinHash shingle sets,
// LSH band tables).
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

namespace airtune::core {

/// Sorts `v` by `key(element)` (a uint64_t) ascending; stable: elements with equal keys keep
/// their order. `tmp` and `counts` are scratch buffers the caller may reuse across calls (their
/// contents are overwritten; `tmp` may end up holding `v`'s old buffer). Single-threaded.
template <typename T, typename KeyFn>
void sort_by_uniform_key(std::vector<T>& v, std::vector<T>& tmp, std::vector<uint32_t>& counts, KeyFn key) {
  const size_t n = v.size();
  auto insertion = [&](T* t, size_t size, size_t budget) {  // false when the budget ran out
    for (size_t k = 1; k < size; ++k) {
      const T x = t[k];
      const uint64_t kx = key(x);
      size_t m = k;
      for (; m > 0 && key(t[m - 1]) > kx; --m) t[m] = t[m - 1];
      t[m] = x;
      if ((budget -= std::min(budget, k - m)) == 0) return false;
    }
    return true;
  };
  auto fallback = [&](std::vector<T>& w) {
    std::stable_sort(w.begin(), w.end(), [&](const T& a, const T& b) { return key(a) < key(b); });
  };
  if (n < 64) {  // small: insertion sort alone (at most n^2 / 2 moves, no budget to run out)
    insertion(v.data(), n, n * n);
    return;
  }
  const int bits = std::min(20, 64 - __builtin_clzll(static_cast<unsigned long long>(n)));  // 2^bits > n
  const size_t nb = size_t{1} << bits;
  counts.assign(nb + 1, 0);
  for (const T& x : v) ++counts[(key(x) >> (64 - bits)) + 1];
  for (size_t b = 0; b < nb; ++b) counts[b + 1] += counts[b];
  tmp.resize(n);
  for (const T& x : v) tmp[counts[key(x) >> (64 - bits)]++] = x;
  if (!insertion(tmp.data(), n, 8 * n)) fallback(tmp);
  v.swap(tmp);
}

}  // namespace airtune::core
