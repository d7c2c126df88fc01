// BLEU identical to sacreBLEU 2.x (metrics/bleu.py): per-item sufficient statistics, corpus score
// from their sums, sentence score from one row.
//
// Statistics layout, one row per item (int64, row-major, width 2 + 2 * max_order):
//   [hyp_len, ref_len, correct_1 .. correct_N, total_1 .. total_N]
// where ref_len is the closest reference length (the shorter on a tie) and correct_n clips each
// hypothesis n-gram by its maximum count over the item's references.
// Memory: O(items * width) output plus per-thread scratch of one item.
// Thread safety: reentrant; runs in the core arena (core::parallel_for), results do not depend on
// the thread count.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <vector>

#include "metrics/bleu_tokenizers.h"
#include "metrics/inputs.h"

namespace airtune::metrics {

enum class BleuSmooth { kNone, kFloor, kAddK, kExp };

/// Parses "none", "floor", "add-k", "exp".
BleuSmooth parse_bleu_smooth(std::string_view name);

struct BleuOptions {
  BleuTokenizer tokenizer = BleuTokenizer::k13a;
  int max_order = 4;
  BleuSmooth smooth = BleuSmooth::kExp;
  /// Value for floor / add-k; negative means the default (0.1 for floor, 1 for add-k).
  double smooth_value = -1.0;
  bool effective_order = false;
};

struct BleuScore {
  double score = 0.0;
  double bp = 0.0;
  std::vector<double> precisions;  // percent, one per order
};

/// Width of one statistics row.
inline int bleu_stats_width(int max_order) noexcept { return 2 + 2 * max_order; }

/// Per-item statistics (n x width, row-major). Hypotheses and references must be rstrip-able
/// UTF-8 (checked, the bad row is named). Lowercasing is the caller's (Python str.lower()).
std::vector<int64_t> bleu_statistics(const std::vector<std::string_view>& hyps, const References& refs,
                                     const BleuOptions& opt);

/// The statistics row (bleu_stats_width(max_order) entries) of one hypothesis against references,
/// all already tokenised (token lists as bleu_tokenize yields them): for callers that score many
/// pairings of one tokenised set (self-BLEU). At least one reference; InvalidArgument otherwise.
void bleu_statistics_of_tokens(std::span<const std::string_view> hyp,
                               const std::vector<std::span<const std::string_view>>& refs, int max_order, int64_t* row);

/// BLEU from summed statistics (`sums` has bleu_stats_width entries), as sacreBLEU's compute_bleu.
BleuScore bleu_from_stats(const double* sums, const BleuOptions& opt);

}  // namespace airtune::metrics
