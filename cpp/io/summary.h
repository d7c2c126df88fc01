// Summary statistics of a RecordBatch: what a user checks first about a dataset.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "io/record.h"

namespace airtune::io {

struct BatchSummary {
  int64_t rows = 0;
  int64_t messages = 0;
  std::array<int64_t, kFormatCount> formats{};  ///< records per Format
  std::array<int64_t, kRoleCount> roles{};      ///< messages per Role
  int64_t instruct_rows = 0;                    ///< [system,] user, assistant
  int64_t rows_with_system = 0;
  int64_t empty_contents = 0;  ///< messages with empty or null content
  int64_t distinct_system_prompts = 0;
  /// The most frequent system prompts (text, count), most frequent first, ties by first
  /// appearance; at most `top_k`.
  std::vector<std::pair<std::string, int64_t>> top_system_prompts;
  std::vector<int64_t> turns;          ///< messages per record
  std::vector<int64_t> content_chars;  ///< Unicode code points per message
};

/// One pass over the batch (code-point counts in parallel). Deterministic.
BatchSummary summarize(const RecordBatch& batch, size_t top_k = 5);

}  // namespace airtune::io
