// StringColumn: many strings in one buffer, Arrow's large_string layout.
//
// String i is data[offsets[i], offsets[i+1]). offsets has size() + 1 entries, starts at 0 and
// never decreases. A null (missing) string is kept as empty and flagged in `valid` when the column
// tracks nulls (valid is empty when every entry is valid). The layout lets Python expose the
// buffers to numpy and pyarrow without copying.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::core {

struct StringColumn {
  std::string data;                 ///< UTF-8 bytes of all strings, back to back
  std::vector<int64_t> offsets{0};  ///< size() + 1 entries
  std::vector<uint8_t> valid;       ///< empty (all valid) or one 0/1 flag per string

  size_t size() const noexcept { return offsets.size() - 1; }
  std::string_view operator[](size_t i) const noexcept {
    return {data.data() + offsets[i], static_cast<size_t>(offsets[i + 1] - offsets[i])};
  }
  bool is_valid(size_t i) const noexcept { return valid.empty() || valid[i] != 0; }

  void push_back(std::string_view s) {
    data.append(s.data(), s.size());
    offsets.push_back(static_cast<int64_t>(data.size()));
    if (!valid.empty()) valid.push_back(1);
  }
  void push_null() {
    if (valid.empty()) [[unlikely]]
      track_nulls();
    offsets.push_back(static_cast<int64_t>(data.size()));
    valid.push_back(0);
  }
  /// Starts the `valid` flags (every entry so far valid): push_null's first-null path, kept out of
  /// line so that the per-message nulls of the record parser stay a few instructions each.
  [[gnu::noinline, gnu::cold]] void track_nulls() { valid.assign(size(), 1); }
  /// Appends every string of `other`, in order.
  void append(const StringColumn& other) {
    const int64_t base = static_cast<int64_t>(data.size());
    const size_t before = size();
    data += other.data;
    for (size_t i = 1; i < other.offsets.size(); ++i) offsets.push_back(base + other.offsets[i]);
    if (!valid.empty() || !other.valid.empty()) {
      if (valid.empty()) valid.assign(before, 1);
      if (other.valid.empty())
        valid.insert(valid.end(), other.size(), 1);
      else
        valid.insert(valid.end(), other.valid.begin(), other.valid.end());
    }
  }
  void clear() {
    data.clear();
    offsets.assign(1, 0);
    valid.clear();
  }
};

}  // namespace airtune::core
