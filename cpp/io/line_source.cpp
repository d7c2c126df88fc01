#include "io/line_source.h"

#include <simdjson.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>

#include "core/errors.h"

namespace airtune::io {

namespace {
constexpr size_t kReadChunk = 1 << 20;
}

LineSource::LineSource(const std::string& path, size_t block_bytes, size_t max_line_bytes,
                       std::function<void(int64_t, std::string_view)> oversize_sink)
    : path_(path),
      block_bytes_(std::max<size_t>(block_bytes, 4096)),
      max_line_bytes_(std::max<size_t>(max_line_bytes, 1)),
      oversize_sink_(std::move(oversize_sink)) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) throw IoError(path + ": is a directory, not a JSONL file");
  file_ = std::fopen(path.c_str(), "rb");
  if (!file_) throw IoError(path + ": cannot open: " + std::strerror(errno));
  file_size_ = std::filesystem::file_size(path, ec);
  unsigned char magic[2] = {0, 0};
  const size_t got = std::fread(magic, 1, 2, file_);
  std::rewind(file_);
  if (got == 2 && magic[0] == 0x1f && magic[1] == 0x8b) {
    std::fclose(file_);
    file_ = nullptr;
    gzFile gz = gzopen(path.c_str(), "rb");
    if (!gz) throw IoError(path + ": cannot open gzip stream");
    gzbuffer(gz, 1 << 18);
    gz_ = gz;
  }
}

LineSource::~LineSource() {
  if (file_) std::fclose(file_);
  if (gz_) gzclose(static_cast<gzFile>(gz_));
}

size_t LineSource::read_some(char* dst, size_t n) {
  if (eof_ || n == 0) return 0;
  size_t got = 0;
  if (gz_) {
    auto gz = static_cast<gzFile>(gz_);
    const int r = gzread(gz, dst, static_cast<unsigned>(std::min<size_t>(n, 1u << 30)));
    int err = Z_OK;
    const char* msg = gzerror(gz, &err);
    if (r < 0 || (err != Z_OK && err != Z_STREAM_END)) {
      throw IoError(path_ + ": corrupt or truncated gzip stream after line " + std::to_string(line_number_) + ": " +
                    (msg ? msg : "unknown zlib error"));
    }
    got = static_cast<size_t>(r);
    if (got == 0) eof_ = true;
  } else {
    got = std::fread(dst, 1, n, file_);
    if (got < n) {
      if (std::ferror(file_)) throw IoError(path_ + ": read error: " + std::strerror(errno));
      if (got == 0) eof_ = true;
    }
  }
  total_bytes_ += got;
  return got;
}

bool LineSource::next_block(Block& block) {
  block.lines.clear();
  block.data.clear();
  block.bytes_read = 0;
  core::ByteBuffer& buf = block.data;
  buf.reserve(block_bytes_ + simdjson::SIMDJSON_PADDING);
  buf.insert(buf.end(), carry_.begin(), carry_.end());
  carry_.clear();

  size_t scan_from = 0;    // where the next line starts in buf
  size_t search_from = 0;  // where to look for the next newline
  const uint64_t before = total_bytes_;
  for (;;) {
    // Cut complete lines out of what is buffered.
    while (true) {
      const char* nl = static_cast<const char*>(std::memchr(buf.data() + search_from, '\n', buf.size() - search_from));
      if (!nl) break;
      const size_t end = static_cast<size_t>(nl - buf.data());
      size_t size = end - scan_from;
      if (size > 0 && buf[scan_from + size - 1] == '\r') --size;
      ++line_number_;
      if (first_read_ && line_number_ == 1 && size >= 3 && std::memcmp(buf.data(), "\xEF\xBB\xBF", 3) == 0) {
        scan_from += 3;
        size -= 3;
      }
      block.lines.push_back({scan_from, size, line_number_, size > max_line_bytes_, false});
      scan_from = search_from = end + 1;
    }
    search_from = buf.size();
    const size_t pending = buf.size() - scan_from;
    if (!block.lines.empty() && buf.size() >= block_bytes_) break;
    if (pending > max_line_bytes_) {
      // An oversize line is a block of its own, so that quarantine output stays in line order.
      if (!block.lines.empty()) break;
      // Stream the rest of this line to the sink without buffering it.
      const int64_t number = ++line_number_;
      uint64_t length = pending;
      if (oversize_sink_) oversize_sink_(number, std::string_view(buf.data() + scan_from, pending));
      buf.resize(scan_from);
      core::ByteBuffer chunk(kReadChunk);
      bool ended = false;
      while (!ended) {
        const size_t got = read_some(chunk.data(), chunk.size());
        if (got == 0) break;
        const char* nl = static_cast<const char*>(std::memchr(chunk.data(), '\n', got));
        const size_t take = nl ? static_cast<size_t>(nl - chunk.data()) : got;
        if (oversize_sink_ && take > 0) oversize_sink_(number, std::string_view(chunk.data(), take));
        length += take;
        if (nl) {
          ended = true;
          carry_.assign(nl + 1, static_cast<const char*>(chunk.data() + got));
        }
      }
      if (oversize_sink_) oversize_sink_(number, std::string_view());
      block.lines.push_back({scan_from, static_cast<size_t>(length), number, true, true});
      buf.insert(buf.end(), simdjson::SIMDJSON_PADDING, '\0');
      block.bytes_read = total_bytes_ - before;
      first_read_ = false;
      return true;
    }
    // Read more.
    const size_t want = buf.size() < block_bytes_ ? block_bytes_ - buf.size() : std::min(kReadChunk, block_bytes_);
    const size_t old = buf.size();
    buf.resize(old + want);
    const size_t got = read_some(buf.data() + old, want);
    buf.resize(old + got);
    if (got == 0) {
      if (pending > 0) {  // last line without a newline
        size_t size = pending;
        if (buf[scan_from + size - 1] == '\r') --size;
        ++line_number_;
        if (first_read_ && line_number_ == 1 && size >= 3 && std::memcmp(buf.data(), "\xEF\xBB\xBF", 3) == 0) {
          scan_from += 3;
          size -= 3;
        }
        block.lines.push_back({scan_from, size, line_number_, size > max_line_bytes_, false});
        scan_from = buf.size();
      }
      break;
    }
  }
  // Keep the partial last line for the next block.
  carry_.assign(buf.begin() + static_cast<std::ptrdiff_t>(scan_from), buf.end());
  buf.resize(scan_from);
  buf.insert(buf.end(), simdjson::SIMDJSON_PADDING, '\0');
  block.bytes_read = total_bytes_ - before;
  first_read_ = false;
  return !block.lines.empty();
}

}  // namespace airtune::io
