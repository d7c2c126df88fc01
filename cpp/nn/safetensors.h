// safetensors files as torch tensors: a reader (zero-copy from its buffer where the dtype and
// alignment allow), a writer, and sharded checkpoints (`model.safetensors.index.json`).
// No pickle is ever read. Header validation lives in io/safetensors_header.h.
//
// Files are untrusted and may change under a running process. By default (FileAccess::kRead) a file
// is read into memory once at open, so truncating or rewriting it later cannot affect the process;
// FileAccess::kMap maps it instead (no copy, pages shared with the page cache) and then the file
// must not change while any tensor from it lives: a truncated mapping kills the process with SIGBUS.
// FileAccess::kStream reads only the header at open and each tensor's bytes when it is asked for
// (the trainer's loader: one tensor of the file in memory at a time, quantized as it is read).
//
// Ownership: a tensor returned by SafetensorsFile::tensor() without a copy aliases the buffer (or
// mapping) and keeps it alive (the deleter holds a shared_ptr to it); a mapping is private
// copy-on-write, so writing to such a tensor never touches the file. Thread safety: a
// SafetensorsFile and a WeightStore are immutable after construction and may be read from several
// threads.
#pragma once

#include <torch/types.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/byte_buffer.h"
#include "io/safetensors_header.h"

namespace airtune::nn {

/// How a reader holds a file's bytes (see the top of this header).
enum class FileAccess {
  kRead,    // read into memory at open (the default): later changes to the file cannot reach us
  kMap,     // memory-mapped: the file must not change while tensors from it live
  kStream,  // only the header at open; each tensor() reads its own bytes into a tensor it owns, so a
            // loader holds one tensor of the file at a time (a file that shrinks is an IoError; once
            // the tensors are read, later changes cannot reach them)
};

/// The bytes of a whole file, read or mapped; immutable once made.
class FileBytes {
 public:
  virtual ~FileBytes() = default;
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
};

/// Reads (or maps) all of `path`. Throws IoError naming the file when it cannot be opened, is not a
/// regular file, or shrinks while it is read.
std::shared_ptr<const FileBytes> open_file_bytes(const std::string& path, FileAccess access = FileAccess::kRead);
/// Bytes already in memory (owned by the result).
std::shared_ptr<const FileBytes> bytes_in_memory(core::ByteBuffer bytes);

/// Reads and validates only the header of a safetensors file (8 + N bytes, not the data): for
/// metadata and tensor lists of files of any size.
io::SafetensorsHeader read_safetensors_header(const std::string& path);

/// One safetensors file, validated at open.
class SafetensorsFile {
 public:
  /// Reads (or maps) and validates `path`. Throws IoError if it cannot be opened, FormatError
  /// (naming the file and tensor) if it is malformed.
  explicit SafetensorsFile(const std::string& path, FileAccess access = FileAccess::kRead);
  /// Validates bytes already in memory; `source` names them in errors.
  SafetensorsFile(std::string source, std::shared_ptr<const FileBytes> bytes);

  const std::string& path() const { return path_; }
  const io::SafetensorsHeader& header() const { return header_; }
  std::vector<std::string> names() const;
  bool contains(const std::string& name) const { return header_.find(name) >= 0; }

  /// The tensor `name` on the CPU. Zero-copy when the element size divides the data's address,
  /// else copied. Throws InvalidArgument for an unknown name, FormatError for a dtype torch lacks
  /// (F4, F6_*).
  torch::Tensor tensor(const std::string& name) const;

 private:
  std::string path_;
  std::shared_ptr<const FileBytes> bytes_;  // null when streamed (FileAccess::kStream)
  io::SafetensorsHeader header_;
};

/// The torch dtype of a safetensors dtype; throws FormatError naming `what` when torch has none.
torch::Dtype to_torch_dtype(io::SafetensorsDtype dtype, const std::string& what);
/// The safetensors dtype of a torch dtype; throws InvalidArgument naming `what` when none exists.
io::SafetensorsDtype from_torch_dtype(torch::Dtype dtype, const std::string& what);

/// Writes `tensors` (any device; copied to CPU, made contiguous) to `path` atomically (a temporary
/// file renamed into place). Layout as the reference writer: aligned, metadata first.
void save_safetensors(const std::string& path, const std::vector<std::pair<std::string, torch::Tensor>>& tensors,
                      const std::map<std::string, std::string>& metadata = {});

/// All weights of a checkpoint: a single `.safetensors` file, or a folder with `model.safetensors`
/// or a sharded `model.safetensors.index.json` (every shard mapped; a tensor listed in the index but
/// absent from its shard, or a missing shard, is an error naming both). Every file is read into
/// memory (or mapped, with FileAccess::kMap) at construction.
class WeightStore {
 public:
  explicit WeightStore(const std::string& path, FileAccess access = FileAccess::kRead);

  bool contains(const std::string& name) const { return where_.count(name) != 0; }
  std::vector<std::string> names() const;
  /// The tensor (zero-copy where possible). Throws FormatError naming the tensor and the checkpoint
  /// when it is absent.
  torch::Tensor get(const std::string& name) const;
  /// Like get(), but also checks the shape; throws FormatError naming tensor, expected and found shapes.
  torch::Tensor get(const std::string& name, const std::vector<int64_t>& shape) const;
  const std::string& source() const { return source_; }

 private:
  std::string source_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, size_t> where_;
};

}  // namespace airtune::nn
