// System-prompt concentration: exact and near-duplicate grouping of the prompts of a dataset.
//
// group_prompts() groups rows by exact prompt text (rows without a prompt have present = 0), then
// groups the distinct prompts by near-duplicate similarity: exact Jaccard similarity of their
// character k-shingle sets (dedup/minhash.h's code-point shingles of the text case-folded with
// whitespace collapsed; two empty prompts are the same), pairs at or above `threshold` joined by
// union-find (core/union_find.h). Distinct prompts are few in practice; the pairwise pass is
// O(d^2) over the `max_distinct` most frequent distinct prompts (the rest stay singletons and
// `near_truncated` says so). Group ids are in order of first occurrence.
//
// Thread safety: pure function; runs the pairwise pass in airtune's thread pool, and its result does
// not depend on the thread count.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace airtune::prompts {

struct PromptGroups {
  std::vector<int64_t> exact_of_row;      ///< per row: distinct-prompt id, -1 when absent
  std::vector<int64_t> count;             ///< per distinct prompt: rows
  std::vector<int64_t> first_row;         ///< per distinct prompt: first row
  std::vector<int64_t> near_of_distinct;  ///< per distinct prompt: near-duplicate group id
  int64_t n_near = 0;                     ///< number of near-duplicate groups
  bool near_truncated = false;
};

/// `present` may be empty (all present); otherwise one flag per prompt. threshold in (0, 1],
/// shingle >= 1, max_distinct >= 1; else InvalidArgument.
PromptGroups group_prompts(const std::vector<std::string_view>& prompts, const std::vector<uint8_t>& present,
                           double threshold, int shingle, int64_t max_distinct);

/// Exact Jaccard similarity of the character k-shingle sets of two texts (normalised as above).
double shingle_jaccard(std::string_view a, std::string_view b, int shingle);

}  // namespace airtune::prompts
