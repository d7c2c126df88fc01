#include "io/safetensors_header.h"

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <cstring>
#include <tuple>
#include <unordered_set>
#include <utility>

#include "core/errors.h"
#include "io/json_text.h"

namespace airtune::io {

namespace {

struct DtypeRow {
  SafetensorsDtype dtype;
  std::string_view name;
  int bits;
};

constexpr std::array<DtypeRow, 22> kDtypes = {{
    {SafetensorsDtype::kBool, "BOOL", 8},
    {SafetensorsDtype::kU8, "U8", 8},
    {SafetensorsDtype::kI8, "I8", 8},
    {SafetensorsDtype::kI16, "I16", 16},
    {SafetensorsDtype::kU16, "U16", 16},
    {SafetensorsDtype::kF16, "F16", 16},
    {SafetensorsDtype::kBF16, "BF16", 16},
    {SafetensorsDtype::kI32, "I32", 32},
    {SafetensorsDtype::kU32, "U32", 32},
    {SafetensorsDtype::kF32, "F32", 32},
    {SafetensorsDtype::kF64, "F64", 64},
    {SafetensorsDtype::kI64, "I64", 64},
    {SafetensorsDtype::kU64, "U64", 64},
    {SafetensorsDtype::kC64, "C64", 64},
    {SafetensorsDtype::kF8E5M2, "F8_E5M2", 8},
    {SafetensorsDtype::kF8E4M3, "F8_E4M3", 8},
    {SafetensorsDtype::kF8E8M0, "F8_E8M0", 8},
    {SafetensorsDtype::kF8E4M3Fnuz, "F8_E4M3FNUZ", 8},
    {SafetensorsDtype::kF8E5M2Fnuz, "F8_E5M2FNUZ", 8},
    {SafetensorsDtype::kF4, "F4", 4},
    {SafetensorsDtype::kF6E2M3, "F6_E2M3", 6},
    {SafetensorsDtype::kF6E3M2, "F6_E3M2", 6},
}};

[[noreturn]] void fail(std::string_view source, const std::string& what) {
  throw FormatError(std::string(source.empty() ? "<safetensors>" : source) + ": " + what);
}

[[noreturn]] void fail_tensor(std::string_view source, std::string_view name, const std::string& what) {
  fail(source, "tensor '" + std::string(name) + "': " + what);
}

// True when the product of the dimensions, zeros counted as 1, fits in int64: then numel() and
// every stride torch derives from the shape are representable.
bool shape_fits(const std::vector<int64_t>& shape) {
  unsigned __int128 n = 1;
  for (int64_t d : shape) {
    if (d < 0) return false;
    n *= static_cast<uint64_t>(std::max<int64_t>(d, 1));
    if (n > static_cast<unsigned __int128>(INT64_MAX)) return false;
  }
  return true;
}

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

// numel * bits / 8 for a shape that passed shape_fits(); false on a partial trailing byte or a
// size beyond uint64.
bool checked_byte_size(const std::vector<int64_t>& shape, int bits, uint64_t* out) {
  unsigned __int128 n = 1;
  for (int64_t d : shape) n *= static_cast<uint64_t>(d);
  n *= static_cast<unsigned>(bits);
  if (n % 8 != 0) return false;
  n /= 8;
  if (n > UINT64_MAX) return false;
  *out = static_cast<uint64_t>(n);
  return true;
}

// The order of the reference writer's Dtype enum (huggingface/safetensors): it writes tensors by
// descending rank, then by name, so every tensor starts aligned to its element size.
int writer_rank(SafetensorsDtype d) {
  using D = SafetensorsDtype;
  static constexpr D kOrder[] = {D::kBool,   D::kF4,     D::kF6E2M3, D::kF6E3M2,     D::kU8,         D::kI8,
                                 D::kF8E5M2, D::kF8E4M3, D::kF8E8M0, D::kF8E4M3Fnuz, D::kF8E5M2Fnuz, D::kI16,
                                 D::kU16,    D::kF16,    D::kBF16,   D::kI32,        D::kU32,        D::kF32,
                                 D::kC64,    D::kF64,    D::kI64,    D::kU64};
  for (int i = 0; i < static_cast<int>(std::size(kOrder)); ++i)
    if (kOrder[i] == d) return i;
  return 0;
}

}  // namespace

std::string_view dtype_name(SafetensorsDtype dtype) {
  for (const auto& row : kDtypes)
    if (row.dtype == dtype) return row.name;
  return "?";
}

bool parse_dtype_name(std::string_view name, SafetensorsDtype* out) {
  for (const auto& row : kDtypes) {
    if (row.name == name) {
      *out = row.dtype;
      return true;
    }
  }
  return false;
}

int dtype_bits(SafetensorsDtype dtype) {
  for (const auto& row : kDtypes)
    if (row.dtype == dtype) return row.bits;
  return 8;
}

int64_t SafetensorsTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t SafetensorsHeader::find(std::string_view name) const {
  auto it = index_.find(name);
  return it == index_.end() ? -1 : static_cast<int64_t>(it->second);
}

void SafetensorsHeader::build_index() {
  index_.clear();
  index_.reserve(tensors.size());
  for (size_t i = 0; i < tensors.size(); ++i)
    if (!index_.emplace(tensors[i].name, i).second)
      throw InvalidArgument("safetensors: duplicate tensor name '" + tensors[i].name + "'");
}

uint64_t read_header_length(const uint8_t* data, size_t size, uint64_t file_size, std::string_view source) {
  if (size < 8 || file_size < 8) fail(source, "file too short for a safetensors header (needs 8 bytes)");
  uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];
  if (n > kMaxSafetensorsHeaderSize)
    fail(source, "header length " + std::to_string(n) + " exceeds the limit of " +
                     std::to_string(kMaxSafetensorsHeaderSize) + " bytes");
  if (n > file_size - 8)
    fail(source, "header length " + std::to_string(n) + " runs past the end of the file (" + std::to_string(file_size) +
                     " bytes)");
  return n;
}

SafetensorsHeader parse_safetensors_header(const uint8_t* data, size_t size, uint64_t file_size,
                                           std::string_view source) {
  SafetensorsHeader header;
  header.header_size = read_header_length(data, size, file_size, source);
  header.data_start = 8 + header.header_size;
  if (size < header.data_start) fail(source, "truncated header");
  header.data_size = file_size - header.data_start;
  const char* json = reinterpret_cast<const char*>(data + 8);
  const size_t json_len = static_cast<size_t>(header.header_size);
  if (json_len == 0 || json[0] != '{') fail(source, "header does not start with '{'");

  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto err = parser.parse(json, json_len, true).get(root))
    fail(source, std::string("header is not valid JSON: ") + simdjson::error_message(err));
  simdjson::dom::object obj;
  if (root.get_object().get(obj)) fail(source, "header is not a JSON object");

  std::unordered_set<std::string_view> seen;
  seen.reserve(obj.size());
  bool have_metadata = false;
  for (auto field : obj) {
    std::string_view name = field.key;
    if (!seen.insert(name).second) fail_tensor(source, name, "duplicate name in header");
    if (name == "__metadata__") {
      have_metadata = true;
      simdjson::dom::object meta;
      if (field.value.get_object().get(meta)) fail(source, "__metadata__ is not an object of strings");
      for (auto kv : meta) {
        std::string_view value;
        if (kv.value.get_string().get(value))
          fail(source, "__metadata__ value of '" + std::string(kv.key) + "' is not a string");
        if (!header.metadata.emplace(std::string(kv.key), std::string(value)).second)
          fail(source, "__metadata__ key '" + std::string(kv.key) + "' appears twice");
      }
      continue;
    }
    simdjson::dom::object entry;
    if (field.value.get_object().get(entry)) fail_tensor(source, name, "entry is not an object");
    SafetensorsTensorInfo info;
    info.name = std::string(name);
    std::string_view dtype;
    if (entry["dtype"].get_string().get(dtype)) fail_tensor(source, name, "missing or non-string 'dtype'");
    if (!parse_dtype_name(dtype, &info.dtype)) fail_tensor(source, name, "unknown dtype '" + std::string(dtype) + "'");
    simdjson::dom::array shape;
    if (entry["shape"].get_array().get(shape)) fail_tensor(source, name, "missing or non-array 'shape'");
    for (auto dim : shape) {
      int64_t d = 0;
      if (dim.get_int64().get(d) || d < 0)
        fail_tensor(source, name, "shape holds something other than a non-negative integer");
      info.shape.push_back(d);
    }
    if (!shape_fits(info.shape))
      fail_tensor(source, name,
                  "shape " + shape_text(info.shape) + " overflows: the product of its dimensions exceeds 2^63 - 1");
    simdjson::dom::array offsets;
    if (entry["data_offsets"].get_array().get(offsets))
      fail_tensor(source, name, "missing or non-array 'data_offsets'");
    std::vector<uint64_t> offs;
    for (auto o : offsets) {
      uint64_t v = 0;
      if (o.get_uint64().get(v)) fail_tensor(source, name, "data_offsets holds a non-integer or negative value");
      offs.push_back(v);
    }
    if (offs.size() != 2) fail_tensor(source, name, "data_offsets must hold exactly two integers");
    info.begin = offs[0];
    info.end = offs[1];
    if (info.end < info.begin) fail_tensor(source, name, "data_offsets end before they begin");
    uint64_t expected = 0;
    if (!checked_byte_size(info.shape, dtype_bits(info.dtype), &expected))
      fail_tensor(source, name, "shape x dtype overflows or does not end on a byte boundary");
    if (expected != info.byte_size())
      fail_tensor(source, name,
                  "dtype " + std::string(dtype) + " x shape needs " + std::to_string(expected) +
                      " bytes but data_offsets span " + std::to_string(info.byte_size()));
    header.tensors.push_back(std::move(info));
  }
  (void)have_metadata;

  std::stable_sort(header.tensors.begin(), header.tensors.end(),
                   [](const auto& a, const auto& b) { return std::tie(a.begin, a.end) < std::tie(b.begin, b.end); });
  uint64_t prev_end = 0;
  for (const auto& t : header.tensors) {
    if (t.begin != prev_end)
      fail_tensor(source, t.name,
                  t.begin > prev_end
                      ? "data_offsets leave a hole in the buffer before it (starts at " + std::to_string(t.begin) +
                            ", previous data ends at " + std::to_string(prev_end) + ")"
                      : "data_offsets overlap the previous tensor");
    prev_end = t.end;
  }
  header.build_index();  // names are unique (checked above), so this cannot throw
  if (prev_end != header.data_size) {
    std::string last = header.tensors.empty() ? std::string("(none)") : header.tensors.back().name;
    fail(source, "tensors end at byte " + std::to_string(prev_end) + " of the buffer but the file holds " +
                     std::to_string(header.data_size) + " data bytes (truncated or trailing data; last tensor '" +
                     last + "')");
  }
  return header;
}

SafetensorsHeader plan_safetensors_layout(const std::vector<SafetensorsEntry>& entries,
                                          const std::map<std::string, std::string>& metadata) {
  SafetensorsHeader header;
  header.metadata = metadata;
  std::unordered_set<std::string_view> names;
  for (const auto& e : entries) {
    if (e.name.empty()) throw InvalidArgument("safetensors: a tensor name is empty");
    if (e.name == "__metadata__") throw InvalidArgument("safetensors: '__metadata__' is reserved");
    if (!names.insert(e.name).second) throw InvalidArgument("safetensors: duplicate tensor name '" + e.name + "'");
    SafetensorsTensorInfo info;
    info.name = e.name;
    info.dtype = e.dtype;
    info.shape = e.shape;
    for (int64_t d : e.shape)
      if (d < 0) throw InvalidArgument("safetensors: tensor '" + e.name + "' has a negative dimension");
    if (!shape_fits(e.shape))
      throw InvalidArgument("safetensors: tensor '" + e.name + "' has shape " + shape_text(e.shape) +
                            " whose product of dimensions exceeds 2^63 - 1");
    header.tensors.push_back(std::move(info));
  }
  std::stable_sort(header.tensors.begin(), header.tensors.end(), [](const auto& a, const auto& b) {
    int ra = writer_rank(a.dtype), rb = writer_rank(b.dtype);
    return ra != rb ? ra > rb : a.name < b.name;
  });
  uint64_t offset = 0;
  for (auto& t : header.tensors) {
    uint64_t bytes = 0;
    if (!checked_byte_size(t.shape, dtype_bits(t.dtype), &bytes) || bytes > UINT64_MAX - offset)
      throw InvalidArgument("safetensors: tensor '" + t.name + "' is too large or not byte-aligned");
    t.begin = offset;
    t.end = offset + bytes;
    offset = t.end;
  }
  header.data_size = offset;
  header.build_index();
  return header;
}

std::string serialize_safetensors_header(SafetensorsHeader& header) {
  std::string json = "{";
  bool first = true;
  if (!header.metadata.empty()) {
    json += "\"__metadata__\":{";
    bool f = true;
    for (const auto& [k, v] : header.metadata) {
      if (!f) json += ',';
      f = false;
      append_json_string(json, k);
      json += ':';
      append_json_string(json, v);
    }
    json += '}';
    first = false;
  }
  for (const auto& t : header.tensors) {
    if (!first) json += ',';
    first = false;
    append_json_string(json, t.name);
    json += ":{\"dtype\":\"";
    json += dtype_name(t.dtype);
    json += "\",\"shape\":[";
    for (size_t i = 0; i < t.shape.size(); ++i) {
      if (i) json += ',';
      json += std::to_string(t.shape[i]);
    }
    json += "],\"data_offsets\":[" + std::to_string(t.begin) + "," + std::to_string(t.end) + "]}";
  }
  json += '}';
  while ((8 + json.size()) % 8 != 0) json += ' ';
  header.header_size = json.size();
  header.data_start = 8 + json.size();
  std::string out(8, '\0');
  uint64_t n = json.size();
  for (int i = 0; i < 8; ++i) out[i] = static_cast<char>((n >> (8 * i)) & 0xff);
  return out + json;
}

}  // namespace airtune::io
