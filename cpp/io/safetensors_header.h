// The safetensors container format, without torch: header parsing with strict validation, and the
// layout + header serialisation a writer needs. The libtorch reader/writer (cpp/nn/safetensors.h)
// is built on this; the fuzz target tests/fuzz/fuzz_nn_safetensors.cpp exercises it alone.
//
// File layout: 8 bytes N (u64 little-endian) | N bytes UTF-8 JSON header | data buffer.
// Header: {"NAME": {"dtype": "F32", "shape": [..], "data_offsets": [BEGIN, END]}, ...,
//          "__metadata__": {"key": "value", ...}}  (offsets relative to the buffer, END exclusive).
//
// Validation (the rules of the reference Rust parser, huggingface/safetensors src/tensor.rs):
// N <= kMaxHeaderSize and 8 + N <= file size; the header starts with '{', is valid UTF-8 JSON
// (trailing spaces allowed); every entry has a known dtype, a shape of non-negative integers and two
// offsets; no duplicate names; `__metadata__` maps strings to strings; after sorting by offsets the
// tensors tile the buffer from 0 with no hole or overlap; END - BEGIN == numel * bits / 8 (overflow
// checked; sub-byte dtypes must end on a byte boundary); 8 + N + buffer end == file size.
// Stricter than the reference: the product of a shape's dimensions, zeros counted as 1, must fit in
// int64 (so a zero-size tensor cannot carry dims whose strides overflow, which torch refuses).
// Every failure throws airtune::FormatError whose message names the source and the tensor.
//
// Cost: linear in the header size (one JSON parse, a sort by offset, a hash index by name), so a
// header at the 100 MB limit (about a million tensors) parses in seconds, not hours.
//
// Thread safety: all functions are pure; call them from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace airtune::io {

/// Largest header the parser accepts (bytes), as in the reference implementation.
inline constexpr uint64_t kMaxSafetensorsHeaderSize = 100'000'000;

enum class SafetensorsDtype {
  kBool,
  kU8,
  kI8,
  kI16,
  kU16,
  kF16,
  kBF16,
  kI32,
  kU32,
  kF32,
  kF64,
  kI64,
  kU64,
  kC64,
  kF8E5M2,
  kF8E4M3,
  kF8E8M0,
  kF8E4M3Fnuz,
  kF8E5M2Fnuz,
  kF4,
  kF6E2M3,
  kF6E3M2,
};

/// The header spelling ("F32", "BF16", ...).
std::string_view dtype_name(SafetensorsDtype dtype);
/// Parses a header spelling; returns false for an unknown one.
bool parse_dtype_name(std::string_view name, SafetensorsDtype* out);
/// Size of one element in bits (1 byte = 8; F4 = 4, F6_* = 6).
int dtype_bits(SafetensorsDtype dtype);

struct SafetensorsTensorInfo {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;  // row-major; empty = scalar
  uint64_t begin = 0;          // byte offsets into the data buffer, end exclusive
  uint64_t end = 0;

  uint64_t byte_size() const { return end - begin; }
  /// Product of the dimensions (fits in int64: the parser and the planner check it).
  int64_t numel() const;
};

/// Hash and equality that let an index keyed by std::string be searched with a string_view.
struct SafetensorsNameHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const noexcept { return std::hash<std::string_view>{}(s); }
};

struct SafetensorsHeader {
  std::vector<SafetensorsTensorInfo> tensors;  // sorted by begin offset (file order)
  std::map<std::string, std::string> metadata;
  uint64_t header_size = 0;  // N
  uint64_t data_start = 0;   // 8 + N: file offset of the buffer
  uint64_t data_size = 0;    // bytes of the buffer

  /// Index into `tensors` of `name`, or -1. O(1) on average (a hash index).
  int64_t find(std::string_view name) const;
  /// Rebuilds the name index after `tensors` changed (parse and plan call it); throws
  /// InvalidArgument naming a duplicate.
  void build_index();

 private:
  std::unordered_map<std::string, size_t, SafetensorsNameHash, std::equal_to<>> index_;
};

/// Reads the 8-byte length prefix. `size` is how many bytes `data` holds; throws FormatError when
/// fewer than 8 or when N exceeds kMaxSafetensorsHeaderSize or file_size - 8.
uint64_t read_header_length(const uint8_t* data, size_t size, uint64_t file_size, std::string_view source);

/// Parses and validates a whole header. `data` holds at least the first 8 + N bytes of the file
/// (more is fine), `file_size` is the size of the whole file. `source` (a path) goes into errors.
SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           std::string_view source);

/// One tensor a writer wants to store; byte offsets are assigned by plan_safetensors_layout.
struct SafetensorsEntry {
  std::string name;
  SafetensorsDtype dtype = SafetensorsDtype::kF32;
  std::vector<int64_t> shape;
};

/// Assigns offsets as the reference writer does: sorted by its dtype order descending (64-bit types
/// first, BOOL last, so each tensor is aligned to its element size), then name,
/// packed contiguously. Throws InvalidArgument on duplicate or empty names, the reserved name
/// "__metadata__", negative dims, or sub-byte tensors not ending on a byte boundary.
SafetensorsHeader plan_safetensors_layout(const std::vector<SafetensorsEntry>& entries,
                                          const std::map<std::string, std::string>& metadata);

/// The bytes that precede the data buffer: 8-byte length + JSON header (metadata first), padded
/// with spaces so the buffer starts on an 8-byte boundary. Sets header.header_size/data_start.
std::string serialize_safetensors_header(SafetensorsHeader& header);

}  // namespace airtune::io
