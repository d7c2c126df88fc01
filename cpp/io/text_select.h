// The text a stage works on, taken out of records in one pass (selectors), and message contents
// written back into records (rewrites). The one adapter between records and text kernels: every
// stage (clean, quality, dedup, split, leakage) gets its text column from select_text().
//
// Selectors (parse_selector):
//   "conversation"     every message as "role: content", one per line (a text record: its text);
//                      an assistant message with tool calls adds the calls' JSON after the content
//   "user", "assistant", "system", "tool", "text"   that role's contents, joined by "\n"
//   "first_user", "last_user", "last_assistant" (alias "response")   one message's content
//   "prompt"           every message before the last assistant message, as in "conversation"
//   "label", "id"      the record's label / id
//   "metadata.<path>"  a metadata field (dots descend into objects): a string as is, any other
//                      JSON value as compact JSON text
// A record without the selected field (no message of the role, no label, no such metadata key)
// gets an empty text and present[i] = 0.
//
// Thread safety: pure functions over a const batch; they run in parallel in the airtune arena and
// their results do not depend on the thread count. Memory: the selected text (one copy).
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/string_column.h"
#include "io/record.h"

namespace airtune::io {

enum class SelectKind : uint8_t {
  kConversation,
  kRole,
  kFirstUser,
  kLastUser,
  kLastAssistant,
  kPrompt,
  kLabel,
  kId,
  kMetadata,
};

struct TextSelector {
  SelectKind kind = SelectKind::kConversation;
  Role role = Role::User;  ///< kRole
  std::string path;        ///< kMetadata: the key path after "metadata." (dots kept)
  std::string name;        ///< the selector as written (for messages)
};

/// Parses a selector; throws InvalidArgument naming it and listing the valid forms.
TextSelector parse_selector(std::string_view selector);

/// One text per record (an owned column) and whether the record had the field.
struct SelectedText {
  core::StringColumn text;
  std::vector<uint8_t> present;  ///< one 0/1 per record
  int64_t missing = 0;           ///< records with present == 0
  int64_t first_missing = -1;    ///< the first such record, -1 when none
  std::string selector;          ///< the selector's name

  size_t size() const noexcept { return text.size(); }
};

/// The selected text of every record of `batch`.
SelectedText select_text(const RecordBatch& batch, const TextSelector& selector);

/// Bit mask of roles (bit Role) from role names; "all" or an empty list = every role.
/// Throws InvalidArgument for an unknown role.
uint8_t role_mask(std::span<const std::string> roles);

/// Indices of the messages whose role is in `mask` and whose content is not null, in order.
std::vector<int64_t> messages_with_roles(const RecordBatch& batch, uint8_t mask);

/// A copy of `batch` in which message messages[k] has content texts[k] (every other column, ids,
/// labels, metadata, lines and formats included, is kept). messages must be increasing and in
/// range; texts.size() == messages.size(). Throws InvalidArgument otherwise.
RecordBatch with_contents(const RecordBatch& batch, std::span<const int64_t> messages,
                          std::span<const std::string_view> texts);

/// The contents of messages `messages` (as from messages_with_roles), as a text column.
SelectedText message_texts(const RecordBatch& batch, std::span<const int64_t> messages);

/// Moves `texts` into a text column (every entry present), for kernels whose output stays in C++.
SelectedText text_column(std::vector<std::string>&& texts, std::string name);

/// A copy of `batch` with `key` set to the JSON value values[i] (a JSON text, e.g. "\"x\"" or
/// "3") in the metadata object of every record i (replacing a previous value of that key).
RecordBatch with_metadata_field(const RecordBatch& batch, std::string_view key, const core::StringColumn& values);

/// Per record: true when some message has an empty (or only whitespace) or null content and no
/// tool calls. Used to report rows a rewrite emptied.
std::vector<uint8_t> empty_message_rows(const RecordBatch& batch, uint8_t mask);

}  // namespace airtune::io
