// Fuzz target for JSONL ingestion: any bytes, split into lines, parsed into records; every
// record that parses must serialise back (record_to_json) to a line that parses to the same
// content. Never a crash, never an unbalanced count.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "io/json_text.h"
#include "io/jsonl_writer.h"
#include "io/line_parser.h"

using namespace airtune::io;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<LineInput> lines;
  size_t start = 0;
  int64_t number = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back({std::string_view(text).substr(start, end - start), 0, ++number});
    (void)find_json_syntax_error(lines.back().text);
    start = end + 1;
  }
  LineParser parser(Format::Auto, "fuzz", SIZE_MAX);
  int64_t accounted = 0;
  for (ParsedChunk& chunk : parser.parse(lines)) {
    accounted += static_cast<int64_t>(chunk.batch.size() + chunk.errors.size()) + chunk.blank;
    const RecordBatch& b = chunk.batch;
    for (size_t i = 0; i < b.size(); ++i) {
      const std::string line = record_to_json(b, i, Format::Auto);
      RecordParser again(Format::Auto);
      RecordBatch out;
      if (again.parse(line, 0, 1, "x", out)) std::abort();
      const size_t m = b.messages_end(i) - b.messages_begin(i);
      if (out.message_count() != m) std::abort();
      for (size_t j = 0; j < m; ++j)
        if (out.content[j] != b.content[b.messages_begin(i) + j]) std::abort();
    }
  }
  if (accounted != static_cast<int64_t>(lines.size())) std::abort();
  return 0;
}
