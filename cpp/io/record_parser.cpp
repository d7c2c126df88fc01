#include "io/record_parser.h"

#include <array>
#include <string>
#include <utility>

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

// Collects unknown fields of an object into a JSON object text.
struct ExtraFields {
  std::string json;
  void add(std::string_view key, element value) {
    json.push_back(json.empty() ? '{' : ',');
    append_json_string(json, key);
    json.push_back(':');
    json += simdjson::minify(value);
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
std::optional<std::string_view> message_content(element e, const Where& where, std::string& storage) {
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
        const std::string pf = where(".content") + "[" + std::to_string(k++) + "]";
        if (part.type() == element_type::STRING) {
          storage += part.get_string().value_unsafe();
          continue;
        }
        if (part.type() != element_type::OBJECT) schema_error(pf, "expected a text part object");
        object po = part.get_object().value_unsafe();
        std::string_view type = "text";
        if (auto t = po["type"]; !t.error()) type = expect_string(t.value_unsafe(), pf + ".type");
        if (type != "text") schema_error(pf, "unsupported content part type '" + std::string(type) + "'");
        auto text = po["text"];
        if (text.error()) schema_error(pf + ".text", "missing");
        storage += expect_string(text.value_unsafe(), pf + ".text");
      }
      return std::string_view(storage);
    }
    default:
      schema_error(where(".content"),
                   "expected a string, an array of text parts or null, got " + std::string(type_name(e.type())));
  }
}

void parse_chat_messages(element messages, RecordBatch& b) {
  if (messages.type() != element_type::ARRAY)
    schema_error("messages", "expected an array, got " + std::string(type_name(messages.type())));
  size_t k = 0;
  std::string joined;
  array list = messages.get_array().value_unsafe();
  for (element m : list) {
    const Where where{"messages", k++};
    if (m.type() != element_type::OBJECT) schema_error(where(), "expected an object");
    std::optional<Role> role;
    std::optional<std::string_view> content;
    bool has_content = false, has_tool_calls = false, has_name = false, has_call_id = false;
    std::string_view name, call_id;
    std::string tool_calls;
    ExtraFields extra;
    object fields = m.get_object().value_unsafe();
    for (auto [key, value] : fields) {
      if (key == "role") {
        std::string_view r = expect_string(value, where, ".role");
        role = chat_role(r);
        if (!role) schema_error(where(".role"), "unknown role '" + std::string(r) + "'");
      } else if (key == "content") {
        has_content = true;
        content = message_content(value, where, joined);
      } else if (key == "name" && value.type() == element_type::STRING) {
        has_name = true;
        name = value.get_string().value_unsafe();
      } else if (key == "tool_calls" && value.type() != element_type::NULL_VALUE) {
        if (value.type() != element_type::ARRAY) schema_error(where(".tool_calls"), "expected an array");
        has_tool_calls = true;
        tool_calls = simdjson::minify(value);
      } else if (key == "tool_call_id" && value.type() == element_type::STRING) {
        has_call_id = true;
        call_id = value.get_string().value_unsafe();
      } else {
        extra.add(key, value);
      }
    }
    if (!role) schema_error(where(".role"), "missing");
    if (!has_content && !has_tool_calls && extra.json.find("\"function_call\"") == std::string::npos)
      schema_error(where(".content"), "missing");
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

void parse_sharegpt(element conversations, std::optional<std::string_view> system, RecordBatch& b) {
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
    object fields = turn.get_object().value_unsafe();
    for (auto [key, v] : fields) {
      if (key == "from" || key == "role")
        from = expect_string(v, where, key == "from" ? ".from" : ".role");
      else if (key == "value" || key == "content")
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

Format detect(object obj) {
  if (!obj["messages"].error()) return Format::Chat;
  if (!obj["conversations"].error()) return Format::ShareGPT;
  if (!obj["instruction"].error()) return Format::Alpaca;
  if (!obj["prompt"].error() && !obj["completion"].error()) return Format::PromptCompletion;
  if (!obj["text"].error()) return Format::Text;
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

void parse_record(object obj, Format format, RecordBatch& b) {
  auto field = [&](const char* key) -> std::optional<element> {
    auto r = obj[key];
    if (r.error()) return std::nullopt;
    return r.value_unsafe();
  };
  auto required_string = [&](const char* key) {
    auto e = field(key);
    if (!e) schema_error(key, std::string("missing (format ") + std::string(format_name(format)) + ")");
    return expect_string(*e, key);
  };
  auto optional_string = [&](const char* key) -> std::optional<std::string_view> {
    auto e = field(key);
    if (!e || e->type() == element_type::NULL_VALUE) return std::nullopt;
    return expect_string(*e, key);
  };

  switch (format) {
    case Format::Chat: {
      auto m = field("messages");
      if (!m) schema_error("messages", "missing (format chat)");
      parse_chat_messages(*m, b);
      break;
    }
    case Format::ShareGPT: {
      auto c = field("conversations");
      if (!c) schema_error("conversations", "missing (format sharegpt)");
      parse_sharegpt(*c, optional_string("system"), b);
      break;
    }
    case Format::Alpaca: {
      std::string_view instruction = required_string("instruction");
      std::string_view output = required_string("output");
      std::optional<std::string_view> input = optional_string("input");
      if (auto s = optional_string("system"); s && !s->empty()) push_message(b, Role::System, *s);
      if (auto h = field("history"); h && h->type() != element_type::NULL_VALUE) {
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
      if (input && !input->empty()) {
        user += "\n\n";
        user += *input;
      }
      push_message(b, Role::User, user);
      push_message(b, Role::Assistant, output);
      break;
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
}

}  // namespace

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
    JsonSyntaxError syntax = find_json_syntax_error(text);
    if (syntax.reason.empty()) {
      // Well-formed text that simdjson still refuses: depth or size limits.
      return error(1, "", std::string("invalid JSON: ") + simdjson::error_message(parsed.error()));
    }
    return error(static_cast<int64_t>(syntax.offset) + 1, "", "invalid JSON: " + syntax.reason);
  }
  root = parsed.value_unsafe();
  if (root.type() != element_type::OBJECT)
    return error(1, "", "expected a JSON object, got " + std::string(type_name(root.type())));
  object obj = root.get_object().value_unsafe();

  const Mark mark{out.size(), out.message_count()};
  try {
    Format format = format_;
    if (format == Format::Auto) format = detect(obj);
    if (format != Format::Auto && format_ != Format::Auto) {
      // An explicit format: say which fields are missing rather than guessing another layout.
      bool has = false;
      for (auto [key, value] : obj) has = has || (consumed(format, key) && key != "id" && key != "label");
      if (!has)
        schema_error("", "not a " + std::string(format_name(format)) + " record: expected " +
                             std::string(required_fields(format)));
    }
    parse_record(obj, format, out);

    std::string id;
    if (auto e = obj["id"]; !e.error() && e.value_unsafe().type() != element_type::NULL_VALUE) {
      element v = e.value_unsafe();
      if (v.type() == element_type::STRING)
        id = std::string(v.get_string().value_unsafe());
      else if (v.type() == element_type::INT64 || v.type() == element_type::UINT64)
        id = simdjson::minify(v);
      else
        schema_error("id", "expected a string or an integer, got " + std::string(type_name(v.type())));
    } else {
      id = std::string(default_id);
    }
    out.id.push_back(id);
    if (auto e = obj["label"]; !e.error() && e.value_unsafe().type() != element_type::NULL_VALUE) {
      element v = e.value_unsafe();
      if (v.type() == element_type::STRING)
        out.label.push_back(v.get_string().value_unsafe());
      else
        out.label.push_back(simdjson::minify(v));
    } else {
      out.label.push_null();
    }
    ExtraFields meta;
    for (auto [key, value] : obj) {
      if (consumed(format, key)) continue;
      if (key == "metadata" && value.type() == element_type::OBJECT) {
        // A "metadata" object is the record's metadata itself, not a field of it (never wrapped).
        object inner = value.get_object().value_unsafe();
        for (auto [k, v] : inner) {
          if (!obj[k].error() && !consumed(format, k))
            schema_error("metadata." + std::string(k), "also a top-level field");
          meta.add(k, v);
        }
        continue;
      }
      meta.add(key, value);
    }
    meta.store(out.metadata);
    out.format.push_back(static_cast<uint8_t>(format));
    out.line.push_back(line);
    out.message_offsets.push_back(static_cast<int64_t>(out.message_count()));
  } catch (const SchemaError& e) {
    rollback(out, mark);
    return error(1, e.field, e.field.empty() ? e.reason : e.field + ": " + e.reason);
  }
  return std::nullopt;
}

}  // namespace airtune::io
