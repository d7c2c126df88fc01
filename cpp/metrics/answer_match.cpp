#include "metrics/answer_match.h"

#include <algorithm>

#include "core/threading.h"
#include "metrics/text.h"

namespace airtune::metrics {

namespace {

inline bool is_ascii_punct(unsigned char b) noexcept {
  return (b >= 0x21 && b <= 0x2F) || (b >= 0x3A && b <= 0x40) || (b >= 0x5B && b <= 0x60) || (b >= 0x7B && b <= 0x7E);
}

// Code point before byte offset i (valid UTF-8), or 0 at the start.
char32_t prev_code_point(std::string_view s, size_t i) {
  if (i == 0) return 0;
  size_t j = i - 1;
  while (j > 0 && (static_cast<unsigned char>(s[j]) & 0xC0) == 0x80) --j;
  return next_code_point(s, j);
}

bool word_at(std::string_view s, size_t i) {
  if (i >= s.size()) return false;
  return is_py_word(next_code_point(s, i));
}

std::string apply_options(std::string_view s, const ExactMatchOptions& o) {
  std::string out;
  std::string_view v = s;
  if (o.strip) {
    v = py_rstrip(v);
    size_t i = 0, start = v.size();
    while (i < v.size()) {
      const size_t at = i;
      if (!is_py_space(next_code_point(v, i))) {
        start = at;
        break;
      }
    }
    v = v.substr(std::min(start, v.size()));
  }
  out.reserve(v.size());
  for (char c : v) {
    const auto b = static_cast<unsigned char>(c);
    if (o.ignore_punctuation && is_ascii_punct(b)) continue;
    if (o.ignore_numbers && b >= '0' && b <= '9') continue;
    out.push_back(c);
  }
  return out;
}

}  // namespace

std::string squad_normalize(std::string_view text) {
  std::string nopunct;
  nopunct.reserve(text.size());
  for (char c : text) {
    if (!is_ascii_punct(static_cast<unsigned char>(c))) nopunct.push_back(c);
  }
  // re.sub(r'\b(a|an|the)\b', ' ', s): alternatives tried in order, boundaries on the original.
  std::string noart;
  noart.reserve(nopunct.size());
  const std::string_view s = nopunct;
  for (size_t i = 0; i < s.size();) {
    const bool boundary_before = !is_py_word(prev_code_point(s, i)) || i == 0;
    if (boundary_before && (s[i] == 'a' || s[i] == 't')) {
      size_t len = 0;
      for (std::string_view w : {std::string_view("a"), std::string_view("an"), std::string_view("the")}) {
        if (s.substr(i, w.size()) == w && !word_at(s, i + w.size())) {
          len = w.size();
          break;
        }
      }
      if (len > 0) {
        noart.push_back(' ');
        i += len;
        continue;
      }
    }
    noart.push_back(s[i++]);
  }
  std::vector<std::string_view> toks;
  py_split(noart, toks);
  std::string out;
  for (size_t k = 0; k < toks.size(); ++k) {
    if (k) out.push_back(' ');
    out.append(toks[k]);
  }
  return out;
}

std::vector<double> exact_match(const std::vector<std::string_view>& preds, const References& refs,
                                const ExactMatchOptions& opt) {
  check_utf8(preds, "predictions");
  check_references(refs, preds.size(), "references");
  std::vector<double> out(preds.size(), 0.0);
  core::parallel_for(preds.size(), 1024, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const std::string p = apply_options(preds[i], opt);
      for (size_t k = 0; k < refs.streams.size(); ++k) {
        if (refs.has(k, i) && apply_options(refs.streams[k][i], opt) == p) {
          out[i] = 1.0;
          break;
        }
      }
    }
  });
  return out;
}

std::vector<double> squad_scores(const std::vector<std::string_view>& preds, const References& golds, bool v2) {
  check_utf8(preds, "predictions");
  check_references(golds, preds.size(), "references");
  std::vector<double> out(preds.size() * 2, 0.0);
  core::parallel_for(preds.size(), 512, [&](size_t begin, size_t end) {
    std::vector<std::string_view> pt, gt;
    for (size_t i = begin; i < end; ++i) {
      const std::string pn = squad_normalize(preds[i]);
      pt.clear();
      py_split(pn, pt);
      std::vector<std::string_view> ps(pt);
      std::sort(ps.begin(), ps.end());
      double best_em = 0.0, best_f1 = 0.0;
      for (size_t k = 0; k < golds.streams.size(); ++k) {
        if (!golds.has(k, i)) continue;
        const std::string gn = squad_normalize(golds.streams[k][i]);
        const double em = gn == pn ? 1.0 : 0.0;
        gt.clear();
        py_split(gn, gt);
        double f1 = 0.0;
        if (v2 && (gt.empty() || pt.empty())) {
          f1 = gt == pt ? 1.0 : 0.0;
        } else {
          std::sort(gt.begin(), gt.end());
          // Multiset intersection of the sorted token lists (Counter & Counter).
          size_t a = 0, b = 0, same = 0;
          while (a < ps.size() && b < gt.size()) {
            if (ps[a] < gt[b])
              ++a;
            else if (gt[b] < ps[a])
              ++b;
            else {
              ++same;
              ++a;
              ++b;
            }
          }
          if (same > 0) {
            const double prec = static_cast<double>(same) / static_cast<double>(ps.size());
            const double rec = static_cast<double>(same) / static_cast<double>(gt.size());
            f1 = (2 * prec * rec) / (prec + rec);
          }
        }
        best_em = std::max(best_em, em);
        best_f1 = std::max(best_f1, f1);
      }
      out[2 * i] = best_em;
      out[2 * i + 1] = best_f1;
    }
  });
  return out;
}

}  // namespace airtune::metrics
