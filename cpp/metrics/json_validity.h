// JSON validity of model outputs (simdjson): strict (the whole text is one RFC 8259 document),
// lenient (after removing a ``` / ```json fence, or the first balanced {...} / [...] span), and
// required top-level keys with types.
//
// Per item: status 0 = strict valid, 1 = valid only leniently, 2 = invalid; the top-level type;
// and for the schema check the index of the first failing required key (-1 when all pass) with the
// reason (1 missing, 2 wrong type, 3 the document is not an object). The schema is checked on the
// strict document, else the lenient one. Known limit: integers beyond 64 bits count as invalid.
// Thread safety: reentrant (one parser per task); runs in the core arena.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace airtune::metrics {

enum class JsonType : int8_t { kNone = 0, kObject, kArray, kString, kInteger, kNumber, kBoolean, kNull, kAny };

/// Parses "object", "array", "string", "integer", "number", "boolean", "null", "any".
JsonType parse_json_type(std::string_view name);

struct JsonKey {
  std::string name;
  JsonType type = JsonType::kAny;
};

struct JsonItem {
  int8_t status;    // 0 strict, 1 lenient, 2 invalid
  int8_t top_type;  // JsonType of the document, kNone when invalid
  int32_t bad_key;  // first failing required key, -1 if none
  int8_t reason;    // 0 ok, 1 missing, 2 wrong type, 3 not an object, 4 invalid document
};

std::vector<JsonItem> json_validity(const std::vector<std::string_view>& texts, const std::vector<JsonKey>& keys);

/// The lenient candidate span of a text (fence body or first balanced block), or the text itself.
std::string_view json_lenient_span(std::string_view text);

}  // namespace airtune::metrics
