// LineSource: an input (a file, plain or gzip; a pipe, FIFO or device: see InputStream) read in
// blocks of whole lines, with bounded memory.
//
// Each call to next_block() returns the following complete lines, at most about `block_bytes`
// of them and at most kMaxLinesPerBlock (one line more when a single line is longer, up to
// `max_line_bytes`). Blank lines (only spaces, tabs, \r, \f, \v) are counted, not listed. Lines
// longer than `max_line_bytes` are not buffered: they are reported as Oversize entries and their
// bytes are streamed to an optional sink (the quarantine file). So memory stays
// O(block_bytes + max_line_bytes + kMaxLinesPerBlock) whatever the input, newlines only included.
// A UTF-8 byte-order mark at the start of the input is skipped.
//
// Limits: reading stops cleanly after `max_lines` lines or `max_bytes` bytes of (decompressed)
// input, at a line boundary; limit_reached() says which one stopped it (an endless input such
// as /dev/zero then ends too). A line that does not end (newline included) within max_bytes is
// not returned, unless its part within the limit is already over max_line_bytes: then it is
// returned as Oversize (and that part streamed to the sink). Results never depend on how the
// input arrives (read sizes, pipes) nor on block_bytes.
//
// Errors: IoError naming the input when it cannot be opened or read, for a corrupt or truncated
// gzip stream and for a file that shrank while being read. The lines before the failure are
// returned first; the error comes from the next call and names the last complete line.
#pragma once

#include <cstdint>
#include <exception>
#include <functional>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/byte_buffer.h"
#include "io/input_stream.h"

namespace airtune::io {

struct Line {
  size_t offset;   ///< into Block::data
  size_t size;     ///< bytes, without the newline (and without a trailing '\r')
  int64_t number;  ///< 1-based line number in the input
  bool oversize;   ///< longer than max_line_bytes: rejected, `size` is the full length
  bool streamed;   ///< oversize bytes went to the sink and are not in Block::data
};

struct Block {
  core::ByteBuffer data;  ///< the lines' bytes; SIMDJSON padding readable after the last one
  std::vector<Line> lines;
  int64_t blank = 0;      ///< blank lines among this block's lines (not in `lines`)
  size_t bytes_read = 0;  ///< bytes of the (decompressed) input this block's lines took
};

struct SourceLimits {
  uint64_t max_bytes = std::numeric_limits<uint64_t>::max();  ///< input bytes, newlines included
  int64_t max_lines = std::numeric_limits<int64_t>::max();    ///< lines, blank ones included
  uint64_t start_offset = 0;  ///< read a plain file from this byte (a line start) on: a range of it
  int64_t first_line = 1;     ///< the number of the range's first line (lines before it + 1)
};

enum class Limit { None, MaxBytes, MaxLines };

class LineSource {
 public:
  static constexpr size_t kMaxLinesPerBlock = 65536;

  /// Opens `path`. `oversize_sink`, if set, receives the bytes of oversize lines (called with
  /// the line number, then pieces of the line in order, then an empty piece to end it).
  LineSource(const std::string& path, size_t block_bytes, size_t max_line_bytes,
             std::function<void(int64_t, std::string_view)> oversize_sink = {}, SourceLimits limits = {});
  LineSource(const LineSource&) = delete;
  LineSource& operator=(const LineSource&) = delete;

  /// Fills `block` with the next lines; returns false at the end of the input (or of a limit).
  bool next_block(Block& block);

  bool compressed() const noexcept { return input_.compressed(); }
  /// Lines handed out so far (the number of the last one).
  int64_t lines_seen() const noexcept { return line_number_; }
  /// Bytes of (decompressed) input the handed-out lines took.
  uint64_t bytes_consumed() const noexcept { return consumed_; }
  /// Size of a regular file on disk (compressed size for gzip); 0 for pipes and devices.
  uint64_t file_size() const noexcept { return input_.file_size().value_or(0); }
  /// True for a regular file (whose size is known).
  bool sized() const noexcept { return input_.file_size().has_value(); }
  Limit limit_reached() const noexcept { return limit_; }
  const std::string& path() const noexcept { return input_.path(); }

 private:
  size_t read_some(char* dst, size_t n);
  // The line [begin, end) of block.data without a leading BOM (first line) or trailing '\r':
  // moves `begin`, returns the size.
  size_t trim(const Block& block, size_t& begin, size_t end) const;
  void add_line(Block& block, size_t begin, size_t end);
  void fail_later(const std::exception& e);

  InputStream input_;
  size_t block_bytes_, max_line_bytes_;
  std::function<void(int64_t, std::string_view)> oversize_sink_;
  SourceLimits limits_;
  core::ByteBuffer carry_;  // bytes after the last complete line of the previous read
  bool eof_ = false;        // the input (or the byte budget) is exhausted
  bool stopped_ = false;    // a limit or an error ended the lines
  Limit limit_ = Limit::None;
  std::exception_ptr pending_error_;
  int64_t line_number_ = 0;
  uint64_t read_ = 0;      // bytes read from the input
  uint64_t consumed_ = 0;  // bytes of the lines handed out
};

}  // namespace airtune::io
