// Exact n-gram counting on interned token ids (no hashing, so no collisions).
//
// An n-gram of ids, each below 2^bits, is packed into one 128-bit key; counts are kept as a
// sorted run-length vector, so matching two sides is a linear merge. Callers check
// fits_key(n, bits) and report an InvalidArgument otherwise.
// Thread safety: pure functions over caller-owned buffers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace airtune::metrics {

using NgramKey = unsigned __int128;

struct NgramCount {
  NgramKey key;
  uint32_t count;
};

inline bool fits_key(int n, int bits) noexcept { return n * bits <= 128; }

/// Sorted distinct n-grams of order n in ids[0..len) with their counts, into out.
/// `keys` is scratch. Requires fits_key(n, bits).
inline void count_ngrams(const uint32_t* ids, size_t len, int n, int bits, std::vector<NgramKey>& keys,
                         std::vector<NgramCount>& out) {
  keys.clear();
  out.clear();
  const size_t order = static_cast<size_t>(n);
  if (len < order) return;
  keys.reserve(len - order + 1);
  for (size_t i = 0; i + order <= len; ++i) {
    NgramKey k = 0;
    for (size_t j = 0; j < order; ++j) k = (k << bits) | ids[i + j];
    keys.push_back(k);
  }
  std::sort(keys.begin(), keys.end());
  for (size_t i = 0; i < keys.size();) {
    size_t j = i + 1;
    while (j < keys.size() && keys[j] == keys[i]) ++j;
    out.push_back({keys[i], static_cast<uint32_t>(j - i)});
    i = j;
  }
}

/// Total count of the n-grams in `counts`.
inline uint64_t total_count(const std::vector<NgramCount>& counts) noexcept {
  uint64_t t = 0;
  for (const auto& c : counts) t += c.count;
  return t;
}

/// Sum over n-grams of min(count in a, count in b) (clipped matches).
inline uint64_t clipped_matches(const std::vector<NgramCount>& a, const std::vector<NgramCount>& b) noexcept {
  uint64_t m = 0;
  size_t i = 0, j = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i].key < b[j].key) {
      ++i;
    } else if (b[j].key < a[i].key) {
      ++j;
    } else {
      m += std::min(a[i].count, b[j].count);
      ++i;
      ++j;
    }
  }
  return m;
}

/// acc := per-n-gram max of acc and other (multi-reference clipping counts). `tmp` is scratch.
inline void max_merge(std::vector<NgramCount>& acc, const std::vector<NgramCount>& other,
                      std::vector<NgramCount>& tmp) {
  tmp.clear();
  size_t i = 0, j = 0;
  while (i < acc.size() || j < other.size()) {
    if (j == other.size() || (i < acc.size() && acc[i].key < other[j].key)) {
      tmp.push_back(acc[i++]);
    } else if (i == acc.size() || other[j].key < acc[i].key) {
      tmp.push_back(other[j++]);
    } else {
      tmp.push_back({acc[i].key, std::max(acc[i].count, other[j].count)});
      ++i;
      ++j;
    }
  }
  acc.swap(tmp);
}

}  // namespace airtune::metrics
