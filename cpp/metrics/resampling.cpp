#include "metrics/resampling.h"

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

}  // namespace

std::vector<double> bootstrap_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg,
                                     size_t B, uint64_t seed, const std::vector<int64_t>& indices) {
  check_shapes(stats, n, k, "bootstrap");
  check_indices(indices, B, n);
  agg.validate(stats, n, k);
  std::vector<double> out(B);
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sums(agg.width(k));
    for (size_t r = begin; r < end; ++r) {
      std::fill(sums.begin(), sums.end(), 0.0);
      ResampleStream rng(seed, r);
      for (size_t j = 0; j < n; ++j) {
        const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
        agg.add(sums.data(), stats.data() + i * k, k);
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
  core::parallel_for(B, 4, [&](size_t begin, size_t end) {
    std::vector<double> sa(agg.width(k)), sb(agg.width(k));
    for (size_t r = begin; r < end; ++r) {
      std::fill(sa.begin(), sa.end(), 0.0);
      std::fill(sb.begin(), sb.end(), 0.0);
      ResampleStream rng(seed, r);
      for (size_t j = 0; j < n; ++j) {
        const size_t i = indices.empty() ? rng.below(n) : static_cast<size_t>(indices[r * n + j]);
        agg.add(sa.data(), a.data() + i * k, k);
        agg.add(sb.data(), b.data() + i * k, k);
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
