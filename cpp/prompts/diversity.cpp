#include "prompts/diversity.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <unordered_set>

#include "core/errors.h"
#include "core/threading.h"

namespace airtune::prompts {

namespace {

bool first_class(char c) {
  // sacreBLEU 13a: [\{-\~\[-\` -\&\(-\+\:-\@\/]
  return (c >= '{' && c <= '~') || (c >= '[' && c <= '`') || (c >= ' ' && c <= '&') || (c >= '(' && c <= '+') ||
         (c >= ':' && c <= '@') || c == '/';
}
bool digit(char c) { return c >= '0' && c <= '9'; }

using Ngrams = std::map<std::vector<std::string_view>, int>;

Ngrams ngrams(const std::vector<std::string>& toks, int max_n) {
  Ngrams out;
  for (int n = 1; n <= max_n; ++n)
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      std::vector<std::string_view> g(toks.begin() + static_cast<long>(i), toks.begin() + static_cast<long>(i + n));
      ++out[g];
    }
  return out;
}

double bleu_from_tokens(const std::vector<std::string>& hyp, const std::vector<const std::vector<std::string>*>& refs) {
  constexpr int kN = 4;
  const Ngrams h = ngrams(hyp, kN);
  Ngrams maxref;
  size_t ref_len = 0;
  long best_diff = -1;
  for (const auto* r : refs) {
    for (const auto& [g, c] : ngrams(*r, kN)) {
      auto& m = maxref[g];
      m = std::max(m, c);
    }
    const long diff = std::labs(static_cast<long>(r->size()) - static_cast<long>(hyp.size()));
    if (best_diff < 0 || diff < best_diff || (diff == best_diff && r->size() < ref_len)) {
      best_diff = diff;
      ref_len = r->size();
    }
  }
  double correct[kN] = {0, 0, 0, 0}, total[kN] = {0, 0, 0, 0};
  for (const auto& [g, c] : h) {
    const size_t n = g.size() - 1;
    total[n] += c;
    auto it = maxref.find(g);
    if (it != maxref.end()) correct[n] += std::min(c, it->second);
  }
  const double sys_len = static_cast<double>(hyp.size());
  double bp = 1.0;
  if (sys_len < static_cast<double>(ref_len))
    bp = sys_len > 0 ? std::exp(1.0 - static_cast<double>(ref_len) / sys_len) : 0.0;
  if (correct[0] + correct[1] + correct[2] + correct[3] == 0) return 0.0;
  double prec[kN] = {0, 0, 0, 0};
  double smooth = 1.0;
  int eff = kN;
  for (int n = 0; n < kN; ++n) {
    if (total[n] == 0) break;
    eff = n + 1;
    if (correct[n] == 0) {
      smooth *= 2;
      prec[n] = 100.0 / (smooth * total[n]);
    } else {
      prec[n] = 100.0 * correct[n] / total[n];
    }
  }
  double s = 0;
  for (int n = 0; n < eff; ++n) s += prec[n] > 0 ? std::log(prec[n]) : -9999999999.0;
  return bp * std::exp(s / eff) / 100.0;
}

}  // namespace

std::vector<std::string> tokenize_13a(std::string_view text) {
  std::string line;
  line.reserve(text.size() + 2);
  for (size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '-' && i + 1 < text.size() && text[i + 1] == '\n') {
      ++i;
      continue;
    }
    line += text[i] == '\n' ? ' ' : text[i];
  }
  auto replace_all = [&](std::string_view from, std::string_view to) {
    size_t p = 0;
    while ((p = line.find(from, p)) != std::string::npos) {
      line.replace(p, from.size(), to);
      p += to.size();
    }
  };
  replace_all("<skipped>", "");
  if (line.find('&') != std::string::npos) {
    replace_all("&quot;", "\"");
    replace_all("&amp;", "&");
    replace_all("&lt;", "<");
    replace_all("&gt;", ">");
  }
  std::string s = " " + line + " ";
  std::string a;
  for (char c : s) {
    if (first_class(c) && c != ' ') {
      a += ' ';
      a += c;
      a += ' ';
    } else {
      a += c;
    }
  }
  // re.sub semantics: left to right, non-overlapping two-character matches.
  auto pass = [](const std::string& in, auto pred, bool space_before_first) {
    std::string o;
    o.reserve(in.size() + 16);
    size_t i = 0;
    while (i < in.size()) {
      if (i + 1 < in.size() && pred(in[i], in[i + 1])) {
        if (space_before_first) o += ' ';
        o += in[i];
        o += ' ';
        o += in[i + 1];
        if (!space_before_first) o += ' ';
        i += 2;
      } else {
        o += in[i++];
      }
    }
    return o;
  };
  std::string b = pass(
      a, [](char x, char y) { return !digit(x) && (y == '.' || y == ','); }, false);
  // ([^0-9])([\.,]) -> \1 \2 : x, ' ', y, ' '
  std::string c2 = pass(
      b, [](char x, char y) { return (x == '.' || x == ',') && !digit(y); }, true);
  // ([\.,])([^0-9]) -> ' ' \1 ' ' \2
  std::string d = pass(
      c2, [](char x, char y) { return digit(x) && y == '-'; }, false);
  std::vector<std::string> out;
  size_t i = 0;
  while (i < d.size()) {
    while (i < d.size() && (d[i] == ' ' || d[i] == '\t' || d[i] == '\r' || d[i] == '\f' || d[i] == '\v')) ++i;
    size_t j = i;
    while (j < d.size() && !(d[j] == ' ' || d[j] == '\t' || d[j] == '\r' || d[j] == '\f' || d[j] == '\v')) ++j;
    if (j > i) out.emplace_back(d.substr(i, j - i));
    i = j;
  }
  return out;
}

double sentence_bleu(std::string_view hypothesis, const std::vector<std::string_view>& references) {
  if (references.empty()) throw InvalidArgument("sentence_bleu: at least one reference is needed");
  const auto hyp = tokenize_13a(hypothesis);
  std::vector<std::vector<std::string>> refs;
  for (auto r : references) refs.push_back(tokenize_13a(r));
  std::vector<const std::vector<std::string>*> ptrs;
  for (auto& r : refs) ptrs.push_back(&r);
  return bleu_from_tokens(hyp, ptrs);
}

double self_bleu(const std::vector<std::string_view>& texts) {
  const size_t n = texts.size();
  if (n < 2) return 0.0;
  std::vector<std::vector<std::string>> toks(n);
  core::parallel_for(n, 8, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) toks[i] = tokenize_13a(texts[i]);
  });
  std::vector<double> score(n, 0.0);
  core::parallel_for(n, 1, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      std::vector<const std::vector<std::string>*> refs;
      for (size_t j = 0; j < n; ++j)
        if (j != i) refs.push_back(&toks[j]);
      score[i] = bleu_from_tokens(toks[i], refs);
    }
  });
  return std::accumulate(score.begin(), score.end(), 0.0) / static_cast<double>(n);
}

double distinct_n(const std::vector<std::string_view>& texts, int n) {
  if (n < 1) throw InvalidArgument("distinct_n: n must be >= 1");
  std::unordered_set<std::string> seen;
  size_t total = 0;
  for (auto t : texts) {
    auto toks = tokenize_13a(t);
    for (auto& w : toks)
      for (auto& c : w)
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    for (size_t i = 0; i + n <= toks.size(); ++i) {
      std::string key;
      for (int k = 0; k < n; ++k) {
        key += toks[i + k];
        key += '\x1f';
      }
      seen.insert(std::move(key));
      ++total;
    }
  }
  return total ? static_cast<double>(seen.size()) / static_cast<double>(total) : 0.0;
}

}  // namespace airtune::prompts
