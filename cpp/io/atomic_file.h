// AtomicFile: write to a temporary file beside the target, rename over it on commit().
// Readers never see a half-written file; without commit() (an exception, a crash) the target is
// left as it was and the temporary file is removed by the destructor.
#pragma once

#include <cstdio>
#include <string>
#include <string_view>

namespace airtune::io {

class AtomicFile {
 public:
  /// Creates `<path>.tmp.<pid>.<n>` in the target's folder. Throws IoError naming the path.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(std::string_view bytes);
  /// Flushes, fsyncs and renames onto the target path. Throws IoError on failure.
  void commit();
  const std::string& path() const noexcept { return path_; }
  uint64_t bytes_written() const noexcept { return written_; }

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace airtune::io
