#include "metrics/chrf.h"

#include <algorithm>
#include <string>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/ngram.h"
#include "metrics/ngram_table.h"
#include "metrics/text.h"

namespace airtune::metrics {

namespace {

inline bool is_ascii_punct(char c) noexcept {
  const auto b = static_cast<unsigned char>(c);
  return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
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

struct Scratch {
  std::vector<std::string_view> split, words, all_words;
  std::vector<uint32_t> word_ids;
  std::vector<uint32_t> cps;  // hyp chars then each reference's chars
  std::vector<size_t> char_bounds, word_bounds;
  TokenInterner interner;
  NgramTables tables;
  std::vector<std::vector<int64_t>> per_ref;
};

void append_chars(std::string_view s, bool whitespace, std::vector<uint32_t>& out, uint32_t& max_cp) {
  for (size_t i = 0; i < s.size();) {
    const char32_t cp = next_code_point(s, i);
    if (whitespace || !is_py_space(cp)) {
      out.push_back(static_cast<uint32_t>(cp));
      if (cp > max_cp) max_cp = static_cast<uint32_t>(cp);
    }
  }
}

// [hyp, ref, match] of one order for hypothesis ids[h0..h1) against each reference range.
template <typename Table>
void order_stats_in(Scratch& sc, Table& table, const uint32_t* ids, const std::vector<size_t>& bounds, int n, int bits,
                    size_t slot) {
  const auto order = static_cast<size_t>(n);
  const size_t hyp_len = bounds[1] - bounds[0];
  table_count(table, ids + bounds[0], hyp_len, n, bits);
  const int64_t hyp_count = hyp_len >= order ? static_cast<int64_t>(hyp_len - order + 1) : 0;
  for (size_t r = 1; r + 1 < bounds.size(); ++r) {
    const size_t len = bounds[r + 1] - bounds[r];
    table_probe(table, ids + bounds[r], len, n, bits);
    const auto match = static_cast<int64_t>(table.clip_tmp_and_fold());
    const int64_t ref_count = len >= order ? static_cast<int64_t>(len - order + 1) : 0;
    int64_t* st = sc.per_ref[r - 1].data() + 3 * slot;
    st[0] = ref_count > 0 ? hyp_count : 0;
    st[1] = ref_count;
    st[2] = match;
  }
}

void order_stats(Scratch& sc, const uint32_t* ids, const std::vector<size_t>& bounds, int n, int bits, size_t slot) {
  if (n * bits <= 64) {
    order_stats_in(sc, sc.tables.narrow, ids, bounds, n, bits, slot);
  } else {
    order_stats_in(sc, sc.tables.wide, ids, bounds, n, bits, slot);
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
  std::vector<int64_t> out(hyps.size() * width, 0);
  core::parallel_for(hyps.size(), 256, [&](size_t begin, size_t end) {
    Scratch sc;
    std::vector<double> as_double(width);
    for (size_t i = begin; i < end; ++i) {
      // Characters: raw code points, packed with as many bits as the item's largest one needs.
      uint32_t max_cp = 0;
      sc.cps.clear();
      sc.char_bounds.assign(1, 0);
      append_chars(hyps[i], opt.whitespace, sc.cps, max_cp);
      sc.char_bounds.push_back(sc.cps.size());
      size_t n_refs = 0;
      for (size_t k = 0; k < refs.streams.size(); ++k) {
        if (!refs.has(k, i)) continue;
        append_chars(refs.streams[k][i], opt.whitespace, sc.cps, max_cp);
        sc.char_bounds.push_back(sc.cps.size());
        ++n_refs;
      }
      const int char_bits = bits_for(static_cast<uint64_t>(max_cp) + 1);
      if (!fits_key(opt.char_order, char_bits)) {
        throw InvalidArgument("chrf: char_order " + std::to_string(opt.char_order) + " is too large (row " +
                              std::to_string(i) + ")");
      }
      if (sc.per_ref.size() < n_refs) sc.per_ref.resize(n_refs);
      for (size_t r = 0; r < n_refs; ++r) sc.per_ref[r].assign(width, 0);
      for (int n = 1; n <= opt.char_order; ++n) {
        order_stats(sc, sc.cps.data(), sc.char_bounds, n, char_bits, static_cast<size_t>(n - 1));
      }
      if (opt.word_order > 0) {
        sc.all_words.clear();
        sc.word_bounds.assign(1, 0);
        chrf_words(hyps[i], sc.split, sc.words);
        sc.all_words.insert(sc.all_words.end(), sc.words.begin(), sc.words.end());
        sc.word_bounds.push_back(sc.all_words.size());
        for (size_t k = 0; k < refs.streams.size(); ++k) {
          if (!refs.has(k, i)) continue;
          chrf_words(refs.streams[k][i], sc.split, sc.words);
          sc.all_words.insert(sc.all_words.end(), sc.words.begin(), sc.words.end());
          sc.word_bounds.push_back(sc.all_words.size());
        }
        sc.interner.reset(sc.all_words.size());
        sc.word_ids.resize(sc.all_words.size());
        for (size_t t = 0; t < sc.all_words.size(); ++t) sc.word_ids[t] = sc.interner.id(sc.all_words[t]);
        const int word_bits = bits_for(sc.interner.size());
        if (!fits_key(opt.word_order, word_bits)) {
          throw InvalidArgument("chrf: word_order too large for row " + std::to_string(i));
        }
        for (int n = 1; n <= opt.word_order; ++n) {
          order_stats(sc, sc.word_ids.data(), sc.word_bounds, n, word_bits,
                      static_cast<size_t>(opt.char_order + n - 1));
        }
      }
      // The reference with the best sentence score (first on a tie), as sacreBLEU.
      double best_f = -1.0;
      size_t best = 0;
      for (size_t r = 0; r < n_refs; ++r) {
        for (size_t c = 0; c < width; ++c) as_double[c] = static_cast<double>(sc.per_ref[r][c]);
        const double f = chrf_from_stats(as_double.data(), opt);
        if (f > best_f) {
          best_f = f;
          best = r;
        }
      }
      std::copy(sc.per_ref[best].begin(), sc.per_ref[best].end(), out.begin() + static_cast<std::ptrdiff_t>(i * width));
    }
  });
  return out;
}

}  // namespace airtune::metrics
