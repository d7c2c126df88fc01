// Resampling statistics over per-item sufficient statistics: bootstrap, paired bootstrap and
// approximate randomisation (sacreBLEU's significance.py semantics, MultEval's p-values are
// computed by the caller from the returned score arrays).
//
// `stats` is n x k (row-major doubles) per system; an Aggregator turns summed statistics into the
// corpus score (BLEU, chrF, a column mean, a classification statistic such as macro-F1, or
// hierarchical precision/recall/F1), so corpus-level metrics are resampled exactly like means.
// Resample r draws its indices from a SplitMix64 stream seeded by (seed, r), so results are
// identical for any thread count and platform; callers may instead pass explicit indices (B x n)
// or swap masks (B x n) to reproduce another tool's draws.
// Memory: O(B) scores plus O(k) per task; indices are never materialised unless passed in.
// Thread safety: reentrant; runs in the core arena.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "metrics/bleu.h"
#include "metrics/chrf.h"
#include "metrics/classification.h"

namespace airtune::metrics {

/// How the summed statistics of a hierarchical (taxonomy) metric become its score. Rows are
/// (matched levels, predicted depth, gold depth); precision = sum matched / sum predicted,
/// recall = sum matched / sum gold, F1 = 2 sum matched / (sum predicted + sum gold).
enum class HierarchicalStatistic { kF1, kPrecision, kRecall };
HierarchicalStatistic parse_hierarchical_statistic(std::string_view name);  // f1, precision, recall

struct Aggregator {
  enum Kind { kMean, kBleu, kChrf, kClassification, kHierarchical } kind = kMean;
  int column = 0;  // kMean: the column averaged
  BleuOptions bleu;
  ChrfOptions chrf;
  // kClassification: rows are (true class code, predicted code or -1 for an invalid answer), codes
  // in [0, n_classes); the sums are per-class counts [tp..., predicted..., support...] (3 x n_classes).
  int32_t n_classes = 0;
  ClassStatistic class_statistic = ClassStatistic::kMacroF1;
  HierarchicalStatistic hierarchical = HierarchicalStatistic::kF1;

  /// Number of sums a resample accumulates for rows of `k` statistics.
  size_t width(size_t k) const noexcept { return kind == kClassification ? 3 * static_cast<size_t>(n_classes) : k; }

  /// Adds one item's row to the sums, `times` times (how often a resample drew the item).
  void add(double* sums, const double* row, size_t k, double times = 1.0) const noexcept {
    if (kind != kClassification) {
      for (size_t c = 0; c < k; ++c) sums[c] += times * row[c];
      return;
    }
    const auto K = static_cast<size_t>(n_classes);
    const auto t = static_cast<size_t>(row[0]);
    const auto p = static_cast<int64_t>(row[1]);
    sums[2 * K + t] += times;
    if (p >= 0) {
      sums[K + static_cast<size_t>(p)] += times;
      if (static_cast<size_t>(p) == t) sums[t] += times;
    }
  }

  /// Checks rows before resampling (user data, e.g. a stored baseline): shape and codes for
  /// kClassification, non-negative counts for kHierarchical, the column for kMean. Throws
  /// InvalidArgument naming the row.
  void validate(const std::vector<double>& stats, size_t n, size_t k) const;

  /// The corpus score from the sums (width(k) of them) over `n_items` items.
  double operator()(const double* sums, size_t n_items) const;
};

/// The corpus score of all n rows (no resampling): what the metric itself reports.
double aggregate_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg);

/// Resample r's n indices (the draws bootstrap_scores makes), for resampling done by the caller
/// (e.g. a corpus metric written in Python) on the same draws: returns count x n indices for
/// resamples first .. first + count - 1.
std::vector<int64_t> resample_indices(size_t n, size_t first, size_t count, uint64_t seed);

/// Deterministic index in [0, n) for draw j of resample r.
class ResampleStream {
 public:
  ResampleStream(uint64_t seed, uint64_t r) noexcept;
  uint64_t next() noexcept;
  uint64_t below(uint64_t n) noexcept;  // unbiased (Lemire)

 private:
  uint64_t state_;
};

/// Bootstrap: B corpus scores of resamples with replacement. `indices` is empty or B x n.
std::vector<double> bootstrap_scores(const std::vector<double>& stats, size_t n, size_t k, const Aggregator& agg,
                                     size_t n_samples, uint64_t seed, const std::vector<int64_t>& indices);

/// Paired bootstrap: the same resamples for both systems; returns 2 x B (a's scores, then b's).
std::vector<double> paired_bootstrap_scores(const std::vector<double>& a, const std::vector<double>& b, size_t n,
                                            size_t k, const Aggregator& agg, size_t n_samples, uint64_t seed,
                                            const std::vector<int64_t>& indices);

/// Approximate randomisation: in trial t, item i's statistics are swapped between the systems when
/// the swap bit is set (fair coin, or `swaps` B x n). Returns 2 x B shuffled scores (a then b).
std::vector<double> approximate_randomization_scores(const std::vector<double>& a, const std::vector<double>& b,
                                                     size_t n, size_t k, const Aggregator& agg, size_t n_trials,
                                                     uint64_t seed, const std::vector<uint8_t>& swaps);

}  // namespace airtune::metrics
