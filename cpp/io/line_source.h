// LineSource: a file (.jsonl, or gzip by its magic bytes whatever the name) read in blocks of
// whole lines, with bounded memory.
//
// Each call to next_block() returns the following complete lines, at most about `block_bytes`
// of them (one line more when a single line is longer, up to `max_line_bytes`). Lines longer than
// `max_line_bytes` are not buffered: they are reported as Oversize entries and their bytes are
// streamed to an optional sink (the quarantine file), so memory stays O(block_bytes + max_line_bytes).
// A UTF-8 byte-order mark at the start of the file is skipped.
//
// Errors: IoError naming the file when it cannot be opened or read, and for a truncated or
// corrupt gzip stream (naming the last complete line).
#pragma once

#include <cstdint>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_buffer.h"

namespace airtune::io {

struct Line {
  size_t offset;   ///< into Block::data
  size_t size;     ///< bytes, without the newline (and without a trailing '\r')
  int64_t number;  ///< 1-based line number in the file
  bool oversize;   ///< longer than max_line_bytes: rejected, `size` is the full length
  bool streamed;   ///< oversize bytes went to the sink and are not in Block::data
};

struct Block {
  core::ByteBuffer data;  ///< the lines' bytes; SIMDJSON padding readable after the last one
  std::vector<Line> lines;
  size_t bytes_read = 0;  ///< bytes consumed from the (decompressed) stream for this block
};

class LineSource {
 public:
  /// Opens `path`. `oversize_sink`, if set, receives the bytes of oversize lines (called with
  /// the line number, then pieces of the line in order, then an empty piece to end it).
  LineSource(const std::string& path, size_t block_bytes, size_t max_line_bytes,
             std::function<void(int64_t, std::string_view)> oversize_sink = {});
  ~LineSource();
  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;

  /// Fills `block` with the next lines; returns false at the end of the file.
  bool next_block(Block& block);

  bool compressed() const noexcept { return gz_ != nullptr; }
  int64_t lines_seen() const noexcept { return line_number_; }
  uint64_t bytes_consumed() const noexcept { return total_bytes_; }
  /// Size of the file on disk (compressed size for gzip).
  uint64_t file_size() const noexcept { return file_size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  size_t read_some(char* dst, size_t n);

  std::string path_;
  size_t block_bytes_, max_line_bytes_;
  std::function<void(int64_t, std::string_view)> oversize_sink_;
  std::FILE* file_ = nullptr;
  void* gz_ = nullptr;      // gzFile
  core::ByteBuffer carry_;  // bytes after the last complete line of the previous read
  bool eof_ = false;
  bool first_read_ = true;
  int64_t line_number_ = 0;
  uint64_t total_bytes_ = 0;
  uint64_t file_size_ = 0;
};

}  // namespace airtune::io
