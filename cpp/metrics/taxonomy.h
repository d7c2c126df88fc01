// Hierarchical (taxonomy) accuracy for category paths such as "Animals & Pet Supplies > Live Animals".
//
// A path is split on the separator (default " > "), never on commas or '&'; each level is
// stripped of surrounding whitespace. Per item this computes the gold depth, the predicted depth,
// the length of the common prefix (= |ancestors(pred) ∩ ancestors(gold)|, root excluded) and
// whether the prediction is valid: non-empty, and, when a set of valid paths is given, one of them.
// An invalid prediction matches at no level but its depth still counts in hierarchical precision.
// Thread safety: reentrant; runs in the core arena; results do not depend on the thread count.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::metrics {

struct TaxonomyItem {
  int32_t gold_depth;
  int32_t pred_depth;
  int32_t common;  // matched levels from the top
  uint8_t valid;
};

/// Levels of a path (views into `path`), stripped; an empty path has no levels.
std::vector<std::string_view> split_path(std::string_view path, std::string_view sep);

/// `valid_paths` empty means every non-empty prediction is valid. Paths are compared level by
/// level after stripping, so "A>B" and "A > B" differ only if the separator differs.
std::vector<TaxonomyItem> taxonomy_items(const std::vector<std::string_view>& gold,
                                         const std::vector<std::string_view>& pred,
                                         const std::vector<std::string_view>& valid_paths, std::string_view sep);

}  // namespace airtune::metrics
