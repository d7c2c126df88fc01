// Fuzz target for JSONL record parsing and writing: any bytes, split into lines, parsed into
// records. Never a crash, never an unbalanced count, and:
//   - the error locator agrees with simdjson on valid UTF-8 (what simdjson refuses, it explains,
//     inside the line; what it accepts, it accepts), and rejected lines name a column in the line;
//   - kept JSON text (metadata, extra) holds each key once (duplicate keys: the last wins);
//   - every record serialises back (record_to_json) to a line that parses to the same record,
//     in its own layout (Alpaca instruction and input included) and, where the writer accepts
//     the conversion, as chat and as ShareGPT (same roles and contents).
#include <simdjson.h>

#include <cstdint>
#include <cstdlib>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/errors.h"
#include "core/utf8.h"
#include "io/json_text.h"
#include "io/jsonl_writer.h"
#include "io/line_parser.h"

using namespace airtune::io;

namespace {

void check_unique_keys(const airtune::core::StringColumn& col, size_t i) {
  if (!col.is_valid(i)) return;
  std::set<std::string_view> seen;
  for (std::string_view k : top_level_keys(col[i]))
    if (!seen.insert(k).second) std::abort();
}

void check_locator(std::string_view text, simdjson::dom::parser& parser) {
  if (!airtune::core::is_valid_utf8(text)) return;
  const JsonTextError found = find_json_error(text);
  if (found.offset > text.size()) std::abort();
  auto parsed = parser.parse(text.data(), text.size(), true);
  const bool refused = parsed.error() != simdjson::SUCCESS;
  if (refused && parsed.error() == simdjson::DEPTH_ERROR) return;
  if (refused == found.reason.empty()) std::abort();
}

// Parses `line` and checks it gives the messages of record `i` of `b` (roles and contents).
RecordBatch reparse(const std::string& line) {
  RecordParser again(Format::Auto);
  RecordBatch out;
  if (again.parse(line, 0, 1, "x", out)) std::abort();
  return out;
}

void same_messages(const RecordBatch& b, size_t i, const RecordBatch& out) {
  const size_t m = b.messages_end(i) - b.messages_begin(i);
  if (out.message_count() != m) std::abort();
  for (size_t j = 0; j < m; ++j) {
    if (out.role[j] != b.role[b.messages_begin(i) + j]) std::abort();
    if (out.content[j] != b.content[b.messages_begin(i) + j]) std::abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<LineInput> lines;
  simdjson::dom::parser checker;
  size_t start = 0;
  int64_t number = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back({std::string_view(text).substr(start, end - start), 0, ++number});
    check_locator(lines.back().text, checker);
    start = end + 1;
  }
  LineParser parser(Format::Auto, "fuzz", SIZE_MAX);
  int64_t accounted = 0;
  for (ParsedChunk& chunk : parser.parse(lines)) {
    accounted += static_cast<int64_t>(chunk.batch.size() + chunk.errors.size()) + chunk.blank;
    for (const auto& [index, error] : chunk.errors) {
      const int64_t width = static_cast<int64_t>(lines[index].text.size());
      if (error.column < 1 || error.column > width + 1) std::abort();
    }
    const RecordBatch& b = chunk.batch;
    for (size_t i = 0; i < b.size(); ++i) {
      check_unique_keys(b.metadata, i);
      for (size_t j = b.messages_begin(i); j < b.messages_end(i); ++j) check_unique_keys(b.extra, j);
      const RecordBatch out = reparse(record_to_json(b, i, Format::Auto));
      same_messages(b, i, out);
      if (out.format[0] != b.format[i] || out.id[0] != b.id[i] || out.input_at[0] != b.input_at[i]) std::abort();
      if (out.metadata.is_valid(0) != b.metadata.is_valid(i)) std::abort();
      if (b.metadata.is_valid(i) && out.metadata[0] != b.metadata[i]) std::abort();
      for (Format f : {Format::Chat, Format::ShareGPT}) {
        std::string line;
        try {
          line = record_to_json(b, i, f);
        } catch (const airtune::InvalidArgument&) {
          continue;  // a layout that cannot hold this record says so
        }
        same_messages(b, i, reparse(line));
      }
    }
  }
  if (accounted != static_cast<int64_t>(lines.size())) std::abort();
  return 0;
}
