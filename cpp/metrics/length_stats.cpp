#include "metrics/length_stats.h"

#include "core/threading.h"
#include "core/utf8.h"
#include "metrics/inputs.h"
#include "metrics/text.h"

namespace airtune::metrics {

std::vector<int64_t> length_stats(const std::vector<std::string_view>& texts) {
  check_utf8(texts, "texts");
  std::vector<int64_t> out(texts.size() * 3);
  core::parallel_for(texts.size(), 1024, [&](size_t begin, size_t end) {
    std::vector<std::string_view> words;
    for (size_t i = begin; i < end; ++i) {
      words.clear();
      py_split(texts[i], words);
      out[3 * i] = static_cast<int64_t>(texts[i].size());
      out[3 * i + 1] = static_cast<int64_t>(core::utf8_length(texts[i]));
      out[3 * i + 2] = static_cast<int64_t>(words.size());
    }
  });
  return out;
}

}  // namespace airtune::metrics
