// Diversity measures of a set of texts: distinct-n and self-BLEU.
//
// Tokenisation follows sacreBLEU's "13a" tokenizer for ASCII punctuation (the metrics module's
// sacreBLEU-exact BLEU can replace sentence_bleu at merge time). sentence_bleu() is sacreBLEU's
// sentence_bleu: 4-gram precisions clipped by the maximum count over references, "exp" smoothing,
// effective order, brevity penalty against the closest reference length (ties: the shorter).
// Scores are in [0, 1] (sacreBLEU's / 100).
//
// Thread safety: pure functions; self_bleu runs in airtune's thread pool (result independent of it).
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace airtune::prompts {

/// sacreBLEU 13a tokens of a text.
std::vector<std::string> tokenize_13a(std::string_view text);

/// Sentence BLEU of `hypothesis` against `references` (at least one), in [0, 1].
double sentence_bleu(std::string_view hypothesis, const std::vector<std::string_view>& references);

/// Mean over i of sentence_bleu(texts[i], all other texts); 0 for fewer than two texts.
double self_bleu(const std::vector<std::string_view>& texts);

/// Distinct-n: distinct word n-grams / total word n-grams over all texts (lower-cased 13a tokens);
/// 0 when there are no n-grams. n >= 1.
double distinct_n(const std::vector<std::string_view>& texts, int n);

}  // namespace airtune::prompts
