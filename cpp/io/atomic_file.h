// AtomicFile: the one way airtune writes an output file (JSONL, quarantine, safetensors, MinHash
// index). Bytes go to a temporary file beside the target, renamed over it on commit(), so a
// reader never sees a half-written file, and without commit() (an exception) the target is left
// as it was and the temporary file is removed by the destructor.
//
//   - the temporary file is `<path>.tmp.<pid>.<n>`, created exclusively (never through an
//     existing name or link) and locked (flock) while it is written;
//   - temporary files of the same target left by writers that died (killed mid-write: their pid
//     is gone and their lock with it) are removed when the next AtomicFile for that target opens;
//   - an existing target keeps its permission bits (and its owner and group where the process
//     may set them); a new one gets 0666 minus the umask, like any new file;
//   - commit() flushes and fsyncs the file, renames it onto the target (a symbolic link at the
//     target is replaced, not followed), then fsyncs the folder so the rename is durable.
//
// Not thread-safe; distinct AtomicFiles (even for the same target) may be used from any threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <string>
#include <string_view>

namespace airtune::io {

class AtomicFile {
 public:
  /// Creates the temporary file in the target's folder. Throws IoError naming the path.
  explicit AtomicFile(std::string path);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  /// Appends `bytes`. Throws IoError naming the target (disk full...).
  void write(std::string_view bytes);
  /// Flushes, fsyncs and renames onto the target path, then fsyncs its folder. Throws IoError.
  void commit();
  const std::string& path() const noexcept { return path_; }
  /// The temporary file being written (gone after commit()).
  const std::string& temp_path() const noexcept { return tmp_; }
  uint64_t bytes_written() const noexcept { return written_; }

  /// Removes the temporary files of `path` left by dead writers (what the constructor does);
  /// returns how many. Files of live writers, of this process, or not named like ours stay.
  static size_t remove_stale_temporaries(const std::string& path);

 private:
  std::string path_, tmp_;
  std::FILE* file_ = nullptr;
  uint64_t written_ = 0;
  bool committed_ = false;
};

}  // namespace airtune::io
