// ROUGE-N, ROUGE-L and ROUGE-Lsum identical to Google's rouge-score (rouge/rouge_scorer.py),
// with its tokenizer (lowercase, [^a-z0-9]+ -> space, NLTK Porter stemmer on tokens longer than
// 3 when use_stemmer) and its summary-level union-LCS for rougeLsum (sentences split on '\n').
//
// Output per item and type: precision, recall, F (double), laid out n x (3 * types) row-major in
// the order of `types`. With several targets each type keeps the target of the highest F (the
// first on a tie), as RougeScorer.score_multi. rouge-score's score(target, prediction) order is
// respected: precision is over the prediction.
// Memory: O(items * types) output; with use_stemmer each arena thread keeps a cache of at most
// 100,000 stems (a few MB) across calls.
// Thread safety: reentrant; runs in the core arena; results do not depend on the thread count.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "metrics/inputs.h"

namespace airtune::metrics {

struct RougeType {
  enum Kind { kN, kL, kLsum } kind;
  int n = 0;  // for kN
};

/// Parses "rouge1".."rouge9", "rougeL", "rougeLsum".
RougeType parse_rouge_type(std::string_view name);

struct RougeOptions {
  std::vector<RougeType> types;
  bool use_stemmer = false;
};

/// rouge-score's tokenizer on one text (valid UTF-8).
std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer);

/// Per-item (P, R, F) for each type; `targets` are the references (targets[k][i]).
std::vector<double> rouge_scores(const std::vector<std::string_view>& predictions, const References& targets,
                                 const RougeOptions& opt);

}  // namespace airtune::metrics
