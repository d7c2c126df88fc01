// Arrow columns -> JSON lines, column by column in C++: how in-memory tables (pyarrow, pandas via
// pyarrow, HF datasets) become records without a json.dumps per row. The lines then go through the
// same parser as files (io/line_parser.h), so validation and error messages are identical.
//
// A JsonColumn describes one Arrow array by its buffers (borrowed, not owned: the caller keeps them
// alive): validity bitmap (bit i of byte i/8, LSB first; null = all valid), values, offsets and
// data, with the array's element offset. Kinds: null, bool (bit-packed), int64, uint64, float64
// (NaN and infinities become null), string (escaped), raw JSON (a string column holding JSON texts,
// written as is), list (offsets + one child) and struct (named children; each child written as a
// value, skipped when null, or, for raw JSON objects, spliced into the parent object).
//
// Thread safety: encode_rows() reads the columns only and runs in parallel in the airtune arena;
// output order is row order.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/string_column.h"

namespace airtune::io {

struct JsonColumn {
  enum class Kind : uint8_t { kNull, kBool, kInt64, kUInt64, kFloat64, kString, kRawJson, kList, kStruct };
  enum class Mode : uint8_t { kValue, kSkipNull, kSplice };

  Kind kind = Kind::kNull;
  int64_t length = 0;  ///< entries
  int64_t offset = 0;  ///< element offset of the Arrow array (validity, values and offsets)
  const uint8_t* validity = nullptr;
  const void* values = nullptr;        ///< bool bitmap, int64, uint64 or double values
  const int32_t* offsets32 = nullptr;  ///< string / list offsets (one of the two)
  const int64_t* offsets64 = nullptr;
  const char* data = nullptr;  ///< string bytes
  std::vector<JsonColumn> children;
  std::vector<std::string> names;  ///< struct field names
  std::vector<Mode> modes;         ///< struct field modes

  bool is_valid(int64_t i) const noexcept {
    if (!validity) return true;
    const int64_t k = i + offset;
    return (validity[k >> 3] >> (k & 7)) & 1;
  }
};

/// Appends the JSON text of entry i of `column` to `out`.
void append_json_value(const JsonColumn& column, int64_t i, std::string& out);

/// Rows [begin, end) of a struct column (a table: one field per column) as JSON object texts, one
/// per row, appended to `out`. Throws InvalidArgument when `table` is not a struct.
void encode_rows(const JsonColumn& table, int64_t begin, int64_t end, core::StringColumn& out);

/// Splits the JSON array text `array` into the compact JSON texts of its elements (simdjson).
/// Throws ParseError-free InvalidArgument when `array` is not a JSON array.
core::StringColumn json_array_elements(const std::string& array);

}  // namespace airtune::io
