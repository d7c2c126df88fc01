// JsonlReader: streaming, parallel ingestion of JSONL (plain or gzip; a file, pipe, FIFO or
// device) into RecordBatches.
//
// The input is read in blocks of whole lines (LineSource); the lines of a block are parsed in
// parallel in the airtune arena (one RecordParser per thread) and appended in line order, so the
// result does not depend on the thread count. Memory: O(block_bytes + max_line_bytes) plus at most
// LineSource::kMaxLinesPerBlock line entries and errors per block (three blocks in flight: one
// read, one parsed, one appended), plus max_errors kept errors, besides the records the caller keeps.
//
// Limits: max_bytes / max_lines stop the read cleanly at a line boundary (limit_reached() says
// which); the records read so far are kept and the counts add up.
//
// Reading is pipelined (except in Quarantine mode, where oversize lines stream to the quarantine
// file in order and bad lines are copied from their block): a second thread reads and splits block
// N+2 while, in the arena, block N+1 is parsed and block N is copied into the caller's batch. The
// copy (and the kernel's backing of the batch's new pages) is serial per block; overlapping it with
// the next parse is what lets two threads share the work. Counts, errors and exceptions still come
// in block order: read_block(out) appends and accounts exactly one block, and an input error found
// while reading ahead is raised by the call after the last good block.
//
// Accounting, always: lines_read == kept + rejected + blank. Bad lines are, by ErrorMode:
//   Raise       the first one (in line order) throws ParseError(source, line, column, reason)
//   Skip        dropped, the first max_errors reported in errors() (all are counted in rejected)
//   Quarantine  dropped, reported as in Skip, and all written verbatim to `quarantine_path` with their reasons in
//               `quarantine_path + ".reasons.jsonl"` (one JSON object per quarantined line, same
//               order: {"line", "column", "field", "reason"}); both written atomically by finish().
#pragma once

#include <cstdint>
#include <exception>
#include <future>
#include <limits>
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
  std::string quarantine_path;                                ///< required for Quarantine
  size_t block_bytes = size_t{16} << 20;                      ///< bytes of lines parsed per parallel step
  size_t max_line_bytes = size_t{64} << 20;                   ///< longer lines are rejected (never buffered)
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();  ///< stop after this much (decompressed) input
  int64_t max_lines = std::numeric_limits<int64_t>::max();    ///< stop after this many lines (blank included)
  size_t max_errors = 1000;                                   ///< rejections kept in errors()
  uint64_t start_offset = 0;  ///< a range of a plain file: its first byte (a line start) ...
  int64_t first_line = 1;     ///< ... and that line's number (records, errors and default ids use it)
};

struct ReadCounts {
  int64_t lines_read = 0;
  int64_t kept = 0;
  int64_t rejected = 0;
  int64_t blank = 0;
  uint64_t bytes = 0;           ///< bytes of (decompressed) input consumed
  int64_t errors_not_kept = 0;  ///< rejections counted but over max_errors (not in errors())
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
  /// Size of a regular file (compressed for gzip); 0 for pipes and devices.
  uint64_t file_size() const noexcept { return source_->file_size(); }
  /// Which limit (if any) ended the read before the end of the input.
  Limit limit_reached() const noexcept { return source_->limit_reached(); }

 private:
  // One block's parse, kept until it is appended (its chunks own their records).
  struct ParsedBlock {
    std::vector<ParsedChunk> chunks;
    int64_t blank = 0;      // blank lines the source counted (not in chunks)
    size_t bytes_read = 0;  // input bytes of the block
    bool have = false;      // false: the input ended (or pending_error_ is set)
  };

  void quarantine(const Block& block, const Line& line, const LineError& error);
  void parse(const Block& block, ParsedBlock& into);
  // Counts the block's lines, keeps or quarantines its errors (throws ParseError in Raise mode) and
  // lists its batches for append_all. `block` is the block's lines, needed in Quarantine mode only.
  std::vector<const RecordBatch*> account(ParsedBlock& parsed, const Block* block);
  // Pipelined mode: takes the prefetched block, starts the next read, parses it into spare_.
  void read_ahead();

  std::string path_, source_name_;
  ReadOptions options_;
  std::unique_ptr<AtomicFile> quarantine_, reasons_;
  std::unique_ptr<LineSource> source_;
  std::vector<LineError> errors_;
  size_t errors_kept_ = 0;
  ReadCounts counts_;
  Block block_, next_block_;
  std::future<bool> prefetch_;  // reads next_block_ while block_ is parsed (not in Quarantine mode)
  bool started_ = false, ended_ = false;
  std::vector<LineInput> inputs_;
  ParsedBlock ready_, spare_;         // pipelined: the next block to append; the one being parsed
  std::exception_ptr pending_error_;  // an input error met reading ahead, raised after ready_
  std::unique_ptr<LineParser> parser_;
};

}  // namespace airtune::io
