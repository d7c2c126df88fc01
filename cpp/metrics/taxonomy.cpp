#include "metrics/taxonomy.h"

#include <unordered_set>

#include "core/errors.h"
#include "core/threading.h"
#include "metrics/inputs.h"
#include "metrics/text.h"

namespace airtune::metrics {

namespace {

std::string_view strip(std::string_view s) {
  s = py_rstrip(s);
  size_t i = 0;
  while (i < s.size()) {
    const size_t at = i;
    if (!is_py_space(next_code_point(s, i))) return s.substr(at);
  }
  return {};
}

std::string canonical(const std::vector<std::string_view>& levels) {
  std::string out;
  for (size_t k = 0; k < levels.size(); ++k) {
    if (k) out.push_back('\x1f');
    out.append(levels[k]);
  }
  return out;
}

}  // namespace

std::vector<std::string_view> split_path(std::string_view path, std::string_view sep) {
  std::vector<std::string_view> out;
  path = strip(path);
  if (path.empty()) return out;
  size_t start = 0;
  while (true) {
    const size_t pos = path.find(sep, start);
    const std::string_view level = strip(path.substr(start, pos == std::string_view::npos ? path.npos : pos - start));
    out.push_back(level);
    if (pos == std::string_view::npos) break;
    start = pos + sep.size();
  }
  return out;
}

std::vector<TaxonomyItem> taxonomy_items(const std::vector<std::string_view>& gold,
                                         const std::vector<std::string_view>& pred,
                                         const std::vector<std::string_view>& valid_paths, std::string_view sep) {
  if (sep.empty()) throw InvalidArgument("taxonomy: the separator must not be empty");
  if (gold.size() != pred.size()) {
    throw InvalidArgument("taxonomy: gold has " + std::to_string(gold.size()) + " items, predictions have " +
                          std::to_string(pred.size()));
  }
  check_utf8(gold, "gold");
  check_utf8(pred, "predictions");
  check_utf8(valid_paths, "valid_paths");
  std::unordered_set<std::string> valid;
  for (auto p : valid_paths) valid.insert(canonical(split_path(p, sep)));
  for (size_t i = 0; i < gold.size(); ++i) {
    if (split_path(gold[i], sep).empty()) throw InvalidArgument("gold: row " + std::to_string(i) + " is empty");
  }
  std::vector<TaxonomyItem> out(gold.size());
  core::parallel_for(gold.size(), 1024, [&](size_t begin, size_t end) {
    for (size_t i = begin; i < end; ++i) {
      const auto g = split_path(gold[i], sep);
      const auto p = split_path(pred[i], sep);
      bool ok = !p.empty();
      for (auto level : p) ok = ok && !level.empty();
      if (ok && !valid.empty()) ok = valid.count(canonical(p)) > 0;
      int32_t common = 0;
      if (ok) {
        while (static_cast<size_t>(common) < g.size() && static_cast<size_t>(common) < p.size() &&
               g[static_cast<size_t>(common)] == p[static_cast<size_t>(common)]) {
          ++common;
        }
      }
      out[i] = TaxonomyItem{static_cast<int32_t>(g.size()), static_cast<int32_t>(p.empty() ? 1 : p.size()), common,
                            static_cast<uint8_t>(ok)};
    }
  });
  return out;
}

}  // namespace airtune::metrics
