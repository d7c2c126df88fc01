// Diversity measures of a set of texts: distinct-n and self-BLEU.
//
// Both count sacreBLEU "13a" tokens (metrics/bleu_tokenizers.h, byte-exact with sacreBLEU) and
// self-BLEU is sacreBLEU's sentence_bleu (metrics/bleu.h: 4-gram precisions clipped by the maximum
// count over references, "exp" smoothing, effective order, brevity penalty against the closest
// reference length, ties: the shorter), so the prompts and the metrics share one BLEU. Scores are
// in [0, 1] (sacreBLEU's / 100). Texts must be valid UTF-8.
//
// Thread safety: pure functions; self_bleu runs in airtune's thread pool (result independent of it).
#pragma once

#include <string_view>
#include <vector>

namespace airtune::prompts {

/// Mean over i of sentence BLEU of texts[i] against all other texts; 0 for fewer than two texts.
double self_bleu(const std::vector<std::string_view>& texts);

/// Distinct-n: distinct word n-grams / total word n-grams over all texts (13a tokens, ASCII
/// lower-cased); 0 when there are no n-grams. n >= 1.
double distinct_n(const std::vector<std::string_view>& texts, int n);

}  // namespace airtune::prompts
