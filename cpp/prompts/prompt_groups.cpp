#include "prompts/prompt_groups.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <unordered_map>

#include "core/errors.h"
#include "core/hash.h"
#include "core/threading.h"

namespace airtune::prompts {

namespace {

std::vector<uint64_t> shingle_set(std::string_view s, int k) {
  std::string n;
  n.reserve(s.size());
  bool space = false;
  for (char c : s) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v') {
      space = !n.empty();
      continue;
    }
    if (space) n += ' ';
    space = false;
    n += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
  }
  std::vector<uint64_t> out;
  const size_t kk = static_cast<size_t>(k);
  if (n.size() <= kk) {
    if (!n.empty()) out.push_back(core::xxh64(n));
    return out;
  }
  for (size_t i = 0; i + kk <= n.size(); ++i) out.push_back(core::xxh64(std::string_view(n).substr(i, kk)));
  std::sort(out.begin(), out.end());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

double jaccard(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  if (a.empty() && b.empty()) return 1.0;
  size_t i = 0, j = 0, inter = 0;
  while (i < a.size() && j < b.size()) {
    if (a[i] < b[j])
      ++i;
    else if (a[i] > b[j])
      ++j;
    else
      ++inter, ++i, ++j;
  }
  return static_cast<double>(inter) / static_cast<double>(a.size() + b.size() - inter);
}

int64_t find(std::vector<int64_t>& p, int64_t x) {
  while (p[x] != x) x = p[x] = p[p[x]];
  return x;
}

}  // namespace

double shingle_jaccard(std::string_view a, std::string_view b, int shingle) {
  if (shingle < 1) throw InvalidArgument("shingle must be >= 1");
  return jaccard(shingle_set(a, shingle), shingle_set(b, shingle));
}

PromptGroups group_prompts(const std::vector<std::string_view>& prompts, const std::vector<uint8_t>& present,
                           double threshold, int shingle, int64_t max_distinct) {
  if (!(threshold > 0.0 && threshold <= 1.0)) throw InvalidArgument("threshold must be in (0, 1]");
  if (shingle < 1) throw InvalidArgument("shingle must be >= 1");
  if (max_distinct < 1) throw InvalidArgument("max_distinct must be >= 1");
  if (!present.empty() && present.size() != prompts.size())
    throw InvalidArgument("present has " + std::to_string(present.size()) + " flags for " +
                          std::to_string(prompts.size()) + " prompts");
  PromptGroups g;
  g.exact_of_row.assign(prompts.size(), -1);
  std::unordered_map<std::string_view, int64_t> ids;
  for (size_t i = 0; i < prompts.size(); ++i) {
    if (!present.empty() && !present[i]) continue;
    auto [it, fresh] = ids.emplace(prompts[i], static_cast<int64_t>(g.count.size()));
    if (fresh) {
      g.count.push_back(0);
      g.first_row.push_back(static_cast<int64_t>(i));
    }
    g.exact_of_row[i] = it->second;
    ++g.count[it->second];
  }
  const int64_t d = static_cast<int64_t>(g.count.size());
  // The most frequent distinct prompts (ties: first occurrence) take part in the pairwise pass.
  std::vector<int64_t> order(d);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t a, int64_t b) { return g.count[a] > g.count[b]; });
  const int64_t m = std::min(d, max_distinct);
  g.near_truncated = m < d;
  std::vector<int64_t> sel(order.begin(), order.begin() + m);
  std::sort(sel.begin(), sel.end());
  std::vector<std::vector<uint64_t>> sets(m);
  core::parallel_for(static_cast<size_t>(m), 16, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) sets[i] = shingle_set(prompts[g.first_row[sel[i]]], shingle);
  });
  // Row i of the upper triangle: its partners at or above the threshold.
  std::vector<std::vector<int64_t>> partners(m);
  core::parallel_for(static_cast<size_t>(m), 4, [&](size_t b, size_t e) {
    for (size_t i = b; i < e; ++i) {
      for (size_t j = i + 1; j < static_cast<size_t>(m); ++j) {
        // J <= min/max of the set sizes: skip pairs that cannot reach the threshold.
        const double lo = static_cast<double>(std::min(sets[i].size(), sets[j].size()));
        const double hi = static_cast<double>(std::max(sets[i].size(), sets[j].size()));
        if (hi > 0 && lo / hi < threshold) continue;
        if (jaccard(sets[i], sets[j]) >= threshold) partners[i].push_back(static_cast<int64_t>(j));
      }
    }
  });
  std::vector<int64_t> parent(m);
  std::iota(parent.begin(), parent.end(), 0);
  for (int64_t i = 0; i < m; ++i) {
    for (const int64_t j : partners[i]) {
      const int64_t a = find(parent, i), b = find(parent, j);
      if (a != b) parent[std::max(a, b)] = std::min(a, b);
    }
  }
  // Group ids in order of first occurrence of the distinct prompt.
  g.near_of_distinct.assign(d, -1);
  std::vector<int64_t> root_id(m, -1);
  std::vector<int64_t> pos_in_sel(d, -1);
  for (int64_t i = 0; i < m; ++i) pos_in_sel[sel[i]] = i;
  for (int64_t k = 0; k < d; ++k) {
    if (pos_in_sel[k] < 0) {
      g.near_of_distinct[k] = g.n_near++;
      continue;
    }
    const int64_t r = find(parent, pos_in_sel[k]);
    if (root_id[r] < 0) root_id[r] = g.n_near++;
    g.near_of_distinct[k] = root_id[r];
  }
  return g;
}

}  // namespace airtune::prompts
