// Canonical records: what every input format becomes, stored column-wise.
//
// A record is an id, an ordered list of messages (role, content, optional name, tool calls,
// tool-call id, extra fields), an optional label and optional metadata (the source's other
// top-level fields, as one JSON object). Instruct data is a record with [system,] user, assistant;
// chat data has any number of turns; a {"text"} record has one message of role Text.
//
// RecordBatch keeps records in Arrow-like columns so Python sees them without copies:
//   per record  i: id[i], format[i], line[i], label[i], metadata[i], input_at[i],
//                  messages message_offsets[i] .. message_offsets[i+1]
//   per message j: role[j], content[j], name[j], tool_calls[j], tool_call_id[j], extra[j]
// Nullable string columns (label, metadata, name, tool_calls, tool_call_id, extra) mark missing
// values in their `valid` flags. A batch owns all its memory; it is not thread-safe to mutate.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "core/string_column.h"

namespace airtune::io {

enum class Role : uint8_t { System = 0, User = 1, Assistant = 2, Tool = 3, Text = 4 };
inline constexpr int kRoleCount = 5;

/// The JSONL layouts airtune reads and writes. Auto only selects per line when reading.
enum class Format : uint8_t { Chat = 0, ShareGPT = 1, Alpaca = 2, PromptCompletion = 3, Text = 4, Auto = 255 };
inline constexpr int kFormatCount = 5;

std::string_view role_name(Role role) noexcept;
std::string_view format_name(Format format) noexcept;
/// Parses "chat", "sharegpt", "alpaca", "prompt_completion", "text", "auto"; nullopt otherwise.
std::optional<Format> parse_format(std::string_view name) noexcept;

struct RecordBatch {
  core::StringColumn id;
  std::vector<uint8_t> format;              ///< Format per record
  std::vector<int64_t> line;                ///< 1-based source line (or input row) per record
  std::vector<int64_t> message_offsets{0};  ///< size() + 1 entries into the message columns
  core::StringColumn label;                 ///< nullable
  core::StringColumn metadata;              ///< nullable; a JSON object
  /// Where an Alpaca record's `input` starts in its last user message (instruction + "\n\n" +
  /// input, or the instruction alone when input is ""): a byte offset, kNoInput for records not
  /// read as Alpaca, kInputAbsent for Alpaca records without an `input` field (or null). It lets
  /// the writer give back `instruction` and `input` as they were.
  std::vector<int64_t> input_at;
  static constexpr int64_t kNoInput = -1;
  static constexpr int64_t kInputAbsent = -2;

  std::vector<uint8_t> role;        ///< Role per message
  core::StringColumn content;       ///< per message; empty when the source had null
  core::StringColumn name;          ///< nullable, per message
  core::StringColumn tool_calls;    ///< nullable JSON array, per message
  core::StringColumn tool_call_id;  ///< nullable, per message
  core::StringColumn extra;         ///< nullable JSON object of other message fields

  size_t size() const noexcept { return format.size(); }
  size_t message_count() const noexcept { return role.size(); }
  size_t messages_begin(size_t i) const noexcept { return static_cast<size_t>(message_offsets[i]); }
  size_t messages_end(size_t i) const noexcept { return static_cast<size_t>(message_offsets[i + 1]); }

  /// Appends every record of `other`, in order.
  void append(const RecordBatch& other);
  /// Appends every record of `parts`, in order, growing each column once (geometrically).
  void append_all(const std::vector<const RecordBatch*>& parts);
  /// Removes all records, keeping the allocated capacity for reuse.
  void clear();
  /// A new batch with the records at `rows`, in that order (rows may repeat). Throws
  /// InvalidArgument for an index out of range.
  RecordBatch take(const std::vector<int64_t>& rows) const;
  /// True when the record is instruct-shaped: an optional system message, then exactly one user
  /// and one assistant message.
  bool is_instruct(size_t i) const noexcept;
};

}  // namespace airtune::io
