// Length statistics of texts: bytes, code points and whitespace-separated words per item.
// Output n x 3 (int64, row-major). Thread safety: reentrant; runs in the core arena.
#pragma once

#include <cstdint>
#include <string_view>
#include <vector>

namespace airtune::metrics {

std::vector<int64_t> length_stats(const std::vector<std::string_view>& texts);

}  // namespace airtune::metrics
