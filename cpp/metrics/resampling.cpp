#include "metrics/resampling.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <string>

#include "core/errors.h"
#include "core/threading.h"

namespace airtune::metrics {

HierarchicalStatistic parse_hierarchical_statistic(std::string_view name) {
  if (name == "f1") return HierarchicalStatistic::kF1;
  if (name == "precision") return HierarchicalStatistic::kPrecision;
  if (name == "recall") return HierarchicalStatistic::kRecall;
  throw InvalidArgument("unknown hierarchical statistic '" + std::string(name) + "' (f1, precision, recall)");
}

void Aggregator::validate(const std::vector<double>& stats, size_t n, size_t k) const {
  auto fail = [](size_t i, const std::string& what) {
    throw InvalidArgument("statistics: row " + std::to_string(i) + " " + what);
  };
  if (kind == kMean && (column < 0 || static_cast<size_t>(column) >= k)) {
    throw InvalidArgument("mean aggregate: column " + std::to_string(column) + " is not one of the " +
                          std::to_string(k) + " columns");
  }
  if (kind == kClassification) {
    if (n_classes < 1) throw InvalidArgument("classification aggregate: n_classes must be at least 1");
    if (k != 2) throw InvalidArgument("classification aggregate: rows must be (true code, predicted code)");
    for (size_t i = 0; i < n; ++i) {
      const double t = stats[i * 2], p = stats[i * 2 + 1];
      if (t != static_cast<double>(static_cast<int64_t>(t)) || t < 0 || t >= n_classes) {
        fail(i, "has a true class code outside 0.." + std::to_string(n_classes - 1));
      }
      if (p != static_cast<double>(static_cast<int64_t>(p)) || p < -1 || p >= n_classes) {
        fail(i, "has a predicted class code outside -1.." + std::to_string(n_classes - 1));
      }
    }
  }
  if (kind == kHierarchical) {
    if (k != 3) throw InvalidArgument("hierarchical aggregate: rows must be (matched, predicted depth, gold depth)");
    for (size_t i = 0; i < n * k; ++i) {
      if (stats[i] < 0) fail(i / k, "has a negative count");
    }
  }
}

double Aggregator::operator()(const double* sums, size_t n_items) const {
  switch (kind) {
    case kBleu:
      return bleu_from_stats(sums, bleu).score;
    case kChrf:
      return chrf_from_stats(sums, chrf);
    case kMean:
      return n_items ? sums[column] / static_cast<double>(n_items) : 0.0;
    case kClassification: {
      const auto K = static_cast<size_t>(n_classes);
      return metrics::class_statistic(classification_report_from_counts(sums, sums + K, sums + 2 * K, n_classes),
                                      class_statistic);
    }
    case kHierarchical: {
      const double matched = sums[0], predicted = sums[1], gold = sums[2];
      switch (hierarchical) {
        case HierarchicalStatistic::kPrecision:
          return predicted > 0 ? matched / predicted : 0.0;
        case HierarchicalStatistic::kRecall:
          return gold > 0 ? matched / gold : 0.0;
        case HierarchicalStatistic::kF1:
          return predicted + gold > 0 ? 2 * matched / (predicted + gold) : 0.0;
      }
      return 0.0;
    }
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

// The sums of one resample from its draw counts, exactly. Column sums (every aggregate but
// classification): sums[c] = sum_i counts[i] * stats[i * k + c] in int64, as doubles; no branch on
// zero counts (a third of them, at random): multiplying by 0 is cheaper. Classification: its
// per-class counts, each item added counts[i] times (integers below 2^53 as well).
void weighted_sums(const Aggregator& agg, const IntStats& st, const double* stats, const std::vector<uint32_t>& counts,
                   size_t n, size_t k, std::vector<int64_t>& acc, double* sums) {
  if (agg.kind == Aggregator::kClassification) {
    std::fill(sums, sums + agg.width(k), 0.0);
    for (size_t i = 0; i < n; ++i)
      if (counts[i]) agg.add(sums, stats + i * k, k, counts[i]);
    return;
  }
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
void gather_sums(const Aggregator& agg, const std::array<const double*, kSystems>& stats, size_t r, size_t n, size_t k,
                 uint64_t seed, const std::vector<int64_t>& indices, std::array<double*, kSystems> sums) {
  constexpr size_t kAhead = 32;
  size_t ids[kAhead];
  ResampleStream rng(seed, r);
  if (n * k * sizeof(double) <= (size_t{1} << 20)) {  // in cache: prefetching would only cost
    for (size_t j = 0; j < n; ++j) {
      const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
      for (size_t s = 0; s < kSystems; ++s) agg.add(sums[s], stats[s] + i * k, k);
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
      for (size_t s = 0; s < kSystems; ++s) agg.add(sums[s], stats[s] + ids[t] * k, k);
  }
}

}  // namespace

std::vector<double> bootstrap_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg,
                                     size_t B, uint64_t seed, const std::vector<int64_t>& indices) {
  check_shapes(stats, n, k, "bootstrap");
  check_indices(indices, B, n);
  agg.validate(stats, n, k);
  std::vector<double> out(B);
  const IntStats ints = integer_stats(stats, n);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sums(agg.width(k));
    std::vector<uint32_t> counts(ints.ok ? n : 0);
    std::vector<int64_t> acc(k);
    for (size_t r = begin; r < end; ++r) {
      if (ints.ok) {
        draw_counts(r, n, seed, indices, counts);
        weighted_sums(agg, ints, stats.data(), counts, n, k, acc, sums.data());
      } else {
        std::fill(sums.begin(), sums.end(), 0.0);
        gather_sums<1>(agg, {stats.data()}, r, n, k, seed, indices, {sums.data()});
      }
      out[r] = agg(sums.data(), n);
    }
  });
  return out;
}

double aggregate_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg) {
  if (stats.size() != n * k) throw InvalidArgument("aggregate: statistics do not have n x k entries");
  agg.validate(stats, n, k);
  std::vector<double> sums(agg.width(k), 0.0);
  for (size_t i = 0; i < n; ++i) agg.add(sums.data(), stats.data() + i * k, k);
  return agg(sums.data(), n);
}

std::vector<int64_t> resample_indices(size_t n, size_t first, size_t count, uint64_t seed) {
  if (n == 0) throw InvalidArgument("resample_indices: no items to resample");
  std::vector<int64_t> out(count * n);
  core::parallel_for(count, 4, [&](size_t begin, size_t end) {
    for (size_t r = begin; r < end; ++r) {
      ResampleStream rng(seed, first + r);
      for (size_t j = 0; j < n; ++j) out[r * n + j] = static_cast<int64_t>(rng.below(n));
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
  agg.validate(a, n, k);
  agg.validate(b, n, k);
  std::vector<double> out(2 * B);
  IntStats ia = integer_stats(a, n), ib = integer_stats(b, n);
  const bool ints = ia.ok && ib.ok;
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(agg.width(k)), sb(agg.width(k));
    std::vector<uint32_t> counts(ints ? n : 0);
    std::vector<int64_t> acc(k);
    for (size_t r = begin; r < end; ++r) {
      if (ints) {
        draw_counts(r, n, seed, indices, counts);
        weighted_sums(agg, ia, a.data(), counts, n, k, acc, sa.data());
        weighted_sums(agg, ib, b.data(), counts, n, k, acc, sb.data());
      } else {
        std::fill(sa.begin(), sa.end(), 0.0);
        std::fill(sb.begin(), sb.end(), 0.0);
        gather_sums<2>(agg, {a.data(), b.data()}, r, n, k, seed, indices, {sa.data(), sb.data()});
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
  agg.validate(a, n, k);
  agg.validate(b, n, k);
  std::vector<double> out(2 * B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(agg.width(k)), sb(agg.width(k));
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
        agg.add(sa.data(), (swap ? b : a).data() + i * k, k);
        agg.add(sb.data(), (swap ? a : b).data() + i * k, k);
      }
      out[r] = agg(sa.data(), n);
      out[B + r] = agg(sb.data(), n);
    }
  });
  return out;
}

}  // namespace airtune::metrics
