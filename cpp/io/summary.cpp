#include "io/summary.h"

#include <algorithm>
#include <string_view>
#include <unordered_map>

#include "core/threading.h"
#include "core/utf8.h"

namespace airtune::io {

BatchSummary summarize(const RecordBatch& b, size_t top_k) {
  BatchSummary s;
  s.rows = static_cast<int64_t>(b.size());
  s.messages = static_cast<int64_t>(b.message_count());
  s.turns.resize(b.size());
  s.content_chars.resize(b.message_count());
  core::parallel_for(b.message_count(), 4096, [&](size_t lo, size_t hi) {
    for (size_t j = lo; j < hi; ++j) s.content_chars[j] = static_cast<int64_t>(core::utf8_length(b.content[j]));
  });
  for (size_t j = 0; j < b.message_count(); ++j) {
    s.roles[b.role[j]] += 1;
    s.empty_contents += b.content[j].empty();
  }
  struct Seen {
    int64_t count = 0;
    size_t first = 0;
  };
  std::unordered_map<std::string_view, Seen> system_prompts;
  for (size_t i = 0; i < b.size(); ++i) {
    s.formats[b.format[i]] += 1;
    s.turns[i] = b.message_offsets[i + 1] - b.message_offsets[i];
    s.instruct_rows += b.is_instruct(i);
    const size_t j = b.messages_begin(i);
    if (j < b.messages_end(i) && b.role[j] == static_cast<uint8_t>(Role::System)) {
      ++s.rows_with_system;
      auto [it, inserted] = system_prompts.try_emplace(b.content[j], Seen{0, i});
      it->second.count += 1;
    }
  }
  s.distinct_system_prompts = static_cast<int64_t>(system_prompts.size());
  std::vector<std::pair<std::string_view, Seen>> ranked(system_prompts.begin(), system_prompts.end());
  std::sort(ranked.begin(), ranked.end(), [](const auto& x, const auto& y) {
    return x.second.count != y.second.count ? x.second.count > y.second.count : x.second.first < y.second.first;
  });
  for (size_t k = 0; k < std::min(top_k, ranked.size()); ++k)
    s.top_system_prompts.emplace_back(std::string(ranked[k].first), ranked[k].second.count);
  return s;
}

}  // namespace airtune::io
