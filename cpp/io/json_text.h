// Small JSON text utilities: string escaping for writers, and locating the first syntax error
// of a malformed document (simdjson reports that a document is invalid, not where).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace airtune::io {

/// Appends `s` to `out` as a JSON string literal (with quotes). `s` must be valid UTF-8; control
/// characters, quotes and backslashes are escaped, everything else is copied as is.
void append_json_string(std::string& out, std::string_view s);

struct JsonSyntaxError {
  size_t offset;       ///< 0-based byte offset of the first offending byte (== size at premature end)
  std::string reason;  ///< e.g. "expected ':' after object key"
};

/// Scans `text` as one JSON document and returns the first syntax error, or an empty reason when
/// it is well-formed. Iterative: no recursion whatever the nesting depth; O(n) time, O(depth) memory.
JsonSyntaxError find_json_syntax_error(std::string_view text);

}  // namespace airtune::io
