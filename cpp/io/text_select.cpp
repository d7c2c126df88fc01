#include "io/text_select.h"

#include <simdjson.h>

#include <algorithm>

#include "core/errors.h"
#include "core/threading.h"
#include "io/json_text.h"

namespace airtune::io {

namespace {

constexpr size_t kRecordsPerTask = 512;

constexpr std::string_view kSelectors =
    "conversation, user, assistant, system, tool, text, first_user, last_user, last_assistant (or response), "
    "prompt, label, id, metadata.<key>";

Role role_of(const RecordBatch& b, size_t j) { return static_cast<Role>(b.role[j]); }

void append_turn(std::string& out, const RecordBatch& b, size_t j) {
  if (!out.empty()) out.push_back('\n');
  out += role_name(role_of(b, j));
  out += ": ";
  if (b.content.is_valid(j)) out += b.content[j];
  if (b.tool_calls.is_valid(j)) {
    if (b.content.is_valid(j) && !b.content[j].empty()) out.push_back(' ');
    out += b.tool_calls[j];
  }
}

// Appends the selected text of record i to `out` (cleared first); false when it has none.
struct Selecting {
  const RecordBatch& b;
  const TextSelector& sel;
  std::string json_pointer;
  simdjson::dom::parser parser;

  bool text_of(size_t i, std::string& out) {
    out.clear();
    const size_t begin = b.messages_begin(i), end = b.messages_end(i);
    switch (sel.kind) {
      case SelectKind::kConversation:
        if (end - begin == 1 && role_of(b, begin) == Role::Text) {
          out += b.content[begin];
          return true;
        }
        for (size_t j = begin; j < end; ++j) append_turn(out, b, j);
        return end > begin;
      case SelectKind::kRole: {
        bool any = false;
        for (size_t j = begin; j < end; ++j) {
          if (role_of(b, j) != sel.role || !b.content.is_valid(j)) continue;
          if (any) out.push_back('\n');
          out += b.content[j];
          any = true;
        }
        return any;
      }
      case SelectKind::kFirstUser:
      case SelectKind::kLastUser:
      case SelectKind::kLastAssistant: {
        const Role want = sel.kind == SelectKind::kLastAssistant ? Role::Assistant : Role::User;
        const bool first = sel.kind == SelectKind::kFirstUser;
        int64_t found = -1;
        for (size_t j = begin; j < end; ++j) {
          if (role_of(b, j) != want || !b.content.is_valid(j)) continue;
          found = static_cast<int64_t>(j);
          if (first) break;
        }
        if (found < 0) return false;
        out += b.content[static_cast<size_t>(found)];
        return true;
      }
      case SelectKind::kPrompt: {
        size_t last = end;
        for (size_t j = end; j > begin; --j)
          if (role_of(b, j - 1) == Role::Assistant) {
            last = j - 1;
            break;
          }
        if (last == end || last == begin) return false;
        for (size_t j = begin; j < last; ++j) append_turn(out, b, j);
        return true;
      }
      case SelectKind::kLabel:
        if (!b.label.is_valid(i)) return false;
        out += b.label[i];
        return true;
      case SelectKind::kId:
        out += b.id[i];
        return true;
      case SelectKind::kMetadata: {
        if (!b.metadata.is_valid(i)) return false;
        std::string_view meta = b.metadata[i];
        auto doc = parser.parse(meta.data(), meta.size(), true);
        if (doc.error()) return false;
        auto value = doc.value_unsafe().at_pointer(json_pointer);
        if (value.error()) return false;
        simdjson::dom::element e = value.value_unsafe();
        if (e.type() == simdjson::dom::element_type::NULL_VALUE) return false;
        if (e.type() == simdjson::dom::element_type::STRING)
          out += std::string_view(e.get_string().value_unsafe());
        else
          out += simdjson::minify(e);
        return true;
      }
    }
    return false;
  }
};

std::string pointer_of(std::string_view path) {
  std::string out = "/";
  for (char c : path) {
    if (c == '.')
      out.push_back('/');
    else if (c == '~')
      out += "~0";
    else if (c == '/')
      out += "~1";
    else
      out.push_back(c);
  }
  return out;
}

}  // namespace

TextSelector parse_selector(std::string_view s) {
  TextSelector t;
  t.name = std::string(s);
  if (s == "conversation") {
    t.kind = SelectKind::kConversation;
  } else if (s == "user" || s == "assistant" || s == "system" || s == "tool" || s == "text") {
    t.kind = SelectKind::kRole;
    t.role = s == "user"        ? Role::User
             : s == "assistant" ? Role::Assistant
             : s == "system"    ? Role::System
             : s == "tool"      ? Role::Tool
                                : Role::Text;
  } else if (s == "first_user") {
    t.kind = SelectKind::kFirstUser;
  } else if (s == "last_user") {
    t.kind = SelectKind::kLastUser;
  } else if (s == "last_assistant" || s == "response") {
    t.kind = SelectKind::kLastAssistant;
  } else if (s == "prompt") {
    t.kind = SelectKind::kPrompt;
  } else if (s == "label") {
    t.kind = SelectKind::kLabel;
  } else if (s == "id") {
    t.kind = SelectKind::kId;
  } else if (s.size() > 9 && s.substr(0, 9) == "metadata.") {
    t.kind = SelectKind::kMetadata;
    t.path = std::string(s.substr(9));
  } else {
    throw InvalidArgument("unknown selector '" + std::string(s) + "': use " + std::string(kSelectors) +
                          " (or a column name for tabular inputs)");
  }
  return t;
}

SelectedText select_text(const RecordBatch& batch, const TextSelector& selector) {
  const size_t n = batch.size();
  const size_t tasks = (n + kRecordsPerTask - 1) / kRecordsPerTask;
  std::vector<core::StringColumn> parts(tasks);
  SelectedText out;
  out.selector = selector.name;
  out.present.assign(n, 0);
  const std::string pointer = selector.kind == SelectKind::kMetadata ? pointer_of(selector.path) : "";
  core::parallel_for(tasks, 1, [&](size_t tb, size_t te) {
    Selecting s{batch, selector, pointer, simdjson::dom::parser()};
    std::string text;
    for (size_t t = tb; t < te; ++t) {
      core::StringColumn& col = parts[t];
      const size_t e = std::min(n, (t + 1) * kRecordsPerTask);
      for (size_t i = t * kRecordsPerTask; i < e; ++i) {
        out.present[i] = s.text_of(i, text) ? 1 : 0;
        col.push_back(text);
      }
    }
  });
  size_t bytes = 0;
  for (const auto& p : parts) bytes += p.data.size();
  out.text.data.reserve(bytes);
  out.text.offsets.reserve(n + 1);
  for (const auto& p : parts) out.text.append(p);
  for (size_t i = 0; i < n; ++i)
    if (!out.present[i]) {
      if (out.first_missing < 0) out.first_missing = static_cast<int64_t>(i);
      ++out.missing;
    }
  return out;
}

uint8_t role_mask(std::span<const std::string> roles) {
  if (roles.empty()) return 0xFF;
  uint8_t mask = 0;
  for (const std::string& r : roles) {
    if (r == "all") return 0xFF;
    bool found = false;
    for (int k = 0; k < kRoleCount; ++k)
      if (role_name(static_cast<Role>(k)) == r) {
        mask |= static_cast<uint8_t>(1u << k);
        found = true;
      }
    if (!found) throw InvalidArgument("unknown role '" + r + "': use system, user, assistant, tool, text or all");
  }
  return mask;
}

std::vector<int64_t> messages_with_roles(const RecordBatch& batch, uint8_t mask) {
  std::vector<int64_t> out;
  for (size_t j = 0; j < batch.message_count(); ++j)
    if ((mask >> batch.role[j]) & 1u && batch.content.is_valid(j)) out.push_back(static_cast<int64_t>(j));
  return out;
}

RecordBatch with_contents(const RecordBatch& batch, std::span<const int64_t> messages,
                          std::span<const std::string_view> texts) {
  if (messages.size() != texts.size())
    throw InvalidArgument("with_contents: " + std::to_string(messages.size()) + " message indices for " +
                          std::to_string(texts.size()) + " texts");
  const int64_t m = static_cast<int64_t>(batch.message_count());
  for (size_t k = 0; k < messages.size(); ++k)
    if (messages[k] < 0 || messages[k] >= m || (k > 0 && messages[k] <= messages[k - 1]))
      throw InvalidArgument("with_contents: message indices must be increasing and in [0, " + std::to_string(m) + ")");
  RecordBatch out;
  out.id = batch.id;
  out.format = batch.format;
  out.line = batch.line;
  out.input_at = batch.input_at;  // every per-record column travels (take() reads it)
  out.message_offsets = batch.message_offsets;
  out.label = batch.label;
  out.metadata = batch.metadata;
  out.role = batch.role;
  out.name = batch.name;
  out.tool_calls = batch.tool_calls;
  out.tool_call_id = batch.tool_call_id;
  out.extra = batch.extra;
  size_t bytes = batch.content.data.size();
  for (const auto& t : texts) bytes += t.size();
  out.content.data.reserve(bytes);
  out.content.offsets.reserve(static_cast<size_t>(m) + 1);
  size_t k = 0;
  for (size_t j = 0; j < static_cast<size_t>(m); ++j) {
    if (k < messages.size() && static_cast<size_t>(messages[k]) == j) {
      out.content.push_back(texts[k++]);
    } else if (batch.content.is_valid(j)) {
      out.content.push_back(batch.content[j]);
    } else {
      out.content.push_null();
    }
  }
  return out;
}

SelectedText message_texts(const RecordBatch& batch, std::span<const int64_t> messages) {
  SelectedText out;
  out.selector = "messages";
  out.present.assign(messages.size(), 1);
  const int64_t m = static_cast<int64_t>(batch.message_count());
  for (int64_t j : messages) {
    if (j < 0 || j >= m) throw InvalidArgument("message index " + std::to_string(j) + " out of range");
    out.text.push_back(batch.content[static_cast<size_t>(j)]);
  }
  return out;
}

SelectedText text_column(std::vector<std::string>&& texts, std::string name) {
  SelectedText out;
  out.selector = std::move(name);
  out.present.assign(texts.size(), 1);
  size_t bytes = 0;
  for (const auto& t : texts) bytes += t.size();
  out.text.data.reserve(bytes);
  out.text.offsets.reserve(texts.size() + 1);
  for (auto& t : texts) {
    out.text.push_back(t);
    std::string().swap(t);
  }
  return out;
}

RecordBatch with_metadata_field(const RecordBatch& batch, std::string_view key, const core::StringColumn& values) {
  if (values.size() != batch.size())
    throw InvalidArgument("with_metadata_field: " + std::to_string(values.size()) + " values for " +
                          std::to_string(batch.size()) + " records");
  RecordBatch out = batch;
  out.metadata.clear();
  simdjson::dom::parser parser;
  std::string obj;
  for (size_t i = 0; i < batch.size(); ++i) {
    obj = "{";
    if (batch.metadata.is_valid(i)) {
      std::string_view meta = batch.metadata[i];
      simdjson::dom::object fields;
      if (parser.parse(meta.data(), meta.size(), true).get(fields) == simdjson::SUCCESS) {
        for (auto [k, v] : fields) {
          if (k == key) continue;
          if (obj.size() > 1) obj.push_back(',');
          append_json_string(obj, k);
          obj.push_back(':');
          obj += simdjson::minify(v);
        }
      }
    }
    if (obj.size() > 1) obj.push_back(',');
    append_json_string(obj, key);
    obj.push_back(':');
    obj += values[i];
    obj.push_back('}');
    out.metadata.push_back(obj);
  }
  return out;
}

std::vector<uint8_t> empty_message_rows(const RecordBatch& batch, uint8_t mask) {
  std::vector<uint8_t> out(batch.size(), 0);
  for (size_t i = 0; i < batch.size(); ++i)
    for (size_t j = batch.messages_begin(i); j < batch.messages_end(i); ++j) {
      if (!((mask >> batch.role[j]) & 1u) || batch.tool_calls.is_valid(j)) continue;
      if (!batch.content.is_valid(j)) continue;  // null content (tool-call turns) is not emptied by a rewrite
      std::string_view c = batch.content[j];
      if (c.find_first_not_of(" \t\r\n") == std::string_view::npos) {
        out[i] = 1;
        break;
      }
    }
  return out;
}

}  // namespace airtune::io
