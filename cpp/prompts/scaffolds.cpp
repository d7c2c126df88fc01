#include "prompts/scaffolds.h"

#include <algorithm>
#include <numeric>

#include "core/errors.h"

namespace airtune::prompts {

namespace {

bool boundary_char(char c) {
  const auto u = static_cast<unsigned char>(c);
  return u < 0x80 && !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_');
}

size_t lcp(std::string_view a, std::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  size_t i = 0;
  while (i < n && a[i] == b[i]) ++i;
  return i;
}

// Cut a common prefix of length L of `s` back so that it ends right after a boundary character,
// unless it is all of s.
size_t cut(std::string_view s, size_t L) {
  if (L >= s.size()) return s.size();
  while (L > 0 && !boundary_char(s[L - 1])) --L;
  return L;
}

}  // namespace

std::vector<Scaffold> find_scaffolds(const std::vector<std::string_view>& texts, bool suffix, size_t min_chars,
                                     int64_t min_rows) {
  if (min_chars < 1) throw InvalidArgument("scaffolds: min_chars must be >= 1");
  if (min_rows < 2) throw InvalidArgument("scaffolds: min_rows must be >= 2");
  const size_t n = texts.size();
  std::vector<std::string> rev;
  std::vector<std::string_view> keys(texts.begin(), texts.end());
  if (suffix) {
    rev.resize(n);
    for (size_t i = 0; i < n; ++i) rev[i] = std::string(texts[i].rbegin(), texts[i].rend());
    for (size_t i = 0; i < n; ++i) keys[i] = rev[i];
  }
  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return keys[a] < keys[b]; });
  std::vector<Scaffold> out;
  size_t i = 0;
  while (i < n) {
    size_t j = i + 1;
    size_t common = keys[order[i]].size();
    while (j < n) {
      const size_t l = std::min(common, lcp(keys[order[j - 1]], keys[order[j]]));
      // The cut must hold for every member; cutting the shortest view suffices as they agree on [0, l).
      const size_t c = cut(keys[order[j]].size() < keys[order[i]].size() ? keys[order[j]] : keys[order[i]], l);
      if (c < min_chars) break;
      common = l;
      ++j;
    }
    if (static_cast<int64_t>(j - i) >= min_rows) {
      size_t len = common;
      for (size_t k = i; k < j; ++k) len = std::min(len, cut(keys[order[k]], common));
      int64_t distinct = 1;
      for (size_t k = i + 1; k < j; ++k) distinct += keys[order[k]] != keys[order[k - 1]];
      if (distinct >= 2 && len >= min_chars) {
        Scaffold s;
        std::string t(keys[order[i]].substr(0, len));
        if (suffix) std::reverse(t.begin(), t.end());
        s.text = std::move(t);
        s.suffix = suffix;
        s.rows = static_cast<int64_t>(j - i);
        s.distinct = distinct;
        s.members.assign(order.begin() + static_cast<long>(i), order.begin() + static_cast<long>(j));
        std::sort(s.members.begin(), s.members.end());
        out.push_back(std::move(s));
      }
    }
    i = j;
  }
  std::stable_sort(out.begin(), out.end(), [](const Scaffold& a, const Scaffold& b) {
    return a.rows != b.rows ? a.rows > b.rows : a.text < b.text;
  });
  return out;
}

}  // namespace airtune::prompts
