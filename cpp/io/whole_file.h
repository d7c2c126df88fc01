// Reading a whole file into memory, defensively: the one routine for files that are parsed as a
// unit (safetensors weights by default, checkpoint files, manifests).
//
// Thread safety: pure (each call opens its own descriptor).
#pragma once

#include <cstdint>
#include <string>

#include "core/byte_buffer.h"

namespace airtune::io {

/// All bytes of the regular file `path` (not zeroed first; one read pass). Throws IoError naming
/// the file when it cannot be opened or read, is not a regular file (a FIFO or device would never
/// end), is larger than `max_bytes`, or changes size while it is read: a file truncated or
/// extended meanwhile is never returned in part.
core::ByteBuffer read_whole_file(const std::string& path, uint64_t max_bytes = UINT64_MAX);

/// Size in bytes of the regular file `path`; IoError as read_whole_file.
uint64_t regular_file_size(const std::string& path);

}  // namespace airtune::io
