#include "io/json_text.h"

#include <cstring>
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

struct Scanner {
  std::string_view s;
  size_t pos = 0;
  std::string reason;

  void skip_ws() {
    while (pos < s.size() && is_ws(s[pos])) ++pos;
  }
  bool fail(std::string why) {
    reason = std::move(why);
    return false;
  }
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
    return true;
  }
  bool literal(std::string_view word) {
    if (s.substr(pos, word.size()) != word) return fail("invalid literal");
    pos += word.size();
    return true;
  }
};

}  // namespace

JsonSyntaxError find_json_syntax_error(std::string_view text) {
  Scanner sc{text, 0, {}};
  std::vector<char> stack;
  enum class State { Value, Key, After } state = State::Value;
  for (;;) {
    sc.skip_ws();
    if (state == State::After && stack.empty()) {
      if (sc.pos != text.size()) return {sc.pos, "unexpected characters after the JSON value"};
      return {text.size(), ""};
    }
    if (sc.pos >= text.size()) return {text.size(), "unexpected end of line"};
    const char c = text[sc.pos];
    if (state == State::Key) {
      if (c != '"') return {sc.pos, "expected a string key"};
      if (!sc.string()) return {sc.pos, sc.reason};
      sc.skip_ws();
      if (sc.pos >= text.size() || text[sc.pos] != ':') return {sc.pos, "expected ':' after object key"};
      ++sc.pos;
      state = State::Value;
      continue;
    }
    if (state == State::After) {
      const char top = stack.back();
      if (c == ',') {
        ++sc.pos;
        state = top == '{' ? State::Key : State::Value;
      } else if ((c == '}' && top == '{') || (c == ']' && top == '[')) {
        ++sc.pos;
        stack.pop_back();
      } else {
        return {sc.pos, top == '{' ? "expected ',' or '}'" : "expected ',' or ']'"};
      }
      continue;
    }
    // State::Value
    if (c == '{' || c == '[') {
      stack.push_back(c);
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
      return {at, "expected a JSON value"};
    if (!ok) return {sc.pos, sc.reason};
    state = State::After;
  }
}

}  // namespace airtune::io
