#include "io/whole_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "core/errors.h"

namespace airtune::io {

namespace {

// Owns a descriptor for the length of a read.
struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

uint64_t stat_regular(int fd, const std::string& path) {
  struct stat st {};
  if (::fstat(fd, &st) != 0) throw IoError(path + ": cannot stat: " + std::strerror(errno));
  if (!S_ISREG(st.st_mode)) throw IoError(path + ": not a regular file");
  return static_cast<uint64_t>(st.st_size);
}

// O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer; for a regular file it
// changes nothing, and anything else is refused right after.
int open_read(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) throw IoError(path + ": cannot open: " + std::strerror(errno));
  return fd;
}

}  // namespace

uint64_t regular_file_size(const std::string& path) {
  Fd f{open_read(path)};
  return stat_regular(f.fd, path);
}

core::ByteBuffer read_whole_file(const std::string& path, uint64_t max_bytes) {
  Fd f{open_read(path)};
  const uint64_t size = stat_regular(f.fd, path);
  if (size > max_bytes)
    throw IoError(path + ": " + std::to_string(size) + " bytes, more than the limit of " + std::to_string(max_bytes));
  core::ByteBuffer out(static_cast<size_t>(size));
  size_t have = 0;
  while (have < out.size()) {
    const ssize_t n = ::read(f.fd, out.data() + have, out.size() - have);
    if (n < 0) {
      if (errno == EINTR) continue;
      throw IoError(path + ": read failed: " + std::strerror(errno));
    }
    if (n == 0)
      throw IoError(path + ": the file shrank while it was read (" + std::to_string(have) + " of " +
                    std::to_string(size) + " bytes)");
    have += static_cast<size_t>(n);
  }
  char extra = 0;
  ssize_t n = 0;
  do {
    n = ::read(f.fd, &extra, 1);
  } while (n < 0 && errno == EINTR);
  if (n > 0) throw IoError(path + ": the file grew while it was read (was " + std::to_string(size) + " bytes)");
  return out;
}

}  // namespace airtune::io
