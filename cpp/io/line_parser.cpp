#include "io/line_parser.h"

#include <algorithm>

#include "core/threading.h"

namespace airtune::io {

namespace {
bool is_blank(std::string_view s) {
  for (char c : s)
    if (c != ' ' && c != '\t' && c != '\r' && c != '\f' && c != '\v') return false;
  return true;
}
}  // namespace

LineParser::LineParser(Format format, std::string id_prefix, size_t max_line_bytes)
    : format_(format),
      id_prefix_(std::move(id_prefix)),
      max_line_bytes_(max_line_bytes),
      parsers_([format] { return RecordParser(format); }) {}

std::vector<ParsedChunk>& LineParser::parse(const std::vector<LineInput>& lines) {
  parse(lines, chunks_);
  return chunks_;
}

void LineParser::parse(const std::vector<LineInput>& lines, std::vector<ParsedChunk>& chunks) {
  const size_t n_chunks = (lines.size() + kLinesPerTask - 1) / kLinesPerTask;
  chunks.resize(n_chunks);
  for (ParsedChunk& c : chunks) {
    c.batch.clear();
    c.errors.clear();
    c.blank = 0;
  }
  core::parallel_for(n_chunks, 1, [&](size_t cb, size_t ce) {
    RecordParser& parser = parsers_.local();
    std::string default_id;
    for (size_t c = cb; c < ce; ++c) {
      ParsedChunk& chunk = chunks[c];
      const size_t end = std::min(lines.size(), (c + 1) * kLinesPerTask);
      for (size_t i = c * kLinesPerTask; i < end; ++i) {
        const LineInput& line = lines[i];
        if (line.oversize) {
          chunk.errors.push_back(
              {i, LineError{line.number, static_cast<int64_t>(max_line_bytes_) + 1, "",
                            "line is " + std::to_string(line.size) + " bytes, over max_line_bytes (" +
                                std::to_string(max_line_bytes_) + ")"}});
          continue;
        }
        if (is_blank(line.text)) {
          ++chunk.blank;
          continue;
        }
        default_id.assign(id_prefix_);
        default_id += ':';
        default_id += std::to_string(line.number);
        auto error = parser.parse(line.text, line.capacity, line.number, default_id, chunk.batch);
        if (error) chunk.errors.push_back({i, std::move(*error)});
      }
    }
  });
}

}  // namespace airtune::io
