#include "metrics/resampling.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/threading.h"

namespace airtune::metrics {

double Aggregator::operator()(const double* sums, size_t n_items) const {
  switch (kind) {
    case kBleu:
      return bleu_from_stats(sums, bleu).score;
    case kChrf:
      return chrf_from_stats(sums, chrf);
    case kMean:
      return n_items ? sums[column] / static_cast<double>(n_items) : 0.0;
  }
  return 0.0;
}

ResampleStream::ResampleStream(uint64_t seed, uint64_t r) noexcept
    : state_(seed * 0x9E3779B97F4A7C15ull ^ (r + 1) * 0xD1B54A32D192ED03ull) {}

uint64_t ResampleStream::next() noexcept {
  uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

uint64_t ResampleStream::below(uint64_t n) noexcept {
  unsigned __int128 m = static_cast<unsigned __int128>(next()) * n;
  auto low = static_cast<uint64_t>(m);
  if (low < n) {
    const uint64_t threshold = -n % n;
    while (low < threshold) {
      m = static_cast<unsigned __int128>(next()) * n;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

namespace {

void check_shapes(const std::vector<double>& s, size_t n, size_t k, const char* name) {
  if (s.size() != n * k) throw InvalidArgument(std::string(name) + ": statistics do not have n x k entries");
  if (n == 0) throw InvalidArgument(std::string(name) + ": no items to resample");
}

void check_indices(const std::vector<int64_t>& idx, size_t B, size_t n) {
  if (idx.empty()) return;
  if (idx.size() != B * n) throw InvalidArgument("indices must have n_samples x n entries");
  for (size_t j = 0; j < idx.size(); ++j) {
    if (idx[j] < 0 || static_cast<size_t>(idx[j]) >= n) {
      throw InvalidArgument("indices: entry " + std::to_string(j) + " is out of range");
    }
  }
}

// Integer statistics (BLEU and chrF n-gram counts, exact-match flags) are summed as
// count[i] x row[i] in item order, where count[i] is how often item i was drawn. That is a
// sequential pass over the statistics instead of n reads at random places (which made the old
// loop's time grow faster than n once the statistics left the cache), and it gives exactly the
// sums of the draw-order loop: every partial sum is an integer below 2^53, so no rounding occurs.
// Other statistics (ROUGE F-measures, means of real values) keep the draw order, reading the
// rows a block of draws ahead (prefetched) so that the reads overlap.
struct IntStats {
  bool ok = false;
  std::vector<int32_t> v;  // n x k
};

IntStats integer_stats(const std::vector<double>& s, size_t n) {
  IntStats out;
  double max_abs = 0.0;
  for (const double x : s) {
    if (!(std::abs(x) <= 2147483647.0) || x != std::floor(x)) return out;
    max_abs = std::max(max_abs, std::abs(x));
  }
  if (max_abs * static_cast<double>(n) >= 9007199254740992.0) return out;  // sums must stay below 2^53
  out.v.assign(s.begin(), s.end());
  out.ok = true;
  return out;
}

// Draw counts of resample r: from the stream, or from explicit indices (B x n).
void draw_counts(size_t r, size_t n, uint64_t seed, const std::vector<int64_t>& indices,
                 std::vector<uint32_t>& counts) {
  std::fill(counts.begin(), counts.end(), 0u);
  if (indices.empty()) {
    ResampleStream rng(seed, r);
    for (size_t j = 0; j < n; ++j) ++counts[rng.below(n)];
  } else {
    const int64_t* idx = indices.data() + r * n;
    for (size_t j = 0; j < n; ++j) ++counts[static_cast<size_t>(idx[j])];
  }
}

// sums[c] = sum_i counts[i] * stats[i * k + c], exactly (int64 products and sums), as doubles.
// No branch on zero counts (a third of them, at random): multiplying by 0 is cheaper.
void weighted_sums(const IntStats& st, const std::vector<uint32_t>& counts, size_t n, size_t k,
                   std::vector<int64_t>& acc, double* sums) {
  std::fill(acc.begin(), acc.end(), 0);
  const int32_t* row = st.v.data();
  for (size_t i = 0; i < n; ++i, row += k) {
    const int64_t w = counts[i];
    for (size_t c = 0; c < k; ++c) acc[c] += w * row[c];
  }
  for (size_t c = 0; c < k; ++c) sums[c] = static_cast<double>(acc[c]);
}

// Adds the rows of resample r in draw order into each of `sums` (one per system).
template <size_t kSystems>
void gather_sums(const std::array<const double*, kSystems>& stats, size_t r, size_t n, size_t k, uint64_t seed,
                 const std::vector<int64_t>& indices, std::array<double*, kSystems> sums) {
  constexpr size_t kAhead = 32;
  size_t ids[kAhead];
  ResampleStream rng(seed, r);
  if (n * k * sizeof(double) <= (size_t{1} << 20)) {  // in cache: prefetching would only cost
    for (size_t j = 0; j < n; ++j) {
      const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
      for (size_t s = 0; s < kSystems; ++s)
        for (size_t c = 0; c < k; ++c) sums[s][c] += stats[s][i * k + c];
    }
    return;
  }
  for (size_t j0 = 0; j0 < n; j0 += kAhead) {
    const size_t m = std::min(kAhead, n - j0);
    for (size_t t = 0; t < m; ++t) {
      ids[t] = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j0 + t]);
      for (size_t s = 0; s < kSystems; ++s) __builtin_prefetch(stats[s] + ids[t] * k);
    }
    for (size_t t = 0; t < m; ++t)
      for (size_t s = 0; s < kSystems; ++s) {
        const double* row = stats[s] + ids[t] * k;
        for (size_t c = 0; c < k; ++c) sums[s][c] += row[c];
      }
  }
}

}  // namespace

std::vector<double> bootstrap_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg,
                                     size_t B, uint64_t seed, const std::vector<int64_t>& indices) {
  check_shapes(stats, n, k, "bootstrap");
  check_indices(indices, B, n);
  std::vector<double> out(B);
  const IntStats ints = integer_stats(stats, n);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sums(k);
    std::vector<uint32_t> counts(ints.ok ? n : 0);
    std::vector<int64_t> acc(k);
    for (size_t r = begin; r < end; ++r) {
      if (ints.ok) {
        draw_counts(r, n, seed, indices, counts);
        weighted_sums(ints, counts, n, k, acc, sums.data());
      } else {
        std::fill(sums.begin(), sums.end(), 0.0);
        gather_sums<1>({stats.data()}, r, n, k, seed, indices, {sums.data()});
      }
      out[r] = agg(sums.data(), n);
    }
  });
  return out;
}

std::vector<double> paired_bootstrap_scores(const std::vector<double>& a, const std::vector<double>& b, size_t n,
                                            size_t k, const Aggregator& agg, size_t B, uint64_t seed,
                                            const std::vector<int64_t>& indices) {
  check_shapes(a, n, k, "paired_bootstrap");
  check_shapes(b, n, k, "paired_bootstrap");
  check_indices(indices, B, n);
  std::vector<double> out(2 * B);
  IntStats ia = integer_stats(a, n), ib = integer_stats(b, n);
  const bool ints = ia.ok && ib.ok;
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(k), sb(k);
    std::vector<uint32_t> counts(ints ? n : 0);
    std::vector<int64_t> acc(k);
    for (size_t r = begin; r < end; ++r) {
      if (ints) {
        draw_counts(r, n, seed, indices, counts);
        weighted_sums(ia, counts, n, k, acc, sa.data());
        weighted_sums(ib, counts, n, k, acc, sb.data());
      } else {
        std::fill(sa.begin(), sa.end(), 0.0);
        std::fill(sb.begin(), sb.end(), 0.0);
        gather_sums<2>({a.data(), b.data()}, r, n, k, seed, indices, {sa.data(), sb.data()});
      }
      out[r] = agg(sa.data(), n);
      out[B + r] = agg(sb.data(), n);
    }
  });
  return out;
}

std::vector<double> approximate_randomization_scores(const std::vector<double>& a, const std::vector<double>& b,
                                                     size_t n, size_t k, const Aggregator& agg, size_t B, uint64_t seed,
                                                     const std::vector<uint8_t>& swaps) {
  check_shapes(a, n, k, "approximate_randomization");
  check_shapes(b, n, k, "approximate_randomization");
  if (!swaps.empty() && swaps.size() != B * n) throw InvalidArgument("swaps must have n_trials x n entries");
  std::vector<double> out(2 * B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(k), sb(k);
    for (size_t r = begin; r < end; ++r) {
      std::fill(sa.begin(), sa.end(), 0.0);
      std::fill(sb.begin(), sb.end(), 0.0);
      ResampleStream rng(seed, r);
      uint64_t bits = 0;
      for (size_t i = 0; i < n; ++i) {
        bool swap;
        if (swaps.empty()) {
          if (i % 64 == 0) bits = rng.next();
          swap = (bits >> (i % 64)) & 1u;
        } else {
          swap = swaps[r * n + i] != 0;
        }
        const double* x = (swap ? b : a).data() + i * k;
        const double* y = (swap ? a : b).data() + i * k;
        for (size_t c = 0; c < k; ++c) {
          sa[c] += x[c];
          sb[c] += y[c];
        }
      }
      out[r] = agg(sa.data(), n);
      out[B + r] = agg(sb.data(), n);
    }
  });
  return out;
}

}  // namespace airtune::metrics
