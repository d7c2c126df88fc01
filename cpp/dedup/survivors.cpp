#include "dedup/survivors.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "core/enum_names.h"
#include "core/errors.h"

namespace airtune::dedup {

SurvivorRule parse_survivor_rule(const std::string& name) {
  static constexpr core::EnumName<SurvivorRule> kRules[] = {{"first", SurvivorRule::kFirst},
                                                            {"longest", SurvivorRule::kLongest},
                                                            {"score", SurvivorRule::kScore},
                                                            {"priority", SurvivorRule::kScore}};
  if (const auto rule = core::find_enum(name, kRules)) return *rule;
  throw InvalidArgument("keep: expected 'first', 'longest', 'score' or 'priority', got '" + name + "'");
}

Clusters resolve_clusters(UnionFind& uf, SurvivorRule rule, std::span<const int64_t> lengths,
                          std::span<const double> scores) {
  const size_t n = uf.size();
  if (rule == SurvivorRule::kLongest && lengths.size() != n)
    throw InvalidArgument("keep='longest': lengths has " + std::to_string(lengths.size()) + " entries, expected " +
                          std::to_string(n));
  if (rule == SurvivorRule::kScore && scores.size() != n)
    throw InvalidArgument("keep='score': scores has " + std::to_string(scores.size()) + " entries, expected " +
                          std::to_string(n));
  Clusters out;
  std::vector<int64_t> root(n), best(n, -1), count(n, 0);
  for (size_t i = 0; i < n; ++i) {
    const int64_t r = uf.find(static_cast<int64_t>(i));
    root[i] = r;
    ++count[r];
    int64_t& b = best[r];
    const auto ii = static_cast<int64_t>(i);
    if (b < 0) {
      b = ii;
      continue;
    }
    // Rows arrive in increasing index order, so strict '>' keeps the smallest index on ties.
    if (rule == SurvivorRule::kLongest && lengths[i] > lengths[b]) b = ii;
    if (rule == SurvivorRule::kScore && scores[i] > scores[b]) b = ii;
  }
  out.cluster.resize(n);
  out.size.resize(n);
  out.keep.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const int64_t r = root[i];
    out.cluster[i] = best[r];
    out.size[i] = count[r];
    out.keep[i] = best[r] == static_cast<int64_t>(i) ? 1 : 0;
    if (!out.keep[i]) ++out.n_removed;
    if (count[r] > 1 && best[r] == static_cast<int64_t>(i)) ++out.n_clusters;
  }
  return out;
}

namespace {

void check_pairs(int64_t n, std::span<const int64_t> a, std::span<const int64_t> b) {
  if (n < 0) throw InvalidArgument("pairs: n must be >= 0, got " + std::to_string(n));
  if (a.size() != b.size())
    throw InvalidArgument("pairs: a and b differ in length (" + std::to_string(a.size()) + " vs " +
                          std::to_string(b.size()) + ")");
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i] < 0 || a[i] >= n || b[i] < 0 || b[i] >= n)
      throw InvalidArgument("pairs: pair " + std::to_string(i) + " names a row outside [0, " + std::to_string(n) + ")");
}

}  // namespace

Clusters clusters_from_pairs(int64_t n, std::span<const int64_t> a, std::span<const int64_t> b, SurvivorRule rule,
                             std::span<const int64_t> lengths, std::span<const double> scores) {
  check_pairs(n, a, b);
  UnionFind uf(static_cast<size_t>(n));
  for (size_t i = 0; i < a.size(); ++i) uf.unite(a[i], b[i]);
  return resolve_clusters(uf, rule, lengths, scores);
}

std::vector<int64_t> removed_at_thresholds(int64_t n, std::span<const int64_t> a, std::span<const int64_t> b,
                                           std::span<const double> similarity, std::span<const double> thresholds) {
  check_pairs(n, a, b);
  if (similarity.size() != a.size())
    throw InvalidArgument("pairs: " + std::to_string(similarity.size()) + " similarities for " +
                          std::to_string(a.size()) + " pairs");
  // NaN compares false, as in `similarity >= t`: a pair of NaN similarity joins nothing (it is left
  // out) and a NaN threshold joins no pair (it removes 0; it sorts first only to keep the order strict).
  auto tkey = [&](size_t x) { return std::isnan(thresholds[x]) ? HUGE_VAL : thresholds[x]; };
  std::vector<size_t> pairs, ts(thresholds.size());
  pairs.reserve(a.size());
  for (size_t k = 0; k < a.size(); ++k)
    if (!std::isnan(similarity[k])) pairs.push_back(k);
  std::iota(ts.begin(), ts.end(), size_t{0});
  std::stable_sort(pairs.begin(), pairs.end(), [&](size_t x, size_t y) { return similarity[x] > similarity[y]; });
  std::stable_sort(ts.begin(), ts.end(), [&](size_t x, size_t y) { return tkey(x) > tkey(y); });
  // Each successful union removes one row (keep='first': every cluster keeps one).
  UnionFind uf(static_cast<size_t>(n));
  std::vector<int64_t> out(thresholds.size(), 0);
  int64_t removed = 0;
  size_t k = 0;
  for (const size_t t : ts) {
    if (std::isnan(thresholds[t])) continue;  // out[t] stays 0
    for (; k < pairs.size() && similarity[pairs[k]] >= thresholds[t]; ++k)
      removed += uf.unite(a[pairs[k]], b[pairs[k]]);
    out[t] = removed;
  }
  return out;
}

}  // namespace airtune::dedup
