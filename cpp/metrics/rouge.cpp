#include "metrics/rouge.h"

#include <algorithm>
#include <bit>
#include <unordered_map>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/ngram.h"
#include "metrics/ngram_table.h"
#include "metrics/porter_stemmer.h"
#include "metrics/text.h"

namespace airtune::metrics {

RougeType parse_rouge_type(std::string_view name) {
  if (name == "rougeL") return {RougeType::kL, 0};
  if (name == "rougeLsum") return {RougeType::kLsum, 0};
  if (name.size() == 6 && name.substr(0, 5) == "rouge" && name[5] >= '1' && name[5] <= '9') {
    return {RougeType::kN, name[5] - '0'};
  }
  throw InvalidArgument("invalid rouge type '" + std::string(name) + "' (rouge1..rouge9, rougeL, rougeLsum)");
}

namespace {

struct Score {
  double p = 0, r = 0, f = 0;
};

inline double fmeasure(double p, double r) { return p + r > 0 ? 2 * p * r / (p + r) : 0.0; }

// Memoised stems: Zipfian text repeats words, and the stemmer is the slow part. One cache per
// thread, kept across calls; it is only cleared between items, so views into it stay valid for
// the item being scored (unordered_map never moves its elements on rehash).
class StemCache {
 public:
  const std::string& stem(const std::string& w) {
    auto it = cache_.find(w);
    if (it != cache_.end()) return it->second;
    return cache_.emplace(w, porter_stem(w)).first->second;
  }
  void trim() {
    if (cache_.size() > 100000) cache_.clear();
  }

 private:
  std::unordered_map<std::string, std::string> cache_;
};

// rouge-score's tokens of one text: [a-z0-9]+ runs of the lowercased text, stemmed when longer
// than 3 characters. Python's str.lower() maps only two non-ASCII code points to ASCII letters:
// U+0130 -> "i" + U+0307 and U+212A (Kelvin) -> "k". Tokens never span a newline, so the tokens
// of the whole text are the concatenation of the tokens of its lines (rougeLsum's sentences).
struct TokenList {
  std::string buf;
  std::vector<std::string_view> tokens;
  std::vector<std::pair<uint32_t, uint32_t>> sents;  // token ranges of the non-empty lines

  struct Span {
    uint32_t off, len;
    const std::string* stem;
  };
  std::vector<Span> spans;
  std::string cur;
};

void tokenize_text(std::string_view text, bool stem, StemCache* cache, TokenList& t) {
  t.buf.clear();
  t.spans.clear();
  t.sents.clear();
  t.cur.clear();
  auto flush = [&]() {
    if (t.cur.empty()) return;
    if (stem && t.cur.size() > 3) {
      std::string local;
      const std::string& s = cache ? cache->stem(t.cur) : (local = porter_stem(t.cur));
      bool valid = !s.empty();
      for (char c : s) valid = valid && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'));
      if (valid && cache) {
        t.spans.push_back({0, 0, &s});
      } else if (valid) {
        t.spans.push_back({static_cast<uint32_t>(t.buf.size()), static_cast<uint32_t>(s.size()), nullptr});
        t.buf += s;
      }
    } else {
      t.spans.push_back({static_cast<uint32_t>(t.buf.size()), static_cast<uint32_t>(t.cur.size()), nullptr});
      t.buf += t.cur;
    }
    t.cur.clear();
  };
  size_t line_start = 0;
  uint32_t line_first_token = 0;
  for (size_t i = 0; i < text.size();) {
    const auto b = static_cast<unsigned char>(text[i]);
    if (b < 0x80) {
      ++i;
      if ((b >= 'a' && b <= 'z') || (b >= '0' && b <= '9')) {
        t.cur.push_back(static_cast<char>(b));
      } else if (b >= 'A' && b <= 'Z') {
        t.cur.push_back(static_cast<char>(b - 'A' + 'a'));
      } else {
        flush();
        if (b == '\n') {
          if (i - 1 > line_start) t.sents.emplace_back(line_first_token, static_cast<uint32_t>(t.spans.size()));
          line_start = i;
          line_first_token = static_cast<uint32_t>(t.spans.size());
        }
      }
      continue;
    }
    const char32_t cp = next_code_point(text, i);
    if (cp == 0x130) {
      t.cur.push_back('i');
      flush();  // followed by U+0307, not alphanumeric
    } else if (cp == 0x212A) {
      t.cur.push_back('k');
    } else {
      flush();
    }
  }
  flush();
  if (text.size() > line_start) t.sents.emplace_back(line_first_token, static_cast<uint32_t>(t.spans.size()));
  t.tokens.clear();
  for (const auto& sp : t.spans) {
    t.tokens.push_back(sp.stem ? std::string_view(*sp.stem) : std::string_view(t.buf).substr(sp.off, sp.len));
  }
}

void to_ids(const std::vector<std::string_view>& toks, TokenInterner& in, std::vector<uint32_t>& out) {
  out.clear();
  for (auto t : toks) out.push_back(in.id(t));
}

template <typename Table>
Score score_ngrams(const std::vector<uint32_t>& tgt, const std::vector<uint32_t>& pred, int n, int bits, Table& table) {
  const auto order = static_cast<size_t>(n);
  table_count(table, pred.data(), pred.size(), n, bits);
  table_probe(table, tgt.data(), tgt.size(), n, bits);
  const double inter = static_cast<double>(table.clip_tmp_and_fold());
  const double tc = tgt.size() >= order ? static_cast<double>(tgt.size() - order + 1) : 0.0;
  const double pc = pred.size() >= order ? static_cast<double>(pred.size() - order + 1) : 0.0;
  Score s;
  s.p = inter / std::max(pc, 1.0);
  s.r = inter / std::max(tc, 1.0);
  s.f = fmeasure(s.p, s.r);
  return s;
}

// LCS DP table (rows+1) x (cols+1), row-major.
void lcs_table(const std::vector<uint32_t>& ref, const std::vector<uint32_t>& can, std::vector<uint32_t>& t) {
  const size_t rows = ref.size(), cols = can.size();
  t.assign((rows + 1) * (cols + 1), 0);
  for (size_t i = 1; i <= rows; ++i) {
    uint32_t* cur = t.data() + i * (cols + 1);
    const uint32_t* prev = cur - (cols + 1);
    const uint32_t ri = ref[i - 1];
    for (size_t j = 1; j <= cols; ++j) {
      cur[j] = ri == can[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    }
  }
}

uint32_t lcs_length(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, std::vector<uint32_t>& row) {
  // Two-row DP: same values as the full table's last cell.
  const size_t cols = b.size();
  row.assign(2 * (cols + 1), 0);
  uint32_t* prev = row.data();
  uint32_t* cur = row.data() + cols + 1;
  for (size_t i = 1; i <= a.size(); ++i) {
    cur[0] = 0;
    const uint32_t ai = a[i - 1];
    for (size_t j = 1; j <= cols; ++j) cur[j] = ai == b[j - 1] ? prev[j - 1] + 1 : std::max(prev[j], cur[j - 1]);
    std::swap(prev, cur);
  }
  return prev[cols];
}

// LCS length by bit-parallel dynamic programming (Hyyro 2004) when the candidate fits one word:
// V starts all ones; per reference token with match mask M: U = V & M, V = (V + U) | (V - U);
// the LCS length is the number of zero bits. Same value as the full DP table.
uint32_t lcs_length_bits(const std::vector<uint32_t>& a, const std::vector<uint32_t>& b, std::vector<uint64_t>& masks) {
  for (size_t j = 0; j < b.size(); ++j) masks[b[j]] |= uint64_t{1} << j;
  const uint64_t all = b.size() == 64 ? ~uint64_t{0} : ((uint64_t{1} << b.size()) - 1);
  uint64_t v = ~uint64_t{0};
  for (uint32_t t : a) {
    const uint64_t u = v & masks[t];
    v = (v + u) | (v - u);
  }
  for (uint32_t t : b) masks[t] = 0;
  return static_cast<uint32_t>(std::popcount(~v & all));
}

Score score_lcs(const std::vector<uint32_t>& tgt, const std::vector<uint32_t>& pred, std::vector<uint32_t>& row,
                std::vector<uint64_t>& masks) {
  Score s;
  if (tgt.empty() || pred.empty()) return s;
  const double l = pred.size() <= 64 ? lcs_length_bits(tgt, pred, masks) : lcs_length(tgt, pred, row);
  s.p = l / static_cast<double>(pred.size());
  s.r = l / static_cast<double>(tgt.size());
  s.f = fmeasure(s.p, s.r);
  return s;
}

Score score_lsum(const std::vector<std::vector<uint32_t>>& ref_sents,
                 const std::vector<std::vector<uint32_t>>& can_sents, uint32_t vocab, std::vector<uint32_t>& table) {
  Score s;
  if (ref_sents.empty() || can_sents.empty()) return s;
  size_t m = 0, n = 0;
  for (const auto& r : ref_sents) m += r.size();
  for (const auto& c : can_sents) n += c.size();
  if (m == 0 || n == 0) return s;
  std::vector<int64_t> cnt_r(vocab, 0), cnt_c(vocab, 0);
  for (const auto& r : ref_sents)
    for (uint32_t t : r) ++cnt_r[t];
  for (const auto& c : can_sents)
    for (uint32_t t : c) ++cnt_c[t];
  uint64_t hits = 0;
  std::vector<uint8_t> in_union;
  for (const auto& r : ref_sents) {
    in_union.assign(r.size(), 0);
    for (const auto& c : can_sents) {
      lcs_table(r, c, table);
      // rouge-score's _backtrack_norec, tie-breaking included.
      size_t i = r.size(), j = c.size();
      const size_t cols = c.size() + 1;
      while (i > 0 && j > 0) {
        if (r[i - 1] == c[j - 1]) {
          in_union[i - 1] = 1;
          --i;
          --j;
        } else if (table[i * cols + (j - 1)] > table[(i - 1) * cols + j]) {
          --j;
        } else {
          --i;
        }
      }
    }
    for (size_t k = 0; k < r.size(); ++k) {
      if (!in_union[k]) continue;
      const uint32_t t = r[k];
      if (cnt_c[t] > 0 && cnt_r[t] > 0) {
        ++hits;
        --cnt_c[t];
        --cnt_r[t];
      }
    }
  }
  s.r = static_cast<double>(hits) / static_cast<double>(m);
  s.p = static_cast<double>(hits) / static_cast<double>(n);
  s.f = fmeasure(s.p, s.r);
  return s;
}

}  // namespace

std::vector<std::string> rouge_tokenize(std::string_view text, bool use_stemmer) {
  TokenList t;
  tokenize_text(text, use_stemmer, nullptr, t);
  return std::vector<std::string>(t.tokens.begin(), t.tokens.end());
}

std::vector<double> rouge_scores(const std::vector<std::string_view>& preds, const References& targets,
                                 const RougeOptions& opt) {
  if (opt.types.empty()) throw InvalidArgument("rouge: no rouge types given");
  check_utf8(preds, "predictions");
  check_references(targets, preds.size(), "references");
  bool need_sents = false;
  for (const auto& t : opt.types) need_sents = need_sents || t.kind == RougeType::kLsum;
  const size_t T = opt.types.size();
  std::vector<double> out(preds.size() * 3 * T, 0.0);
  core::parallel_for(preds.size(), 256, [&](size_t begin, size_t end) {
    thread_local StemCache cache;
    TokenList pt, tt;
    std::vector<uint32_t> pid, tid, table;
    std::vector<std::vector<uint32_t>> psent, tsent;
    TokenInterner in;
    NgramTables ngrams;
    std::vector<uint64_t> masks;
    std::vector<Score> best(T), cur(T);
    auto sentences = [](const TokenList& t, const std::vector<uint32_t>& ids, std::vector<std::vector<uint32_t>>& out) {
      out.resize(t.sents.size());
      for (size_t s = 0; s < t.sents.size(); ++s)
        out[s].assign(ids.begin() + t.sents[s].first, ids.begin() + t.sents[s].second);
    };
    for (size_t i = begin; i < end; ++i) {
      cache.trim();
      tokenize_text(preds[i], opt.use_stemmer, &cache, pt);
      bool first = true;
      for (size_t k = 0; k < targets.streams.size(); ++k) {
        if (!targets.has(k, i)) continue;
        tokenize_text(targets.streams[k][i], opt.use_stemmer, &cache, tt);
        in.reset(tt.tokens.size() + pt.tokens.size());
        to_ids(tt.tokens, in, tid);
        to_ids(pt.tokens, in, pid);
        if (need_sents) {
          sentences(tt, tid, tsent);
          sentences(pt, pid, psent);
        }
        const uint32_t vocab = in.size();
        const int bits = bits_for(vocab);
        for (size_t t = 0; t < T; ++t) {
          const RougeType& ty = opt.types[t];
          if (ty.kind == RougeType::kN) {
            if (!fits_key(ty.n, bits)) throw InvalidArgument("rouge: row " + std::to_string(i) + " is too long");
            cur[t] = ty.n * bits <= 64 ? score_ngrams(tid, pid, ty.n, bits, ngrams.narrow)
                                       : score_ngrams(tid, pid, ty.n, bits, ngrams.wide);
          } else if (ty.kind == RougeType::kL) {
            if (masks.size() < vocab) masks.assign(vocab, 0);
            cur[t] = score_lcs(tid, pid, table, masks);
          } else {
            cur[t] = score_lsum(tsent, psent, vocab, table);
          }
          if (first || cur[t].f > best[t].f) best[t] = cur[t];
        }
        first = false;
      }
      double* row = out.data() + i * 3 * T;
      for (size_t t = 0; t < T; ++t) {
        row[3 * t] = best[t].p;
        row[3 * t + 1] = best[t].r;
        row[3 * t + 2] = best[t].f;
      }
    }
  });
  return out;
}

}  // namespace airtune::metrics
