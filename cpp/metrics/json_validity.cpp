#include "metrics/json_validity.h"

#include <simdjson.h>

#include "core/errors.h"
#include "core/threading.h"

namespace airtune::metrics {

JsonType parse_json_type(std::string_view name) {
  if (name == "object" || name == "dict") return JsonType::kObject;
  if (name == "array" || name == "list") return JsonType::kArray;
  if (name == "string" || name == "str") return JsonType::kString;
  if (name == "integer" || name == "int") return JsonType::kInteger;
  if (name == "number" || name == "float") return JsonType::kNumber;
  if (name == "boolean" || name == "bool") return JsonType::kBoolean;
  if (name == "null" || name == "None") return JsonType::kNull;
  if (name == "any" || name.empty()) return JsonType::kAny;
  throw InvalidArgument("unknown JSON type '" + std::string(name) +
                        "' (object, array, string, integer, number, boolean, null, any)");
}

namespace {

JsonType type_of(const simdjson::dom::element& e) {
  using simdjson::dom::element_type;
  switch (e.type()) {
    case element_type::OBJECT:
      return JsonType::kObject;
    case element_type::ARRAY:
      return JsonType::kArray;
    case element_type::STRING:
      return JsonType::kString;
    case element_type::INT64:
    case element_type::UINT64:
      return JsonType::kInteger;
    case element_type::DOUBLE:
      return JsonType::kNumber;
    case element_type::BOOL:
      return JsonType::kBoolean;
    case element_type::NULL_VALUE:
      return JsonType::kNull;
  }
  return JsonType::kNone;
}

bool type_ok(JsonType want, JsonType got) {
  if (want == JsonType::kAny) return true;
  if (want == JsonType::kNumber) return got == JsonType::kNumber || got == JsonType::kInteger;
  return want == got;
}

inline bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_ws(s.back())) s.remove_suffix(1);
  return s;
}

}  // namespace

std::string_view json_lenient_span(std::string_view text) {
  std::string_view t = trim(text);
  if (t.substr(0, 3) == "```") {
    const size_t nl = t.find('\n');
    if (nl != std::string_view::npos) {
      std::string_view body = t.substr(nl + 1);
      const size_t close = body.rfind("```");
      if (close != std::string_view::npos) body = body.substr(0, close);
      return trim(body);
    }
  }
  // First balanced {...} or [...], skipping brackets inside strings.
  const size_t start = t.find_first_of("{[");
  if (start == std::string_view::npos) return t;
  int depth = 0;
  bool in_str = false, esc = false;
  for (size_t i = start; i < t.size(); ++i) {
    const char c = t[i];
    if (in_str) {
      if (esc)
        esc = false;
      else if (c == '\\')
        esc = true;
      else if (c == '"')
        in_str = false;
      continue;
    }
    if (c == '"')
      in_str = true;
    else if (c == '{' || c == '[')
      ++depth;
    else if (c == '}' || c == ']') {
      if (--depth == 0) return t.substr(start, i - start + 1);
    }
  }
  return t.substr(start);
}

std::vector<JsonItem> json_validity(const std::vector<std::string_view>& texts, const std::vector<JsonKey>& keys) {
  std::vector<JsonItem> out(texts.size());
  core::parallel_for(texts.size(), 256, [&](size_t begin, size_t end) {
    simdjson::dom::parser parser;
    for (size_t i = begin; i < end; ++i) {
      JsonItem item{2, static_cast<int8_t>(JsonType::kNone), -1, 4};
      simdjson::dom::element doc;
      simdjson::padded_string strict_text(texts[i]);
      if (parser.parse(strict_text).get(doc) == simdjson::SUCCESS) {
        item.status = 0;
      } else {
        simdjson::padded_string lenient_text(json_lenient_span(texts[i]));
        if (parser.parse(lenient_text).get(doc) == simdjson::SUCCESS) item.status = 1;
      }
      if (item.status != 2) {
        const JsonType top = type_of(doc);
        item.top_type = static_cast<int8_t>(top);
        item.reason = 0;
        if (!keys.empty()) {
          if (top != JsonType::kObject) {
            item.reason = 3;
            item.bad_key = 0;
          } else {
            simdjson::dom::object obj = doc.get_object().value_unsafe();
            for (size_t k = 0; k < keys.size(); ++k) {
              simdjson::dom::element v;
              if (obj.at_key(keys[k].name).get(v) != simdjson::SUCCESS) {
                item.bad_key = static_cast<int32_t>(k);
                item.reason = 1;
                break;
              }
              if (!type_ok(keys[k].type, type_of(v))) {
                item.bad_key = static_cast<int32_t>(k);
                item.reason = 2;
                break;
              }
            }
          }
        }
      }
      out[i] = item;
    }
  });
  return out;
}

}  // namespace airtune::metrics
