#include "io/input_stream.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include "core/errors.h"

namespace airtune::io {

namespace {
constexpr size_t kBufferBytes = size_t{256} << 10;

bool gzip_magic(const char* p) {
  return static_cast<unsigned char>(p[0]) == 0x1f && static_cast<unsigned char>(p[1]) == 0x8b;
}
}  // namespace

struct InputStream::Inflater {
  z_stream z{};
  bool ready = false;
  ~Inflater() {
    if (ready) inflateEnd(&z);
  }
};

InputStream::InputStream(const std::string& path, uint64_t start_offset) : path_(path) {
  fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  try {
    struct stat st {};
    if (::fstat(fd_, &st) != 0) throw IoError(path + ": cannot stat: " + std::strerror(errno));
    if (S_ISDIR(st.st_mode)) throw IoError(path + ": is a directory, not a JSONL file");
    if (S_ISREG(st.st_mode)) size_ = static_cast<uint64_t>(st.st_size);
    if (start_offset > 0) {  // a range of a plain file: no gzip sniffing past its first byte
      unsigned char magic[2] = {0, 0};
      if (!size_ || ::pread(fd_, magic, 2, 0) < 0) throw InvalidArgument(path + ": a byte range needs a regular file");
      if (magic[0] == 0x1f && magic[1] == 0x8b)
        throw InvalidArgument(path + ": a gzip file cannot be read by byte range");
      if (start_offset > *size_ || ::lseek(fd_, static_cast<off_t>(start_offset), SEEK_SET) < 0)
        throw InvalidArgument(path + ": range start " + std::to_string(start_offset) + " is past the end of the file");
      raw_read_ = start_offset;
      return;
    }
    // Sniff the first two bytes into the buffer (a pipe may deliver them one at a time).
    buf_.resize(kBufferBytes);
    while (buf_end_ < 2 && !raw_eof_) {
      const size_t got = read_raw(buf_.data() + buf_end_, buf_.size() - buf_end_);
      if (got == 0) raw_eof_ = true;
      buf_end_ += got;
    }
    if (buf_end_ >= 2 && gzip_magic(buf_.data())) {
      gzip_ = true;
      z_ = std::make_unique<Inflater>();
      if (inflateInit2(&z_->z, 15 + 16) != Z_OK) throw IoError(path + ": cannot start gzip decompression");
      z_->ready = true;
    }
  } catch (...) {
    ::close(fd_);
    fd_ = -1;
    throw;
  }
}

InputStream::~InputStream() {
  if (fd_ >= 0) ::close(fd_);
}

size_t InputStream::read_raw(char* dst, size_t n) {
  for (;;) {
    const ssize_t r = ::read(fd_, dst, std::min<size_t>(n, SSIZE_MAX));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw IoError(path_ + ": read error: " + std::strerror(errno));
    }
    raw_read_ += static_cast<uint64_t>(r);
    if (r == 0 && size_ && raw_read_ < *size_)
      throw IoError(path_ + ": the file shrank while being read: it had " + std::to_string(*size_) +
                    " bytes when opened and ended after " + std::to_string(raw_read_));
    return static_cast<size_t>(r);
  }
}

bool InputStream::fill() {
  if (raw_eof_) return false;
  if (buf_pos_ > 0) {
    std::memmove(buf_.data(), buf_.data() + buf_pos_, buf_end_ - buf_pos_);
    buf_end_ -= buf_pos_;
    buf_pos_ = 0;
  }
  const size_t got = read_raw(buf_.data() + buf_end_, buf_.size() - buf_end_);
  if (got == 0) {
    raw_eof_ = true;
    return false;
  }
  buf_end_ += got;
  return true;
}

size_t InputStream::read(char* dst, size_t n) {
  if (n == 0) return 0;
  if (gzip_) return inflate_some(dst, n);
  if (buf_pos_ < buf_end_) {
    const size_t take = std::min(n, buf_end_ - buf_pos_);
    std::memcpy(dst, buf_.data() + buf_pos_, take);
    buf_pos_ += take;
    return take;
  }
  if (raw_eof_) return 0;
  const size_t got = read_raw(dst, n);
  if (got == 0) raw_eof_ = true;
  return got;
}

size_t InputStream::inflate_some(char* dst, size_t n) {
  z_stream& z = z_->z;
  const size_t want = std::min<size_t>(n, UINT_MAX);
  for (;;) {
    if (between_members_) {
      // After a member: the end, zero padding, or the next member; anything else is an error.
      for (;;) {
        while (buf_pos_ < buf_end_ && buf_[buf_pos_] == 0) ++buf_pos_;
        if (buf_pos_ < buf_end_) break;
        if (!fill()) return 0;
      }
      while (buf_end_ - buf_pos_ < 2 && fill()) {
      }
      if (buf_end_ - buf_pos_ < 2 || !gzip_magic(buf_.data() + buf_pos_))
        throw IoError(path_ + ": unexpected data after the end of the gzip stream (at compressed byte " +
                      std::to_string(raw_read_ - (buf_end_ - buf_pos_)) + ")");
      inflateReset(&z);
      between_members_ = false;
    }
    z.next_in = reinterpret_cast<Bytef*>(buf_.data() + buf_pos_);
    z.avail_in = static_cast<uInt>(buf_end_ - buf_pos_);
    z.next_out = reinterpret_cast<Bytef*>(dst);
    z.avail_out = static_cast<uInt>(want);
    const int rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = want - z.avail_out;
    buf_pos_ = buf_end_ - z.avail_in;
    if (rc == Z_STREAM_END) {
      between_members_ = true;
      if (produced > 0) return produced;
      continue;
    }
    if (rc != Z_OK && rc != Z_BUF_ERROR)
      throw IoError(path_ + ": corrupt gzip stream: " + (z.msg ? z.msg : "zlib error " + std::to_string(rc)));
    if (produced > 0) return produced;
    if (buf_pos_ == buf_end_ && !fill())
      throw IoError(path_ + ": truncated gzip stream: the file ends inside compressed data");
  }
}

}  // namespace airtune::io
