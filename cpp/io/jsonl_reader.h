// JsonlReader: streaming, parallel ingestion of JSONL (plain or gzip) into RecordBatches.
//
// The file is read in blocks of whole lines (LineSource); the lines of a block are parsed in
// parallel in the airtune arena (one RecordParser per thread) and appended in line order, so the
// result does not depend on the thread count. Memory: O(block_bytes + max_line_bytes) besides the
// records the caller keeps.
//
// Reading is pipelined: a second thread reads and splits block N+1 while block N is parsed
// (except in Quarantine mode, where oversize lines stream to the quarantine file in order).
//
// Accounting, always: lines_read == kept + rejected + blank. Bad lines are, by ErrorMode:
//   Raise       the first one (in line order) throws ParseError(source, line, column, reason)
//   Skip        dropped, each reported in errors()
//   Quarantine  dropped, reported, and written verbatim to `quarantine_path` with their reasons in
//               `quarantine_path + ".reasons.jsonl"` (one JSON object per quarantined line, same
//               order: {"line", "column", "field", "reason"}); both written atomically by finish().
#pragma once

#include <cstdint>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "io/atomic_file.h"
#include "io/line_parser.h"
#include "io/line_source.h"
#include "io/record.h"
#include "io/record_parser.h"

namespace airtune::io {

enum class ErrorMode { Raise, Skip, Quarantine };

struct ReadOptions {
  Format format = Format::Auto;
  ErrorMode errors = ErrorMode::Raise;
  std::string quarantine_path;               ///< required for Quarantine
  size_t block_bytes = size_t{16} << 20;     ///< bytes of lines parsed per parallel step
  size_t max_line_bytes = size_t{64} << 20;  ///< longer lines are rejected (never buffered)
};

struct ReadCounts {
  int64_t lines_read = 0;
  int64_t kept = 0;
  int64_t rejected = 0;
  int64_t blank = 0;
  uint64_t bytes = 0;  ///< bytes of (decompressed) input consumed
};

class JsonlReader {
 public:
  /// Opens the file; throws IoError if it cannot, InvalidArgument for inconsistent options.
  JsonlReader(const std::string& path, ReadOptions options);
  ~JsonlReader();

  /// Parses the next block and appends its records to `out`; returns false at the end of the file.
  /// Errors of the block are appended to errors(). Throws ParseError (Raise mode) or IoError.
  bool read_block(RecordBatch& out);

  /// Reads to the end, then finish(). Convenience for whole-file reads.
  RecordBatch read_all();

  /// Reserves `out` for the whole file (plain files: content cannot exceed the file size), so
  /// that reading everything into one batch never reallocates. Only address space is reserved.
  void reserve_for_file(RecordBatch& out) const;

  /// Commits the quarantine files (if any). Call once after the last read_block().
  void finish();

  const ReadCounts& counts() const noexcept { return counts_; }
  std::vector<LineError>& errors() noexcept { return errors_; }
  const std::string& source() const noexcept { return source_name_; }
  uint64_t file_size() const noexcept { return source_->file_size(); }

 private:
  void quarantine(const Block& block, const Line& line, const LineError& error);

  std::string path_, source_name_;
  ReadOptions options_;
  std::unique_ptr<AtomicFile> quarantine_, reasons_;
  std::unique_ptr<LineSource> source_;
  std::vector<LineError> errors_;
  ReadCounts counts_;
  Block block_, next_block_;
  std::future<bool> prefetch_;  // reads next_block_ while block_ is parsed (not in Quarantine mode)
  bool started_ = false, ended_ = false;
  std::vector<LineInput> inputs_;
  std::unique_ptr<LineParser> parser_;
};

}  // namespace airtune::io
