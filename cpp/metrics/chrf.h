// chrF and chrF++ identical to sacreBLEU 2.x (metrics/chrf.py).
//
// Statistics layout, one row per item (int64, width 3 * (char_order + word_order)):
//   for each order (characters 1..char_order, then words 1..word_order): [hyp, ref, match]
// With several references an item keeps the statistics of the reference with the best sentence
// score (the first one on a tie), as sacreBLEU does. Character n-grams are over code points,
// with whitespace removed unless `whitespace`; chrF++ word tokens split one edge ASCII
// punctuation character off each word. Lowercasing is the caller's (Python str.lower()).
// Thread safety: reentrant; runs in the core arena; results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

#include "metrics/inputs.h"

namespace airtune::metrics {

struct ChrfOptions {
  int char_order = 6;
  int word_order = 0;
  double beta = 2.0;
  bool whitespace = false;
  bool eps_smoothing = false;
};

inline int chrf_stats_width(const ChrfOptions& o) noexcept { return 3 * (o.char_order + o.word_order); }

std::vector<int64_t> chrf_statistics(const std::vector<std::string_view>& hyps, const References& refs,
                                     const ChrfOptions& opt);

/// chrF (0..100) from summed statistics, as sacreBLEU's _compute_f_score.
double chrf_from_stats(const double* sums, const ChrfOptions& opt);

}  // namespace airtune::metrics
