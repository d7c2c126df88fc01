// Repeated user-prompt scaffolds: a shared prefix or suffix template across many rows.
//
// find_scaffolds() sorts the texts (for suffixes: their byte-reversed forms), walks the sorted
// order and cuts it into maximal runs whose common prefix, cut back to a word boundary (after
// whitespace or ASCII punctuation), is at least `min_chars` bytes long. A run with at least
// `min_rows` rows and at least two distinct texts is a scaffold (identical texts are duplicates,
// the dedup stage's business). Scaffolds are ordered by rows (desc), then text.
//
// Thread safety: pure function. O(n log n) comparisons.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::prompts {

struct Scaffold {
  std::string text;  ///< the shared prefix (or suffix)
  bool suffix = false;
  int64_t rows = 0;
  int64_t distinct = 0;          ///< distinct texts among its rows
  std::vector<int64_t> members;  ///< row indices, ascending
};

/// min_chars >= 1 and min_rows >= 2, else InvalidArgument.
std::vector<Scaffold> find_scaffolds(const std::vector<std::string_view>& texts, bool suffix, size_t min_chars,
                                     int64_t min_rows);

}  // namespace airtune::prompts
