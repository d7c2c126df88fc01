// RecordParser: one JSONL line -> one canonical record (see record.h), or a located error.
//
// Recognised layouts (format Auto picks by fields, per line):
//   chat               {"messages": [{"role", "content", "name"?, "tool_calls"?, "tool_call_id"?}]}
//                      roles system|developer, user, assistant, tool|function; content may be
//                      a string, an array of {"type": "text", "text"} parts, or null (assistant only)
//   sharegpt           {"conversations": [{"from", "value"}], "system"?}
//   alpaca             {"instruction", "input"?, "output", "system"?, "history"?}: the user turn
//                      is instruction + "\n\n" + input when input is non-empty (where input
//                      starts is kept in RecordBatch::input_at, so the writer gives both back)
//   prompt_completion  {"prompt", "completion"}
//   text               {"text"}
// Common fields: "id" (string or number; default "<source>:<line>"), "label" (any; non-strings
// kept as JSON text). Any other field is kept in metadata (records) or extra (messages): nothing
// is dropped silently. A "metadata" object is unwrapped: its fields are the record's metadata
// (a key both inside it and at the top level is an error naming "metadata.<key>").
//
// In ShareGPT turns "role"/"content" stand for "from"/"value" when those are
// absent (otherwise they are extra fields).
//
// Duplicate keys follow Python's json: the last value wins, at every level (top-level fields,
// messages, content parts, and the JSON text kept in metadata, extra, tool_calls and labels, which
// holds each key once). Numbers simdjson cannot hold (beyond a double, integers outside int64 /
// uint64) and lone surrogate escapes are rejected with the field and the column of the value.
//
// A RecordParser owns a simdjson parser and is not thread-safe: use one per thread.
#pragma once

#include <simdjson.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "io/record.h"

namespace airtune::io {

/// Why a line was rejected. column is 1-based within the line: where the JSON is broken or holds
/// a value out of range (then `field` names the value), or 1 for errors of the record's shape,
/// which `field` names, e.g. "messages[2].role".
struct LineError {
  int64_t line = 0;
  int64_t column = 0;
  std::string field;
  std::string reason;
};

struct RecordScratch;  // field lists reused across lines (record_parser.cpp)

class RecordParser {
 public:
  explicit RecordParser(Format format);
  ~RecordParser();
  RecordParser(RecordParser&&) noexcept;
  RecordParser& operator=(RecordParser&&) noexcept;

  /// Parses `text` (one line without its newline). `capacity` >= text.size() + SIMDJSON_PADDING
  /// bytes must be readable at text.data() (the reader's buffers guarantee it; pass 0 to let the
  /// parser copy). On success appends a record to `out` and returns nullopt; on failure leaves
  /// `out` unchanged and returns the error.
  std::optional<LineError> parse(std::string_view text, size_t capacity, int64_t line, std::string_view default_id,
                                 RecordBatch& out);

 private:
  Format format_;
  simdjson::dom::parser parser_;
  std::unique_ptr<RecordScratch> scratch_;
};

}  // namespace airtune::io
