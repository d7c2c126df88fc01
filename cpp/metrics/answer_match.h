// Answer matching: exact match (HF `evaluate` exact_match options) and SQuAD normalised exact
// match / token F1 (squad/compute_score.py, v1.1 and v2 conventions), max over gold answers.
//
// Lowercasing (Unicode str.lower()) and regexes_to_ignore are applied by the Python caller; the
// rest is here. Output per item: exact match in {0, 1} and F1 in [0, 1].
// Thread safety: reentrant; runs in the core arena; results do not depend on the thread count.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/inputs.h"

namespace airtune::metrics {

/// SQuAD normalize_answer without the lowercasing: drop ASCII punctuation, replace the words
/// a/an/the (Python re `\b` semantics, Unicode word characters) by a space, collapse whitespace.
std::string squad_normalize(std::string_view text);

struct ExactMatchOptions {
  bool ignore_punctuation = false;  // ASCII string.punctuation
  bool ignore_numbers = false;      // ASCII digits
  bool strip = false;               // Python str.strip() of both sides
};

/// Per item: 1.0 when the prediction equals one of the references after the options, else 0.0.
std::vector<double> exact_match(const std::vector<std::string_view>& preds, const References& refs,
                                const ExactMatchOptions& opt);

/// Per item SQuAD (EM, F1) pairs, n x 2 row-major. v2: F1 = EM when either side normalises to
/// no tokens (squad_v2); v1.1 gives F1 0 then.
std::vector<double> squad_scores(const std::vector<std::string_view>& preds, const References& golds, bool v2);

}  // namespace airtune::metrics
