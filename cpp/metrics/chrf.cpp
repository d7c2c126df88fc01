#include "metrics/chrf.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/ngram.h"
#include "metrics/text.h"

namespace airtune::metrics {

namespace {

inline bool is_ascii_punct(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) ||
         (b >= 0x7B && b <= 0x7E);
}

// sacreBLEU's _remove_punctuation: one edge ASCII punctuation character per word (the last one
// first), words of a single character kept whole.
void chrf_words(std::string_view s, std::vector<std::string_view>& split, std::vector<std::string_view>& out) {
  split.clear();
  out.clear();
  py_split(s, split);
  for (std::string_view w : split) {
    size_t i = 0;
    next_code_point(w, i);
    if (i == w.size()) {
      out.push_back(w);
    } else if (is_ascii_punct(w.back())) {
      out.push_back(w.substr(0, w.size() - 1));
      out.push_back(w.substr(w.size() - 1));
    } else if (is_ascii_punct(w.front())) {
      out.push_back(w.substr(0, 1));
      out.push_back(w.substr(1));
    } else {
      out.push_back(w);
    }
  }
}

struct Side {
  std::vector<std::vector<NgramCount>> counts;  // one per order (chars then words)
};

struct Scratch {
  std::string nospace;
  std::vector<uint32_t> cps;
  std::vector<std::string_view> split, words, all_words;
  std::vector<uint32_t> word_ids, order;
  std::vector<NgramKey> keys;
  Side hyp, ref;
  std::vector<int64_t> stats, best;
};

void char_ids(std::string_view s, bool whitespace, Scratch& sc, std::vector<uint32_t>& out) {
  out.clear();
  for (size_t i = 0; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    if (whitespace || !is_py_space(cp)) out.push_back(static_cast<uint32_t>(cp));
  }
  (void)sc;
}

void side_counts(std::string_view text, const ChrfOptions& opt, int char_bits, const uint32_t* word_ids,
                 size_t n_words, int word_bits, Scratch& sc, Side& side) {
  const size_t orders = static_cast<size_t>(opt.char_order + opt.word_order);
  side.counts.resize(orders);
  char_ids(text, opt.whitespace, sc, sc.cps);
  for (int n = 1; n <= opt.char_order; ++n) {
    count_ngrams(sc.cps.data(), sc.cps.size(), n, char_bits, sc.keys, side.counts[static_cast<size_t>(n - 1)]);
  }
  for (int n = 1; n <= opt.word_order; ++n) {
    count_ngrams(word_ids, n_words, n, word_bits, sc.keys,
                 side.counts[static_cast<size_t>(opt.char_order + n - 1)]);
  }
}

}  // namespace

double chrf_from_stats(const double* stats, const ChrfOptions& opt) {
  const double eps = 1e-16;
  double score = 0.0;
  int effective_order = 0;
  const double factor = opt.beta * opt.beta;
  double avg_prec = 0.0, avg_rec = 0.0;
  const int order = opt.char_order + opt.word_order;
  for (int i = 0; i < order; ++i) {
    const double n_hyp = stats[3 * i], n_ref = stats[3 * i + 1], n_match = stats[3 * i + 2];
    const double prec = n_hyp > 0 ? n_match / n_hyp : eps;
    const double rec = n_ref > 0 ? n_match / n_ref : eps;
    const double denom = factor * prec + rec;
    score += denom > 0 ? ((1 + factor) * prec * rec / denom) : eps;
    if (n_hyp > 0 && n_ref > 0) {
      avg_prec += prec;
      avg_rec += rec;
      ++effective_order;
    }
  }
  if (opt.eps_smoothing) return 100 * score / order;
  if (effective_order == 0) {
    avg_prec = avg_rec = 0.0;
  } else {
    avg_prec /= effective_order;
    avg_rec /= effective_order;
  }
  if (avg_prec + avg_rec != 0.0) {
    score = (1 + factor) * avg_prec * avg_rec;
    score /= ((factor * avg_prec) + avg_rec);
    return 100 * score;
  }
  return 0.0;
}

std::vector<int64_t> chrf_statistics(const std::vector<std::string_view>& hyps, const References& refs,
                                     const ChrfOptions& opt) {
  if (opt.char_order < 0 || opt.word_order < 0 || opt.char_order + opt.word_order < 1) {
    throw InvalidArgument("chrf: char_order and word_order must be >= 0 with at least one order");
  }
  check_utf8(hyps, "hypotheses");
  check_references(refs, hyps.size(), "references");
  const size_t width = static_cast<size_t>(chrf_stats_width(opt));
  const size_t orders = width / 3;
  std::vector<int64_t> out(hyps.size() * width, 0);
  core::parallel_for(hyps.size(), 256, [&](size_t begin, size_t end) {
    Scratch sc;
    sc.stats.resize(width);
    for (size_t i = begin; i < end; ++i) {
      // Bits for character keys: the largest code point of the item (exact packing).
      uint32_t max_cp = 0;
      auto scan = [&](std::string_view t) {
        for (size_t j = 0; j < t.size();) max_cp = std::max<uint32_t>(max_cp, next_code_point(t, j));
      };
      scan(hyps[i]);
      for (size_t k = 0; k < refs.streams.size(); ++k) {
        if (refs.has(k, i)) scan(refs.streams[k][i]);
      }
      const int char_bits = bits_for(static_cast<uint64_t>(max_cp) + 1);
      if (!fits_key(opt.char_order, char_bits)) {
        throw InvalidArgument("chrf: char_order " + std::to_string(opt.char_order) + " is too large (row " +
                              std::to_string(i) + ")");
      }
      // Word ids are shared across the hypothesis and references of the item.
      sc.all_words.clear();
      std::vector<size_t> bounds{0};
      if (opt.word_order > 0) {
        chrf_words(hyps[i], sc.split, sc.words);
        sc.all_words.insert(sc.all_words.end(), sc.words.begin(), sc.words.end());
        bounds.push_back(sc.all_words.size());
        for (size_t k = 0; k < refs.streams.size(); ++k) {
          if (!refs.has(k, i)) continue;
          chrf_words(refs.streams[k][i], sc.split, sc.words);
          sc.all_words.insert(sc.all_words.end(), sc.words.begin(), sc.words.end());
          bounds.push_back(sc.all_words.size());
        }
      } else {
        bounds.push_back(0);
        for (size_t k = 0; k < refs.streams.size(); ++k) {
          if (refs.has(k, i)) bounds.push_back(0);
        }
      }
      const uint32_t vocab = intern_tokens(sc.all_words, sc.word_ids, sc.order);
      const int word_bits = bits_for(vocab);
      if (opt.word_order > 0 && !fits_key(opt.word_order, word_bits)) {
        throw InvalidArgument("chrf: word_order too large for row " + std::to_string(i));
      }
      side_counts(hyps[i], opt, char_bits, sc.word_ids.data(), bounds[1], word_bits, sc, sc.hyp);
      double best_f = -1.0;
      size_t r = 1;
      for (size_t k = 0; k < refs.streams.size(); ++k) {
        if (!refs.has(k, i)) continue;
        side_counts(refs.streams[k][i], opt, char_bits, sc.word_ids.data() + bounds[r], bounds[r + 1] - bounds[r],
                    word_bits, sc, sc.ref);
        ++r;
        for (size_t o = 0; o < orders; ++o) {
          const auto& h = sc.hyp.counts[o];
          const auto& rf = sc.ref.counts[o];
          sc.stats[3 * o] = rf.empty() ? 0 : static_cast<int64_t>(total_count(h));
          sc.stats[3 * o + 1] = static_cast<int64_t>(total_count(rf));
          sc.stats[3 * o + 2] = static_cast<int64_t>(clipped_matches(h, rf));
        }
        std::vector<double> as_double(sc.stats.begin(), sc.stats.end());
        const double f = chrf_from_stats(as_double.data(), opt);
        if (f > best_f) {
          best_f = f;
          sc.best = sc.stats;
        }
      }
      std::copy(sc.best.begin(), sc.best.end(), out.begin() + static_cast<std::ptrdiff_t>(i * width));
    }
  });
  return out;
}

}  // namespace airtune::metrics
