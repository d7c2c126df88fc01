#include "io/arrow_json.h"

#include <simdjson.h>

#include <charconv>
#include <cmath>

#include "core/errors.h"
#include "io/json_text.h"

namespace airtune::io {

namespace {

using Kind = JsonColumn::Kind;
using Mode = JsonColumn::Mode;

std::pair<int64_t, int64_t> range_of(const JsonColumn& c, int64_t i) {
  const int64_t k = i + c.offset;
  if (c.offsets64) return {c.offsets64[k], c.offsets64[k + 1]};
  return {c.offsets32[k], c.offsets32[k + 1]};
}

void append_double(std::string& out, double v) {
  if (!std::isfinite(v)) {
    out += "null";
    return;
  }
  char buf[32];
  auto r = std::to_chars(buf, buf + sizeof(buf), v);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  out += s;
  if (s.find_first_of(".eE") == std::string_view::npos) out += ".0";  // stays a float when read back
}

// Splices the members of the JSON object text `obj` ("{...}") into an object being written.
bool splice_object(std::string_view obj, std::string& out, bool first) {
  size_t b = obj.find('{'), e = obj.rfind('}');
  if (b == std::string_view::npos || e == std::string_view::npos || e <= b) return false;
  std::string_view inner = obj.substr(b + 1, e - b - 1);
  if (inner.find_first_not_of(" \t\r\n") == std::string_view::npos) return false;
  if (!first) out.push_back(',');
  out += inner;
  return true;
}

void append_object(const JsonColumn& c, int64_t i, std::string& out) {
  out.push_back('{');
  bool first = true;
  for (size_t f = 0; f < c.children.size(); ++f) {
    const JsonColumn& child = c.children[f];
    const Mode mode = f < c.modes.size() ? c.modes[f] : Mode::kValue;
    const bool valid = child.kind != Kind::kNull && child.is_valid(i);
    if (!valid && mode != Mode::kValue) continue;
    if (mode == Mode::kSplice && child.kind == Kind::kRawJson) {
      auto [b, e] = range_of(child, i);
      if (splice_object(std::string_view(child.data + b, static_cast<size_t>(e - b)), out, first)) first = false;
      continue;
    }
    if (!first) out.push_back(',');
    first = false;
    append_json_string(out, c.names[f]);
    out.push_back(':');
    append_json_value(child, i, out);
  }
  out.push_back('}');
}

}  // namespace

void append_json_value(const JsonColumn& c, int64_t i, std::string& out) {
  if (c.kind == Kind::kNull || !c.is_valid(i)) {
    out += "null";
    return;
  }
  const int64_t k = i + c.offset;
  switch (c.kind) {
    case Kind::kBool: {
      const auto* bits = static_cast<const uint8_t*>(c.values);
      out += ((bits[k >> 3] >> (k & 7)) & 1) ? "true" : "false";
      return;
    }
    case Kind::kInt64: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<const int64_t*>(c.values)[k]);
      out.append(buf, static_cast<size_t>(r.ptr - buf));
      return;
    }
    case Kind::kUInt64: {
      char buf[24];
      auto r = std::to_chars(buf, buf + sizeof(buf), static_cast<const uint64_t*>(c.values)[k]);
      out.append(buf, static_cast<size_t>(r.ptr - buf));
      return;
    }
    case Kind::kFloat64:
      append_double(out, static_cast<const double*>(c.values)[k]);
      return;
    case Kind::kString:
    case Kind::kRawJson: {
      auto [b, e] = range_of(c, i);
      std::string_view s(c.data + b, static_cast<size_t>(e - b));
      if (c.kind == Kind::kString)
        append_json_string(out, s);
      else
        out += s;
      return;
    }
    case Kind::kList: {
      auto [b, e] = range_of(c, i);
      out.push_back('[');
      for (int64_t j = b; j < e; ++j) {
        if (j != b) out.push_back(',');
        append_json_value(c.children.at(0), j, out);
      }
      out.push_back(']');
      return;
    }
    case Kind::kStruct:
      append_object(c, i, out);
      return;
    case Kind::kNull:
      break;
  }
  out += "null";
}

void encode_rows(const JsonColumn& table, int64_t begin, int64_t end, core::StringColumn& out) {
  if (table.kind != Kind::kStruct) throw InvalidArgument("encode_rows: expected a table (struct) column");
  std::string line;
  for (int64_t i = begin; i < end; ++i) {
    line.clear();
    append_object(table, i, line);
    out.push_back(line);
  }
}

core::StringColumn json_array_elements(const std::string& array) {
  simdjson::dom::parser parser;
  simdjson::dom::array items;
  if (parser.parse(array).get(items) != simdjson::SUCCESS)
    throw InvalidArgument("json_array_elements: expected a JSON array");
  core::StringColumn out;
  for (simdjson::dom::element e : items) out.push_back(simdjson::minify(e));
  return out;
}

}  // namespace airtune::io
