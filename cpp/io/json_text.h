// Small JSON text utilities: string escaping for writers, and locating the first error of a
// document simdjson refused (simdjson reports that a document is invalid, not where or why).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::io {

/// Appends `s` to `out` as a JSON string literal (with quotes). `s` must be valid UTF-8; control
/// characters, quotes and backslashes are escaped, everything else is copied as is.
void append_json_string(std::string& out, std::string_view s);

struct JsonTextError {
  size_t offset;       ///< 0-based byte offset of the first offending byte (== size at premature end)
  std::string field;   ///< path of the value being read, e.g. "messages[2].content"; "" at the top
  std::string reason;  ///< e.g. "expected ':' after object key"; empty when the document is valid
};

/// Scans `text` as one JSON document and returns its first error: a syntax error, or a value
/// that is well-formed but that simdjson (and so airtune) cannot represent: a number beyond a
/// 64-bit float (1e400), an integer outside [-2^63, 2^64 - 1] without a fraction or exponent,
/// a lone UTF-16 surrogate escape (\ud800). An empty reason means the document is valid.
/// Iterative: no recursion whatever the nesting depth; O(n) time, O(depth) memory.
JsonTextError find_json_error(std::string_view text);

/// The top-level keys of `object_text`, a valid JSON object as the reader stores it (metadata,
/// extra fields), each as its raw text between the quotes (escapes kept), in order.
std::vector<std::string_view> top_level_keys(std::string_view object_text);

}  // namespace airtune::io
