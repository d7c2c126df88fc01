// Parallel parsing of many JSON lines into records: the shared engine of the file reader and of
// in-memory inputs (DataFrames, lists of dicts, HF dataset batches).
//
// Lines are cut into fixed chunks of kLinesPerTask; each chunk is parsed by one task with that
// thread's RecordParser into its own batch. Callers merge chunks in order, so results never
// depend on the thread count.
#pragma once

#include <oneapi/tbb/enumerable_thread_specific.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "io/record.h"
#include "io/record_parser.h"

namespace airtune::io {

struct LineInput {
  std::string_view text;  ///< the line without its newline (unused when oversize)
  size_t capacity;        ///< readable bytes at text.data() (>= size + padding avoids a copy)
  int64_t number;         ///< the line (or row) number reported in errors and record.line
  bool oversize = false;  ///< over the reader's max_line_bytes: rejected without parsing
  size_t size = 0;        ///< full size of an oversize line
};

struct ParsedChunk {
  RecordBatch batch;
  std::vector<std::pair<size_t, LineError>> errors;  ///< (index into the inputs, error)
  int64_t blank = 0;                                 ///< whitespace-only lines
};

class LineParser {
 public:
  /// `id_prefix` names default ids "<id_prefix>:<number>".
  LineParser(Format format, std::string id_prefix, size_t max_line_bytes);

  /// Parses all `lines` in parallel in the airtune arena; returns the chunks in input order.
  /// The chunks are reused (capacity kept) by the next call: consume them before calling again.
  std::vector<ParsedChunk>& parse(const std::vector<LineInput>& lines);
  /// The same into the caller's chunks (resized, capacity kept): a caller that keeps one block's
  /// chunks while the next block is parsed holds two sets.
  void parse(const std::vector<LineInput>& lines, std::vector<ParsedChunk>& into);

  static constexpr size_t kLinesPerTask = 256;

 private:
  Format format_;
  std::string id_prefix_;
  size_t max_line_bytes_;
  oneapi::tbb::enumerable_thread_specific<RecordParser> parsers_;
  std::vector<ParsedChunk> chunks_;
};

}  // namespace airtune::io
