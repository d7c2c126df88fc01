// Heuristic text-quality filters of LLM pre-training pipelines, with their published thresholds.
//
// Rules follow datatrove's implementations (huggingface/datatrove: pipeline/filters/
// c4_filters.py, gopher_quality_filter.py, gopher_repetition_filter.py, fineweb_quality_filter.py):
//   - C4: per line, drop lines with a word over 1,000 chars, without terminal punctuation (or ending
//     in "..."), with fewer than 3 words, containing "javascript" or a cookie/policy phrase; remove
//     [1] / [edit] / [citation needed] markers; drop the document on "lorem ipsum", on '{', or when
//     fewer than 5 sentences remain. The kept lines become the new text.
//   - Gopher quality: 50-100,000 words, mean word length 3-10, '#' and ellipsis per word <= 0.1,
//     <= 90% bullet lines, <= 30% lines ending in an ellipsis, >= 80% words with a letter, >= 2
//     stop words (the, be, to, of, and, that, have, with).
//   - Gopher repetition: duplicate line/paragraph fractions (by count 0.3, by chars 0.2), top 2/3/4-gram
//     character share (0.20/0.18/0.16), duplicated 5..10-gram character share (0.15..0.10).
//   - FineWeb: <= 12% of lines ending in punctuation, >= 67% lines of <= 30 chars, duplicated-line
//     chars >= 1% of the text, > 0.3 newlines per word.
// Differences from datatrove, by design: words are runs of letters/digits (punctuation runs are
// separate tokens) instead of NLTK's tokenizer, and C4 counts sentences by terminal punctuation
// followed by a space and a capital/digit instead of the Punkt model. Lengths are in code points.
//
// Thread safety: pure functions; batches run in parallel in airtune's arena. Linear time and memory.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::clean {

struct QualityParams {
  // Which filters run (in this order).
  bool gopher_repetition = false;
  bool gopher_quality = false;
  bool c4 = false;
  bool fineweb = false;

  // C4
  bool c4_filter_no_terminal_punct = true;
  int c4_min_sentences = 5;
  int c4_min_words_per_line = 3;
  int c4_max_word_length = 1000;
  bool c4_filter_lorem_ipsum = true;
  bool c4_filter_javascript = true;
  bool c4_filter_curly_bracket = true;
  bool c4_filter_policy = true;
  bool c4_remove_citations = true;

  // Gopher quality (a negative value turns a check off)
  int min_doc_words = 50;
  int max_doc_words = 100000;
  double min_avg_word_length = 3;
  double max_avg_word_length = 10;
  double max_symbol_word_ratio = 0.1;
  double max_bullet_lines_ratio = 0.9;
  double max_ellipsis_lines_ratio = 0.3;
  double max_non_alpha_words_ratio = 0.8;
  int min_stop_words = 2;

  // Gopher repetition
  double dup_line_frac = 0.3;
  double dup_para_frac = 0.3;
  double dup_line_char_frac = 0.2;
  double dup_para_char_frac = 0.2;
  double top_2_gram_frac = 0.20;
  double top_3_gram_frac = 0.18;
  double top_4_gram_frac = 0.16;
  double dup_5_gram_frac = 0.15;
  double dup_6_gram_frac = 0.14;
  double dup_7_gram_frac = 0.13;
  double dup_8_gram_frac = 0.12;
  double dup_9_gram_frac = 0.11;
  double dup_10_gram_frac = 0.10;

  // FineWeb quality
  double line_punct_thr = 0.12;
  bool line_punct_exclude_zero = false;
  double short_line_thr = 0.67;
  int short_line_length = 30;
  double char_duplicates_ratio = 0.01;
  double new_line_ratio = 0.3;
};

struct QualityVerdict {
  bool keep = true;
  std::string reason;  ///< "<filter>:<rule>" for a dropped document, empty when kept
  std::string text;    ///< the text after line-level rules (C4 removes lines)
};

QualityVerdict quality_check(std::string_view text, const QualityParams& params);

std::vector<QualityVerdict> quality_check_batch(const std::vector<std::string_view>& texts,
                                                const QualityParams& params);

}  // namespace airtune::clean
