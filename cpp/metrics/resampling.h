// Resampling statistics over per-item sufficient statistics: bootstrap, paired bootstrap and
// approximate randomisation (sacreBLEU's significance.py semantics, MultEval's p-values are
// computed by the caller from the returned score arrays).
//
// `stats` is n x k (row-major doubles) per system; an Aggregator turns summed statistics into the
// corpus score (BLEU, chrF, or a column mean). Resample r draws its indices from a SplitMix64
// stream seeded by (seed, r), so results are identical for any thread count and platform; callers
// may instead pass explicit indices (B x n) or swap masks (B x n) to reproduce another tool's draws.
// Memory: O(B) scores plus O(k) per task; indices are never materialised unless passed in.
// Thread safety: reentrant; runs in the core arena.
#pragma once

#include <cstdint>
#include <vector>

#include "metrics/bleu.h"
#include "metrics/chrf.h"

namespace airtune::metrics {

struct Aggregator {
  enum Kind { kMean, kBleu, kChrf } kind = kMean;
  int column = 0;  // kMean: the column averaged
  BleuOptions bleu;
  ChrfOptions chrf;

  /// The corpus score from column sums over `n_items` items.
  double operator()(const double* sums, size_t n_items) const;
};

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
