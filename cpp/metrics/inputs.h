// Input checks shared by the metrics: sizes and UTF-8 validity, reported with the row.
//
// References follow sacreBLEU's layout: streams[k][i] is reference k of item i; an item may lack
// some references (present[k][i] == 0, Python None), but every item needs at least one.
// Thread safety: read-only views; the caller keeps the strings alive.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::metrics {

struct References {
  std::vector<std::vector<std::string_view>> streams;
  /// Empty, or one mask per stream (1 = present). Missing masks mean every reference is present.
  std::vector<std::vector<uint8_t>> present;

  bool has(size_t k, size_t i) const noexcept { return present.empty() || present[k][i] != 0; }
};

/// Throws InvalidArgument "<name>: row i is not valid UTF-8 (byte offset b)" for the first bad row.
void check_utf8(const std::vector<std::string_view>& texts, const std::string& name);

/// Checks that every stream has n items, masks match, every item has a reference, all UTF-8.
void check_references(const References& refs, size_t n, const std::string& name);

}  // namespace airtune::metrics
