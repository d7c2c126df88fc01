// InputStream: the bytes of a file, of a pipe, FIFO or character device (/dev/stdin, `<(cmd)`),
// decompressed when they are gzip, read once from start to end without ever seeking.
//
// Gzip is recognised by its magic bytes (whatever the name), which are sniffed into a buffer and
// served from it, so nothing is lost on inputs that cannot rewind. Concatenated gzip members
// are read in order; zero padding after the last member is skipped (as Python's gzip does); any
// other trailing data, a corrupt or a truncated stream is an IoError.
//
// A regular file whose size is known at open must deliver that many bytes: if it ends earlier (it
// was truncated while being read), read() throws IoError instead of reporting a clean end.
//
// Memory: one 256 KiB buffer of compressed input. Not thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "core/byte_buffer.h"

namespace airtune::io {

class InputStream {
 public:
  /// Opens `path` (a file system path, bytes as given). Throws IoError naming it when it cannot
  /// be opened, is a directory, or its first bytes cannot be read.
  /// `start_offset` > 0 reads a plain regular file from that byte on (a range of a file split
  /// across workers); InvalidArgument for a gzip file or an input that cannot seek.
  explicit InputStream(const std::string& path, uint64_t start_offset = 0);
  ~InputStream();
  InputStream(const InputStream&) = delete;
  InputStream& operator=(const InputStream&) = delete;

  /// Reads up to `n` bytes of (decompressed) content into `dst`; returns 0 only at the end.
  /// May return fewer than `n` bytes before the end (pipes). Throws IoError on a read error, a
  /// corrupt or truncated gzip stream, or a regular file that shrank while being read (the
  /// message names the path, not the line: callers add where they were).
  size_t read(char* dst, size_t n);

  bool compressed() const noexcept { return gzip_; }
  /// Size of a regular file at open (the compressed size for gzip); nullopt for pipes and devices.
  std::optional<uint64_t> file_size() const noexcept { return size_; }
  /// Bytes read from the file so far (compressed bytes for gzip).
  uint64_t raw_bytes_read() const noexcept { return raw_read_; }
  const std::string& path() const noexcept { return path_; }

 private:
  size_t read_raw(char* dst, size_t n);  // from the file, after the sniffed bytes
  bool fill();                           // refills the compressed buffer; false at the end
  size_t inflate_some(char* dst, size_t n);

  std::string path_;
  int fd_ = -1;
  bool gzip_ = false;
  bool raw_eof_ = false;
  bool between_members_ = false;  // a gzip member ended; the next byte decides what follows
  std::optional<uint64_t> size_;
  uint64_t raw_read_ = 0;
  core::ByteBuffer buf_;  // sniffed bytes (plain) or compressed input (gzip)
  size_t buf_pos_ = 0, buf_end_ = 0;
  struct Inflater;
  std::unique_ptr<Inflater> z_;
};

}  // namespace airtune::io
