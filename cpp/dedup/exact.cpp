#include "dedup/exact.h"

#include <algorithm>
#include <map>
#include <string>

#include "core/hash.h"
#include "core/threading.h"

namespace airtune::dedup {

std::vector<uint64_t> exact_hashes(std::span<const std::string_view> texts, const NormalizeOptions& options) {
  std::vector<uint64_t> out(texts.size());
  core::parallel_for(texts.size(), 256, [&](size_t b, size_t e) {
    std::string buf;
    for (size_t i = b; i < e; ++i) {
      normalize_into(texts[i], options, buf);
      out[i] = core::xxh64(buf);
    }
  });
  return out;
}

ExactResult exact_duplicates(std::span<const std::string_view> texts, const NormalizeOptions& options,
                             SurvivorRule rule, std::span<const double> scores) {
  const size_t n = texts.size();
  ExactResult res;
  res.hashes = exact_hashes(texts, options);
  std::vector<std::pair<uint64_t, int64_t>> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = {res.hashes[i], static_cast<int64_t>(i)};
  std::sort(order.begin(), order.end());
  UnionFind uf(n);
  std::string norm;
  for (size_t s = 0; s < n;) {
    size_t e = s + 1;
    while (e < n && order[e].first == order[s].first) ++e;
    if (e - s > 1) {
      // Confirm byte equality; distinct texts under one hash become separate groups.
      std::map<std::string, int64_t> first_of;
      for (size_t k = s; k < e; ++k) {
        const int64_t row = order[k].second;
        normalize_into(texts[row], options, norm);
        auto [it, inserted] = first_of.try_emplace(norm, row);
        if (!inserted) uf.unite(it->second, row);
      }
      res.hash_collisions += static_cast<int64_t>(first_of.size()) - 1;
    }
    s = e;
  }
  std::vector<int64_t> lengths;
  if (rule == SurvivorRule::kLongest) {
    lengths.resize(n);
    for (size_t i = 0; i < n; ++i) lengths[i] = static_cast<int64_t>(texts[i].size());
  }
  res.clusters = resolve_clusters(uf, rule, lengths, scores);
  return res;
}

}  // namespace airtune::dedup
