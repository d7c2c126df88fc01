#include "dedup/survivors.h"

#include "core/errors.h"

namespace airtune::dedup {

SurvivorRule parse_survivor_rule(const std::string& name) {
  if (name == "first") return SurvivorRule::kFirst;
  if (name == "longest") return SurvivorRule::kLongest;
  if (name == "score" || name == "priority") return SurvivorRule::kScore;
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

}  // namespace airtune::dedup
