#include "prompts/prompt_groups.h"

#include <algorithm>
#include <numeric>
#include <string>
#include <unordered_map>

#include "core/errors.h"
#include "core/threading.h"
#include "core/union_find.h"
#include "dedup/minhash.h"

namespace airtune::prompts {

namespace {

// Character k-shingles of the text lower-cased with runs of whitespace collapsed (dedup's shingles).
dedup::MinHashOptions shingle_options(int k) { return dedup::char_shingle_options(k, true); }

// Two texts without shingles (both empty) are the same prompt.
double similarity(const std::vector<uint64_t>& a, const std::vector<uint64_t>& b) {
  return a.empty() && b.empty() ? 1.0 : dedup::jaccard(a, b);
}

}  // namespace

double shingle_jaccard(std::string_view a, std::string_view b, int shingle) {
  if (shingle < 1) throw InvalidArgument("shingle must be >= 1");
  const auto o = shingle_options(shingle);
  return similarity(dedup::shingle_hashes(a, o), dedup::shingle_hashes(b, o));
}

PromptGroups group_prompts(const std::vector<std::string_view>& prompts, const std::vector<uint8_t>& present,
                           double threshold, int shingle, int64_t max_distinct) {
  if (!(threshold > 0.0 && threshold <= 1.0)) throw InvalidArgument("threshold must be in (0, 1]");
  if (shingle < 1) throw InvalidArgument("shingle must be >= 1");
  const auto shingling = shingle_options(shingle);
  dedup::validate(shingling);
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
    for (size_t i = b; i < e; ++i) sets[i] = dedup::shingle_hashes(prompts[g.first_row[sel[i]]], shingling);
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
        if (similarity(sets[i], sets[j]) >= threshold) partners[i].push_back(static_cast<int64_t>(j));
      }
    }
  });
  core::UnionFind uf(static_cast<size_t>(m));
  for (int64_t i = 0; i < m; ++i)
    for (const int64_t j : partners[i]) uf.unite(i, j);
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
    const int64_t r = uf.find(pos_in_sel[k]);
    if (root_id[r] < 0) root_id[r] = g.n_near++;
    g.near_of_distinct[k] = root_id[r];
  }
  return g;
}

}  // namespace airtune::prompts
