#include "io/record_parser.h"

#include <array>
#include <cstring>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/utf8.h"
#include "io/json_text.h"

namespace airtune::io {

namespace {

using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

// Thrown inside this file only, turned into a LineError by parse().
struct SchemaError {
  std::string field;
  std::string reason;
};

std::string_view type_name(element_type t) {
  switch (t) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
    default:
      return "number";
  }
}

[[noreturn]] void schema_error(std::string field, std::string reason) {
  throw SchemaError{std::move(field), std::move(reason)};
}

std::string_view expect_string(element e, const std::string& field) {
  if (e.type() != element_type::STRING)
    schema_error(field, "expected a string, got " + std::string(type_name(e.type())));
  return std::string_view(e.get_string().value_unsafe());
}

struct Field {
  std::string_view key;
  element value;
};

// The fields of an object with duplicate keys resolved as Python's json does: each key once, at
// the position of its first occurrence, with the value of its last. Linear below kIndexed fields,
// hashed above, so a crafted object with many keys stays O(n).
class FieldList {
 public:
  void collect(object obj) {
    fields_.clear();
    index_.clear();
    for (auto [key, value] : obj) {
      if (Field* f = lookup(key)) {
        f->value = value;
        continue;
      }
      fields_.push_back({key, value});
      if (fields_.size() > kIndexed) {
        if (index_.empty())
          for (size_t i = 0; i < fields_.size(); ++i) index_.emplace(fields_[i].key, i);
        else
          index_.emplace(key, fields_.size() - 1);
      }
    }
  }
  const element* find(std::string_view key) const {
    const Field* f = const_cast<FieldList*>(this)->lookup(key);
    return f ? &f->value : nullptr;
  }
  std::vector<Field>::const_iterator begin() const { return fields_.begin(); }
  std::vector<Field>::const_iterator end() const { return fields_.end(); }

 private:
  static constexpr size_t kIndexed = 16;
  Field* lookup(std::string_view key) {
    if (!index_.empty()) {
      auto it = index_.find(key);
      return it == index_.end() ? nullptr : &fields_[it->second];
    }
    for (Field& f : fields_)
      if (f.key == key) return &f;
    return nullptr;
  }
  std::vector<Field> fields_;
  std::unordered_map<std::string_view, size_t> index_;
};

bool has_duplicate_keys(element e) {
  if (e.type() == element_type::ARRAY) {
    array items = e.get_array().value_unsafe();
    for (element v : items)
      if (has_duplicate_keys(v)) return true;
    return false;
  }
  if (e.type() != element_type::OBJECT) return false;
  object obj = e.get_object().value_unsafe();
  std::vector<std::string_view> seen;
  std::unordered_set<std::string_view> many;
  for (auto [key, value] : obj) {
    if (seen.size() < 16) {
      for (std::string_view k : seen)
        if (k == key) return true;
      seen.push_back(key);
      if (seen.size() == 16) many.insert(seen.begin(), seen.end());
    } else if (!many.insert(key).second) {
      return true;
    }
    if (has_duplicate_keys(value)) return true;
  }
  return false;
}

void append_deduplicated(std::string& out, element e) {
  if (e.type() == element_type::ARRAY) {
    out.push_back('[');
    bool first = true;
    array items = e.get_array().value_unsafe();
    for (element v : items) {
      if (!first) out.push_back(',');
      first = false;
      append_deduplicated(out, v);
    }
    out.push_back(']');
  } else if (e.type() == element_type::OBJECT) {
    FieldList fields;
    fields.collect(e.get_object().value_unsafe());
    out.push_back('{');
    bool first = true;
    for (const Field& f : fields) {
      if (!first) out.push_back(',');
      first = false;
      append_json_string(out, f.key);
      out.push_back(':');
      append_deduplicated(out, f.value);
    }
    out.push_back('}');
  } else {
    out += simdjson::minify(e);
  }
}

// A value kept as JSON text (metadata, extra fields, tool calls, non-string labels): minified,
// with duplicate keys at any depth resolved like FieldList (the last value wins).
void append_json_value(std::string& out, element e) {
  if (has_duplicate_keys(e))
    append_deduplicated(out, e);
  else
    out += simdjson::minify(e);
}

std::string json_value(element e) {
  std::string out;
  append_json_value(out, e);
  return out;
}

// Collects unknown fields of an object into a JSON object text.
struct ExtraFields {
  std::string json;
  void add(std::string_view key, element value) {
    json.push_back(json.empty() ? '{' : ',');
    append_json_string(json, key);
    json.push_back(':');
    append_json_value(json, value);
  }
  void add_string(std::string_view key, std::string_view value) {
    json.push_back(json.empty() ? '{' : ',');
    append_json_string(json, key);
    json.push_back(':');
    append_json_string(json, value);
  }
  void store(core::StringColumn& col) {
    if (json.empty()) {
      col.push_null();
    } else {
      json.push_back('}');
      col.push_back(json);
    }
  }
};

// Scratch field lists, one per nesting level the parser reads (reused across lines).
struct Scratch {
  FieldList top, message, part;
};

// Remembers column sizes so a half-built record can be removed on error.
struct Mark {
  size_t records, messages;
};

void truncate(core::StringColumn& c, size_t n) {
  c.offsets.resize(n + 1);
  c.data.resize(static_cast<size_t>(c.offsets[n]));
  if (!c.valid.empty()) c.valid.resize(n);
}

void rollback(RecordBatch& b, Mark m) {
  truncate(b.id, m.records);
  b.format.resize(m.records);
  b.line.resize(m.records);
  b.input_at.resize(m.records);
  b.message_offsets.resize(m.records + 1);
  truncate(b.label, m.records);
  truncate(b.metadata, m.records);
  b.role.resize(m.messages);
  truncate(b.content, m.messages);
  truncate(b.name, m.messages);
  truncate(b.tool_calls, m.messages);
  truncate(b.tool_call_id, m.messages);
  truncate(b.extra, m.messages);
}

void push_message(RecordBatch& b, Role role, std::string_view content) {
  b.role.push_back(static_cast<uint8_t>(role));
  b.content.push_back(content);
  b.name.push_null();
  b.tool_calls.push_null();
  b.tool_call_id.push_null();
  b.extra.push_null();
}

std::optional<Role> chat_role(std::string_view r) {
  if (r == "user") return Role::User;
  if (r == "assistant") return Role::Assistant;
  if (r == "system" || r == "developer") return Role::System;
  if (r == "tool" || r == "function") return Role::Tool;
  return std::nullopt;
}

std::optional<Role> sharegpt_role(std::string_view r) {
  if (r == "human" || r == "user") return Role::User;
  if (r == "gpt" || r == "assistant" || r == "chatgpt" || r == "bard" || r == "bing" || r == "model" ||
      r == "function_call")
    return Role::Assistant;
  if (r == "system") return Role::System;
  if (r == "tool" || r == "function" || r == "observation" || r == "function_response") return Role::Tool;
  return std::nullopt;
}

// Names an array element for error messages; the text is built only when an error is raised.
struct Where {
  const char* array;
  size_t index;
  std::string operator()(const char* suffix = "") const {
    return std::string(array) + "[" + std::to_string(index) + "]" + suffix;
  }
};

std::string_view expect_string(element e, const Where& where, const char* suffix) {
  if (e.type() != element_type::STRING)
    schema_error(where(suffix), "expected a string, got " + std::string(type_name(e.type())));
  return std::string_view(e.get_string().value_unsafe());
}

// Content as a string, an array of text parts (joined into `storage`), or null (nullopt).
std::optional<std::string_view> message_content(element e, const Where& where, std::string& storage,
                                                FieldList& part_fields) {
  switch (e.type()) {
    case element_type::STRING:
      return std::string_view(e.get_string().value_unsafe());
    case element_type::NULL_VALUE:
      return std::nullopt;
    case element_type::ARRAY: {
      storage.clear();
      size_t k = 0;
      array parts = e.get_array().value_unsafe();
      for (element part : parts) {
        const size_t index = k++;
        auto pf = [&](const char* suffix = "") {
          return where(".content") + "[" + std::to_string(index) + "]" + suffix;
        };
        if (part.type() == element_type::STRING) {
          storage += part.get_string().value_unsafe();
          continue;
        }
        if (part.type() != element_type::OBJECT) schema_error(pf(), "expected a text part object");
        part_fields.collect(part.get_object().value_unsafe());
        std::string_view type = "text";
        if (const element* t = part_fields.find("type")) {
          if (t->type() != element_type::STRING)
            schema_error(pf(".type"), "expected a string, got " + std::string(type_name(t->type())));
          type = t->get_string().value_unsafe();
        }
        if (type != "text") schema_error(pf(), "unsupported content part type '" + std::string(type) + "'");
        const element* text = part_fields.find("text");
        if (!text) schema_error(pf(".text"), "missing");
        if (text->type() != element_type::STRING)
          schema_error(pf(".text"), "expected a string, got " + std::string(type_name(text->type())));
        storage += text->get_string().value_unsafe();
      }
      return std::string_view(storage);
    }
    default:
      schema_error(where(".content"),
                   "expected a string, an array of text parts or null, got " + std::string(type_name(e.type())));
  }
}

// key == literal, as a length check and a fixed-size memcmp (string_view's == was a call).
template <size_t N>
bool is(std::string_view key, const char (&literal)[N]) {
  return key.size() == N - 1 && std::memcmp(key.data(), literal, N - 1) == 0;
}

// Most messages are {"role": <known role>, "content": <string>} and nothing else: read without
// building a field list (that list was ~18% of the instructions the parser spends past simdjson on
// chat lines). Anything else returns false and takes the general route below, which gives the same
// message or the located error.
bool plain_message(object obj, RecordBatch& b) {
  element role, content;
  int seen = 0;  // bit 0: role, bit 1: content
  for (auto [key, value] : obj) {
    if (is(key, "role") && !(seen & 1)) {
      role = value;
      seen |= 1;
    } else if (is(key, "content") && !(seen & 2)) {
      content = value;
      seen |= 2;
    } else {
      return false;  // another field, or a duplicate one (the general route resolves it)
    }
  }
  if (seen != 3 || role.type() != element_type::STRING || content.type() != element_type::STRING) return false;
  const std::optional<Role> r = chat_role(role.get_string().value_unsafe());
  if (!r) return false;
  push_message(b, *r, content.get_string().value_unsafe());
  return true;
}

void parse_chat_messages(element messages, RecordBatch& b, Scratch& scratch) {
  if (messages.type() != element_type::ARRAY)
    schema_error("messages", "expected an array, got " + std::string(type_name(messages.type())));
  size_t k = 0;
  std::string joined;
  array list = messages.get_array().value_unsafe();
  for (element m : list) {
    const Where where{"messages", k++};
    if (m.type() != element_type::OBJECT) schema_error(where(), "expected an object");
    if (plain_message(m.get_object().value_unsafe(), b)) continue;
    std::optional<Role> role;
    std::optional<std::string_view> content;
    bool has_content = false, has_tool_calls = false, has_name = false, has_call_id = false;
    std::string_view name, call_id;
    std::string tool_calls;
    ExtraFields extra;
    FieldList& fields = scratch.message;
    fields.collect(m.get_object().value_unsafe());
    for (const auto& [key, value] : fields) {
      if (key == "role") {
        std::string_view r = expect_string(value, where, ".role");
        role = chat_role(r);
        if (!role) schema_error(where(".role"), "unknown role '" + std::string(r) + "'");
      } else if (key == "content") {
        has_content = true;
        content = message_content(value, where, joined, scratch.part);
      } else if (key == "name" && value.type() == element_type::STRING) {
        has_name = true;
        name = value.get_string().value_unsafe();
      } else if (key == "tool_calls" && value.type() != element_type::NULL_VALUE) {
        if (value.type() != element_type::ARRAY) schema_error(where(".tool_calls"), "expected an array");
        has_tool_calls = true;
        tool_calls = json_value(value);
      } else if (key == "tool_call_id" && value.type() == element_type::STRING) {
        has_call_id = true;
        call_id = value.get_string().value_unsafe();
      } else {
        extra.add(key, value);
      }
    }
    if (!role) schema_error(where(".role"), "missing");
    if (!has_content && !has_tool_calls && !fields.find("function_call")) schema_error(where(".content"), "missing");
    if (!content && *role != Role::Assistant)
      schema_error(where(".content"), "null content is only allowed for assistant messages");
    b.role.push_back(static_cast<uint8_t>(*role));
    if (content)
      b.content.push_back(*content);
    else
      b.content.push_null();
    if (has_name)
      b.name.push_back(name);
    else
      b.name.push_null();
    if (has_tool_calls)
      b.tool_calls.push_back(tool_calls);
    else
      b.tool_calls.push_null();
    if (has_call_id)
      b.tool_call_id.push_back(call_id);
    else
      b.tool_call_id.push_null();
    extra.store(b.extra);
  }
  if (k == 0) schema_error("messages", "empty");
}

void parse_sharegpt(element conversations, std::optional<std::string_view> system, RecordBatch& b, Scratch& scratch) {
  if (conversations.type() != element_type::ARRAY)
    schema_error("conversations", "expected an array, got " + std::string(type_name(conversations.type())));
  if (system && !system->empty()) push_message(b, Role::System, *system);
  size_t k = 0;
  array turns = conversations.get_array().value_unsafe();
  for (element turn : turns) {
    const Where where{"conversations", k++};
    if (turn.type() != element_type::OBJECT) schema_error(where(), "expected an object");
    std::optional<std::string_view> from, value;
    ExtraFields extra;
    FieldList& fields = scratch.message;
    fields.collect(turn.get_object().value_unsafe());
    // "role" and "content" are aliases of "from" and "value" only when those are absent; otherwise
    // they are other fields of the turn (kept in extra).
    const bool has_from = fields.find("from") != nullptr, has_value = fields.find("value") != nullptr;
    for (const auto& [key, v] : fields) {
      if (key == "from" || (key == "role" && !has_from))
        from = expect_string(v, where, key == "from" ? ".from" : ".role");
      else if (key == "value" || (key == "content" && !has_value))
        value = expect_string(v, where, key == "value" ? ".value" : ".content");
      else
        extra.add(key, v);
    }
    if (!from) schema_error(where(".from"), "missing");
    if (!value) schema_error(where(".value"), "missing");
    std::optional<Role> role = sharegpt_role(*from);
    if (!role) schema_error(where(".from"), "unknown role '" + std::string(*from) + "'");
    // Keep a non-canonical speaker name so writing ShareGPT back restores it.
    static constexpr std::array<std::string_view, 5> kCanonical = {"system", "human", "gpt", "tool", "text"};
    if (*from != kCanonical[static_cast<size_t>(*role)]) extra.add_string("from", *from);
    b.role.push_back(static_cast<uint8_t>(*role));
    b.content.push_back(*value);
    b.name.push_null();
    b.tool_calls.push_null();
    b.tool_call_id.push_null();
    extra.store(b.extra);
  }
  if (k == 0) schema_error("conversations", "empty");
}

Format detect(const FieldList& top) {
  if (top.find("messages")) return Format::Chat;
  if (top.find("conversations")) return Format::ShareGPT;
  if (top.find("instruction")) return Format::Alpaca;
  if (top.find("prompt") && top.find("completion")) return Format::PromptCompletion;
  if (top.find("text")) return Format::Text;
  return Format::Auto;
}

// The top-level fields each format consumes; the rest go to metadata.
bool consumed(Format f, std::string_view key) {
  if (key == "id" || key == "label") return true;
  switch (f) {
    case Format::Chat:
      return key == "messages";
    case Format::ShareGPT:
      return key == "conversations" || key == "system";
    case Format::Alpaca:
      return key == "instruction" || key == "input" || key == "output" || key == "system" || key == "history";
    case Format::PromptCompletion:
      return key == "prompt" || key == "completion";
    case Format::Text:
      return key == "text";
    default:
      return false;
  }
}

std::string_view required_fields(Format f) {
  switch (f) {
    case Format::Chat:
      return "'messages'";
    case Format::ShareGPT:
      return "'conversations'";
    case Format::Alpaca:
      return "'instruction' and 'output'";
    case Format::PromptCompletion:
      return "'prompt' and 'completion'";
    case Format::Text:
      return "'text'";
    default:
      return "";
  }
}

// Parses the layout's fields of `top` into messages of `b`; returns the record's input_at.
int64_t parse_record(const FieldList& top, Format format, RecordBatch& b, Scratch& scratch) {
  auto required_string = [&](const char* key) {
    const element* e = top.find(key);
    if (!e) schema_error(key, std::string("missing (format ") + std::string(format_name(format)) + ")");
    return expect_string(*e, key);
  };
  auto optional_string = [&](const char* key) -> std::optional<std::string_view> {
    const element* e = top.find(key);
    if (!e || e->type() == element_type::NULL_VALUE) return std::nullopt;
    return expect_string(*e, key);
  };

  switch (format) {
    case Format::Chat: {
      const element* m = top.find("messages");
      if (!m) schema_error("messages", "missing (format chat)");
      parse_chat_messages(*m, b, scratch);
      break;
    }
    case Format::ShareGPT: {
      const element* c = top.find("conversations");
      if (!c) schema_error("conversations", "missing (format sharegpt)");
      parse_sharegpt(*c, optional_string("system"), b, scratch);
      break;
    }
    case Format::Alpaca: {
      std::string_view instruction = required_string("instruction");
      std::string_view output = required_string("output");
      std::optional<std::string_view> input = optional_string("input");
      if (auto s = optional_string("system"); s && !s->empty()) push_message(b, Role::System, *s);
      if (const element* h = top.find("history"); h && h->type() != element_type::NULL_VALUE) {
        if (h->type() != element_type::ARRAY)
          schema_error("history", "expected an array of [instruction, response] pairs");
        size_t k = 0;
        array history = h->get_array().value_unsafe();
        for (element pair : history) {
          const std::string pf = "history[" + std::to_string(k++) + "]";
          if (pair.type() != element_type::ARRAY) schema_error(pf, "expected a [instruction, response] pair");
          array pa = pair.get_array().value_unsafe();
          if (pa.size() != 2) schema_error(pf, "expected a [instruction, response] pair");
          push_message(b, Role::User, expect_string(pa.at(0).value_unsafe(), pf + "[0]"));
          push_message(b, Role::Assistant, expect_string(pa.at(1).value_unsafe(), pf + "[1]"));
        }
      }
      std::string user(instruction);
      int64_t input_at = RecordBatch::kInputAbsent;
      if (input) {
        input_at = static_cast<int64_t>(instruction.size());
        if (!input->empty()) {
          user += "\n\n";
          user += *input;
          input_at += 2;
        }
      }
      push_message(b, Role::User, user);
      push_message(b, Role::Assistant, output);
      return input_at;
    }
    case Format::PromptCompletion: {
      std::string_view prompt = required_string("prompt");
      std::string_view completion = required_string("completion");
      push_message(b, Role::User, prompt);
      push_message(b, Role::Assistant, completion);
      break;
    }
    case Format::Text:
      push_message(b, Role::Text, required_string("text"));
      break;
    case Format::Auto:
      schema_error(
          "",
          "unrecognised record: no 'messages', 'conversations', 'instruction', 'prompt'/'completion' or 'text' field");
  }
  return RecordBatch::kNoInput;
}

}  // namespace

struct RecordScratch : Scratch {};

RecordParser::RecordParser(Format format) : format_(format), scratch_(std::make_unique<RecordScratch>()) {}
RecordParser::~RecordParser() = default;
RecordParser::RecordParser(RecordParser&&) noexcept = default;
RecordParser& RecordParser::operator=(RecordParser&&) noexcept = default;

std::optional<LineError> RecordParser::parse(std::string_view text, size_t capacity, int64_t line,
                                             std::string_view default_id, RecordBatch& out) {
  auto error = [&](int64_t column, std::string field, std::string reason) {
    return LineError{line, column, std::move(field), std::move(reason)};
  };
  element root;
  const bool padded = capacity >= text.size() + simdjson::SIMDJSON_PADDING;
  auto parsed = parser_.parse(text.data(), text.size(), !padded);
  if (parsed.error()) {
    if (parsed.error() == simdjson::UTF8_ERROR) {
      return error(static_cast<int64_t>(core::first_invalid_utf8(text)) + 1, "", "invalid UTF-8");
    }
    JsonTextError found = find_json_error(text);
    if (found.reason.empty()) {
      // Well-formed text that simdjson still refuses: depth or size limits.
      return error(1, "", std::string("invalid JSON: ") + simdjson::error_message(parsed.error()));
    }
    std::string reason = "invalid JSON: " + (found.field.empty() ? found.reason : found.field + ": " + found.reason);
    return error(static_cast<int64_t>(found.offset) + 1, std::move(found.field), std::move(reason));
  }
  root = parsed.value_unsafe();
  if (root.type() != element_type::OBJECT)
    return error(1, "", "expected a JSON object, got " + std::string(type_name(root.type())));
  Scratch& scratch = *scratch_;
  FieldList& top = scratch.top;
  top.collect(root.get_object().value_unsafe());

  const Mark mark{out.size(), out.message_count()};
  try {
    Format format = format_;
    if (format == Format::Auto) format = detect(top);
    if (format != Format::Auto && format_ != Format::Auto) {
      // An explicit format: say which fields are missing rather than guessing another layout.
      bool has = false;
      for (const auto& [key, value] : top) has = has || (consumed(format, key) && key != "id" && key != "label");
      if (!has)
        schema_error("", "not a " + std::string(format_name(format)) + " record: expected " +
                             std::string(required_fields(format)));
    }
    const int64_t input_at = parse_record(top, format, out, scratch);

    std::string id;
    if (const element* v = top.find("id"); v && v->type() != element_type::NULL_VALUE) {
      if (v->type() == element_type::STRING)
        id = std::string(v->get_string().value_unsafe());
      else if (v->type() == element_type::INT64 || v->type() == element_type::UINT64)
        id = simdjson::minify(*v);
      else
        schema_error("id", "expected a string or an integer, got " + std::string(type_name(v->type())));
    } else {
      id = std::string(default_id);
    }
    out.id.push_back(id);
    if (const element* v = top.find("label"); v && v->type() != element_type::NULL_VALUE) {
      if (v->type() == element_type::STRING)
        out.label.push_back(v->get_string().value_unsafe());
      else
        out.label.push_back(json_value(*v));
    } else {
      out.label.push_null();
    }
    ExtraFields meta;
    for (const auto& [key, value] : top) {
      if (consumed(format, key)) continue;
      if (key == "metadata" && value.type() == element_type::OBJECT) {
        // A "metadata" object is the record's metadata itself, not a field of it (never wrapped);
        // its duplicate keys resolve like the top level's (the last wins).
        FieldList& inner = scratch.part;
        inner.collect(value.get_object().value_unsafe());
        for (const auto& [k, v] : inner) {
          if (top.find(k) && !consumed(format, k)) schema_error("metadata." + std::string(k), "also a top-level field");
          meta.add(k, v);
        }
        continue;
      }
      meta.add(key, value);
    }
    meta.store(out.metadata);
    out.format.push_back(static_cast<uint8_t>(format));
    out.line.push_back(line);
    out.input_at.push_back(input_at);
    out.message_offsets.push_back(static_cast<int64_t>(out.message_count()));
  } catch (const SchemaError& e) {
    rollback(out, mark);
    return error(1, e.field, e.field.empty() ? e.reason : e.field + ": " + e.reason);
  }
  return std::nullopt;
}

}  // namespace airtune::io
