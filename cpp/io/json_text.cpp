#include "io/json_text.h"

#include <charconv>
#include <cstring>
#include <system_error>
#include <vector>

namespace airtune::io {

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  size_t start = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\') continue;
    out.append(s.data() + start, i - start);
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      default:
        out += "\\u00";
        out.push_back(kHex[c >> 4]);
        out.push_back(kHex[c & 0xF]);
    }
    start = i + 1;
  }
  out.append(s.data() + start, s.size() - start);
  out.push_back('"');
}

namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

unsigned hex4(std::string_view s) {
  unsigned v = 0;
  for (char c : s) v = v * 16 + static_cast<unsigned>(is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10);
  return v;
}

// Integers are read as int64 or uint64; one without a fraction or exponent outside
// [-2^63, 2^64 - 1] is refused (simdjson's rule), as is a float that rounds to infinity.
std::string number_range_error(std::string_view literal) {
  const bool negative = literal[0] == '-';
  const std::string_view digits = literal.substr(negative ? 1 : 0);
  const bool integer = digits.find_first_of(".eE") == std::string_view::npos;
  auto shown = [&] { return literal.size() <= 40 ? std::string(literal) : std::string(literal.substr(0, 37)) + "..."; };
  if (integer) {
    const std::string_view limit = negative ? "9223372036854775808" : "18446744073709551615";
    if (digits.size() < limit.size() || (digits.size() == limit.size() && digits <= limit)) return "";
    return "integer out of range: " + shown() + (negative ? " is below -2^63" : " is above 2^64 - 1");
  }
  double value = 0;
  auto [end, ec] = std::from_chars(literal.data(), literal.data() + literal.size(), value);
  (void)end;
  if (ec != std::errc::result_out_of_range) return "";
  // Out of range is overflow (refused) or underflow (read as 0): tell them by the decimal exponent.
  const size_t e = digits.find_first_of("eE");
  const std::string_view mantissa = digits.substr(0, e);
  long long exponent = 0;
  if (e != std::string_view::npos) {
    std::string_view ex = digits.substr(e + 1);
    const bool neg = !ex.empty() && ex[0] == '-';
    if (!ex.empty() && (ex[0] == '-' || ex[0] == '+')) ex.remove_prefix(1);
    for (char c : ex) {
      exponent = exponent * 10 + (c - '0');
      if (exponent > (1LL << 40)) break;
    }
    if (neg) exponent = -exponent;
  }
  const size_t dot = mantissa.find('.');
  const std::string_view whole = mantissa.substr(0, dot);
  long long magnitude;  // decimal exponent of the first significant digit
  const size_t first = whole.find_first_not_of('0');
  if (first != std::string_view::npos) {
    magnitude = static_cast<long long>(whole.size() - first) - 1;
  } else {
    const std::string_view frac = dot == std::string_view::npos ? std::string_view() : mantissa.substr(dot + 1);
    const size_t nz = frac.find_first_not_of('0');
    if (nz == std::string_view::npos) return "";  // zero
    magnitude = -static_cast<long long>(nz) - 1;
  }
  if (magnitude + exponent <= 0) return "";  // underflow: read as 0 or a subnormal
  return "number out of range: " + shown() + " is beyond a 64-bit float";
}

struct Level {
  char kind;             // '{' or '['
  std::string_view key;  // current key (objects)
  size_t index = 0;      // current element (arrays)
};

struct Scanner {
  std::string_view s;
  size_t pos = 0;
  size_t error_at = 0;
  std::string reason;

  void skip_ws() {
    while (pos < s.size() && is_ws(s[pos])) ++pos;
  }
  bool fail(std::string why, size_t at) {
    reason = std::move(why);
    error_at = at;
    return false;
  }
  bool fail(std::string why) { return fail(std::move(why), pos); }
  bool string() {  // at '"'
    ++pos;
    while (pos < s.size()) {
      const unsigned char c = static_cast<unsigned char>(s[pos]);
      if (c == '"') {
        ++pos;
        return true;
      }
      if (c < 0x20) return fail("control character in string");
      if (c == '\\') {
        if (pos + 1 >= s.size()) break;
        const char e = s[pos + 1];
        if (e == 'u') {
          for (size_t k = 2; k < 6; ++k)
            if (pos + k >= s.size() || !is_hex(s[pos + k])) return fail("invalid \\u escape");
          const unsigned cp = hex4(s.substr(pos + 2, 4));
          if (cp >= 0xDC00 && cp <= 0xDFFF)
            return fail("lone surrogate \\u" + std::string(s.substr(pos + 2, 4)) +
                        " (a low surrogate without a high one)");
          if (cp >= 0xD800 && cp <= 0xDBFF) {
            const bool pair = pos + 12 <= s.size() && s[pos + 6] == '\\' && s[pos + 7] == 'u' && is_hex(s[pos + 8]) &&
                              is_hex(s[pos + 9]) && is_hex(s[pos + 10]) && is_hex(s[pos + 11]);
            const unsigned low = pair ? hex4(s.substr(pos + 8, 4)) : 0;
            if (!pair || low < 0xDC00 || low > 0xDFFF)
              return fail("lone surrogate \\u" + std::string(s.substr(pos + 2, 4)) +
                          " (a high surrogate not followed by a low one)");
            pos += 12;
            continue;
          }
          pos += 6;
          continue;
        }
        if (!std::strchr("\"\\/bfnrt", e) || e == '\0') return fail("invalid escape in string");
        pos += 2;
        continue;
      }
      ++pos;
    }
    return fail("unterminated string");
  }
  bool number() {
    const size_t start = pos;
    if (s[pos] == '-') ++pos;
    if (pos >= s.size() || !is_digit(s[pos])) return fail("invalid number");
    if (s[pos] == '0')
      ++pos;
    else
      while (pos < s.size() && is_digit(s[pos])) ++pos;
    if (pos < s.size() && s[pos] == '.') {
      ++pos;
      if (pos >= s.size() || !is_digit(s[pos])) return fail("invalid number");
      while (pos < s.size() && is_digit(s[pos])) ++pos;
    }
    if (pos < s.size() && (s[pos] == 'e' || s[pos] == 'E')) {
      ++pos;
      if (pos < s.size() && (s[pos] == '+' || s[pos] == '-')) ++pos;
      if (pos >= s.size() || !is_digit(s[pos])) return fail("invalid number");
      while (pos < s.size() && is_digit(s[pos])) ++pos;
    }
    std::string range = number_range_error(s.substr(start, pos - start));
    if (!range.empty()) return fail(std::move(range), start);
    return true;
  }
  bool literal(std::string_view word) {
    if (s.substr(pos, word.size()) != word) return fail("invalid literal");
    pos += word.size();
    return true;
  }
};

std::string path_of(const std::vector<Level>& stack, bool in_key) {
  std::string path;
  const size_t n = in_key && !stack.empty() ? stack.size() - 1 : stack.size();
  for (size_t i = 0; i < n; ++i) {
    const Level& l = stack[i];
    if (l.kind == '[') {
      ((path += '[') += std::to_string(l.index)) += ']';
    } else {
      if (!path.empty()) path.push_back('.');
      path.append(l.key);
    }
  }
  return path;
}

}  // namespace

JsonTextError find_json_error(std::string_view text) {
  Scanner sc{text, 0, 0, {}};
  std::vector<Level> stack;
  enum class State { Value, Key, After } state = State::Value;
  auto error = [&](size_t at, std::string reason, bool in_key = false) {
    return JsonTextError{at, path_of(stack, in_key), std::move(reason)};
  };
  for (;;) {
    sc.skip_ws();
    if (state == State::After && stack.empty()) {
      if (sc.pos != text.size()) return error(sc.pos, "unexpected characters after the JSON value");
      return {text.size(), "", ""};
    }
    if (sc.pos >= text.size()) return error(text.size(), "unexpected end of line");
    const char c = text[sc.pos];
    if (state == State::Key) {
      if (c != '"') return error(sc.pos, "expected a string key", true);
      const size_t start = sc.pos;
      if (!sc.string()) return error(sc.error_at, sc.reason + " (in an object key)", true);
      stack.back().key = text.substr(start + 1, sc.pos - start - 2);
      sc.skip_ws();
      if (sc.pos >= text.size() || text[sc.pos] != ':') return error(sc.pos, "expected ':' after object key");
      ++sc.pos;
      state = State::Value;
      continue;
    }
    if (state == State::After) {
      Level& top = stack.back();
      if (c == ',') {
        ++sc.pos;
        if (top.kind == '[') ++top.index;
        state = top.kind == '{' ? State::Key : State::Value;
      } else if ((c == '}' && top.kind == '{') || (c == ']' && top.kind == '[')) {
        ++sc.pos;
        stack.pop_back();
      } else {
        return error(sc.pos, top.kind == '{' ? "expected ',' or '}'" : "expected ',' or ']'");
      }
      continue;
    }
    // State::Value
    if (c == '{' || c == '[') {
      stack.push_back({c, {}, 0});
      ++sc.pos;
      sc.skip_ws();
      if (sc.pos < text.size() && text[sc.pos] == (c == '{' ? '}' : ']')) {
        ++sc.pos;
        stack.pop_back();
        state = State::After;
      } else {
        state = c == '{' ? State::Key : State::Value;
      }
      continue;
    }
    bool ok;
    const size_t at = sc.pos;
    if (c == '"')
      ok = sc.string();
    else if (c == '-' || is_digit(c))
      ok = sc.number();
    else if (c == 't')
      ok = sc.literal("true");
    else if (c == 'f')
      ok = sc.literal("false");
    else if (c == 'n')
      ok = sc.literal("null");
    else
      return error(at, "expected a JSON value");
    if (!ok) return error(sc.error_at, sc.reason);
    state = State::After;
  }
}

namespace {

// Offset just past the string whose opening quote is at `pos` in valid JSON `s`.
size_t skip_json_string(std::string_view s, size_t pos) noexcept {
  for (++pos; pos < s.size(); ++pos) {
    if (s[pos] == '\\')
      ++pos;
    else if (s[pos] == '"')
      return pos + 1;
  }
  return s.size();
}

}  // namespace

std::vector<std::string_view> top_level_keys(std::string_view s) {
  // `s` is valid JSON written by the reader: strings are the only place where brackets do not
  // count, so depth tracking with string skipping is enough.
  std::vector<std::string_view> keys;
  int depth = 0;
  bool expect_key = false;
  for (size_t pos = 0; pos < s.size();) {
    const char c = s[pos];
    if (c == '"') {
      const size_t end = skip_json_string(s, pos);
      if (depth == 1 && expect_key) keys.push_back(s.substr(pos + 1, end - pos - 2));
      expect_key = false;
      pos = end;
      continue;
    }
    if (c == '{' || c == '[') {
      ++depth;
      expect_key = depth == 1 && c == '{';
    } else if (c == '}' || c == ']') {
      --depth;
    } else if (c == ',' && depth == 1) {
      expect_key = true;
    }
    ++pos;
  }
  return keys;
}

}  // namespace airtune::io
