#include "io/line_source.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>

#include "core/errors.h"

namespace airtune::io {

namespace {
constexpr size_t kReadChunk = 1 << 20;

bool is_blank(const char* p, size_t n) {
  for (size_t i = 0; i < n; ++i)
    if (p[i] != ' ' && p[i] != '\t' && p[i] != '\r' && p[i] != '\f' && p[i] != '\v') return false;
  return true;
}
}  // namespace

LineSource::LineSource(const std::string& path, size_t block_bytes, size_t max_line_bytes,
                       std::function<void(int64_t, std::string_view)> oversize_sink, SourceLimits limits)
    : input_(path, limits.start_offset),
      block_bytes_(std::max<size_t>(block_bytes, 4096)),
      max_line_bytes_(std::max<size_t>(max_line_bytes, 1)),
      oversize_sink_(std::move(oversize_sink)),
      limits_(limits) {
  if (limits.first_line < 1) throw InvalidArgument("first_line must be >= 1");
  line_number_ = limits.first_line - 1;  // max_lines counts the lines of the range only
  limits_.max_lines = limits.max_lines > std::numeric_limits<int64_t>::max() - line_number_
                          ? std::numeric_limits<int64_t>::max()
                          : limits.max_lines + line_number_;
}

size_t LineSource::read_some(char* dst, size_t n) {
  if (eof_ || n == 0) return 0;
  // Read at most max_bytes + 1 bytes: the one past the budget tells an input cut by the limit
  // from one that ends exactly there.
  if (limits_.max_bytes != std::numeric_limits<uint64_t>::max()) {
    const uint64_t budget = limits_.max_bytes + 1;
    if (read_ >= budget) {
      eof_ = true;
      return 0;
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, budget - read_));
  }
  const size_t got = input_.read(dst, n);
  if (got == 0) eof_ = true;
  read_ += got;
  return got;
}

size_t LineSource::trim(const Block& block, size_t& begin, size_t end) const {
  const char* base = block.data.data();
  if (line_number_ == 0 && end - begin >= 3 && std::memcmp(base + begin, "\xEF\xBB\xBF", 3) == 0) begin += 3;
  size_t size = end - begin;
  if (size > 0 && base[begin + size - 1] == '\r') --size;
  return size;
}

void LineSource::add_line(Block& block, size_t begin, size_t end) {
  const size_t size = trim(block, begin, end);
  ++line_number_;
  if (size > max_line_bytes_)
    block.lines.push_back({begin, size, line_number_, true, false});
  else if (is_blank(block.data.data() + begin, size))
    ++block.blank;
  else
    block.lines.push_back({begin, size, line_number_, false, false});
}

void LineSource::fail_later(const std::exception& e) {
  const std::string where = line_number_ == 0 ? std::string("; no complete line was read")
                                              : "; the last complete line read is line " + std::to_string(line_number_);
  pending_error_ = std::make_exception_ptr(IoError(e.what() + where));
}

bool LineSource::next_block(Block& block) {
  block.lines.clear();
  block.data.clear();
  block.blank = 0;
  block.bytes_read = 0;
  if (pending_error_) {
    stopped_ = true;
    std::exception_ptr e = pending_error_;
    pending_error_ = nullptr;
    std::rethrow_exception(e);
  }
  if (stopped_) return false;

  core::ByteBuffer& buf = block.data;
  buf.reserve(block_bytes_ + simdjson::SIMDJSON_PADDING);
  buf.insert(buf.end(), carry_.begin(), carry_.end());
  carry_.clear();
  const uint64_t start = consumed_;  // input offset of buf[0]
  size_t scan_from = 0;              // where the next line starts in buf
  size_t search_from = 0;            // where to look for the next newline
  auto stop = [&](Limit why) {
    stopped_ = true;
    limit_ = why;
  };
  auto lines_left = [&] { return line_number_ < limits_.max_lines; };
  bool carry_set = false;  // the oversize path left the bytes after its line in carry_
  try {
    for (;;) {
      // Cut complete lines out of what is buffered.
      while (block.lines.size() < kMaxLinesPerBlock) {
        const char* nl =
            static_cast<const char*>(std::memchr(buf.data() + search_from, '\n', buf.size() - search_from));
        if (!nl) {
          search_from = buf.size();
          break;
        }
        const size_t end = static_cast<size_t>(nl - buf.data());
        if (!lines_left()) {
          stop(Limit::MaxLines);
          break;
        }
        if (start + end + 1 > limits_.max_bytes) {
          // Only the newline is past the limit (reads stop at max_bytes + 1): the line counts if
          // its content alone is over max_line_bytes, as when it is streamed (rejected either way).
          size_t begin = scan_from;
          if (trim(block, begin, end) > max_line_bytes_) {
            add_line(block, scan_from, end);
            scan_from = end;
            consumed_ = start + end;
          }
          stop(Limit::MaxBytes);
          break;
        }
        add_line(block, scan_from, end);
        scan_from = search_from = end + 1;
        consumed_ = start + scan_from;
      }
      if (stopped_ || block.lines.size() >= kMaxLinesPerBlock) break;
      const size_t pending = buf.size() - scan_from;
      if (pending > 0 && !lines_left()) {
        stop(Limit::MaxLines);
        break;
      }
      if (scan_from > 0 && buf.size() >= block_bytes_) break;
      // Over max_line_bytes whatever is trimmed (a BOM, a '\r' before the newline): stream it.
      const bool bom = line_number_ == 0 && pending >= 3 && std::memcmp(buf.data() + scan_from, "\xEF\xBB\xBF", 3) == 0;
      if (pending > max_line_bytes_ + 1 + (bom ? 3 : 0)) {
        // An oversize line is a block of its own, so that quarantine output stays in line order.
        if (!block.lines.empty()) break;
        // Stream the rest of this line to the sink without buffering it (never past max_bytes).
        const int64_t number = line_number_ + 1;
        const uint64_t line_start = start + scan_from;
        auto allowed = [&](uint64_t from, size_t n) {
          return from >= limits_.max_bytes ? size_t{0}
                                           : static_cast<size_t>(std::min<uint64_t>(n, limits_.max_bytes - from));
        };
        uint64_t length = allowed(line_start, pending);
        if (oversize_sink_) oversize_sink_(number, std::string_view(buf.data() + scan_from, length));
        buf.resize(scan_from);
        core::ByteBuffer chunk(kReadChunk);
        bool ended = false, cut = length < pending;
        while (!ended && !cut) {
          const size_t got = read_some(chunk.data(), chunk.size());
          if (got == 0) break;
          const char* nl = static_cast<const char*>(std::memchr(chunk.data(), '\n', got));
          size_t take = nl ? static_cast<size_t>(nl - chunk.data()) : got;
          const size_t fits = allowed(line_start + length, take + (nl ? 1 : 0));
          if (fits < take + (nl ? 1 : 0)) {  // the line (or its newline) goes past max_bytes
            take = std::min(take, fits);
            cut = true;
          }
          if (oversize_sink_ && take > 0) oversize_sink_(number, std::string_view(chunk.data(), take));
          length += take;
          if (nl && !cut) {
            ended = true;
            carry_.assign(nl + 1, static_cast<const char*>(chunk.data() + got));
          }
        }
        if (oversize_sink_) oversize_sink_(number, std::string_view());
        line_number_ = number;
        block.lines.push_back({scan_from, static_cast<size_t>(length), number, true, true});
        consumed_ = line_start + length + (ended ? 1 : 0);
        scan_from = buf.size();
        if (cut) {
          carry_.clear();
          stop(Limit::MaxBytes);
        } else if (!ended) {
          stopped_ = true;  // the input ended inside the line
        }
        carry_set = true;
        break;
      }
      // Read more.
      const size_t want = buf.size() < block_bytes_ ? block_bytes_ - buf.size() : std::min(kReadChunk, block_bytes_);
      const size_t old = buf.size();
      buf.resize(old + want);
      const size_t got = read_some(buf.data() + old, want);
      buf.resize(old + got);
      if (got == 0) {
        if (read_ > limits_.max_bytes) {  // the budget, not the input, ended: the pending line is cut
          stop(Limit::MaxBytes);
        } else {
          if (pending > 0) {  // last line without a newline
            add_line(block, scan_from, buf.size());
            scan_from = buf.size();
            consumed_ = start + scan_from;
          }
          stopped_ = true;
        }
        break;
      }
    }
  } catch (const IoError& e) {
    // Hand out the complete lines read before the failure; the error comes with the next call.
    fail_later(e);
    if (block.lines.empty() && block.blank == 0) {
      std::exception_ptr err = pending_error_;
      pending_error_ = nullptr;
      stopped_ = true;
      std::rethrow_exception(err);
    }
    stopped_ = true;
  }
  // Keep the partial last line for the next block.
  if (stopped_)
    carry_.clear();
  else if (!carry_set)
    carry_.assign(buf.begin() + static_cast<std::ptrdiff_t>(scan_from), buf.end());
  buf.resize(scan_from);
  buf.insert(buf.end(), simdjson::SIMDJSON_PADDING, '\0');
  block.bytes_read = static_cast<size_t>(consumed_ - start);
  return !block.lines.empty() || block.blank > 0;
}

}  // namespace airtune::io
